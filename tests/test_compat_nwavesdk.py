"""The original SDK's namespace (nwave_core.compat.nwavesdk): an SDK-style script runs with only
its imports changed; the SDK-only names compute what they say; nwave's own layers refuse the
SDK's `spk, mem = layer(cur)` and name the forgotten prepare_net."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest
import torch
from torch import nn

import nwave_core
from nwave_core import prepare_net
from nwave_core.compat import nwavesdk
from nwave_core.compat.nwavesdk import layers as sdk_layers
from nwave_core.compat.nwavesdk.loss import balanced_population_mse, weight_magnitude_loss
from nwave_core.compat.nwavesdk.metrics import get_chip_consumption
from nwave_core.guards import StaleStateError
from nwave_core.metrics import estimate_energy
from nwave_plugins import layers as nwave_layers

# An H1v2 script in the style of the SDK's tutorials, as the SDK documents its names. The test
# changes only its import lines ("nwavesdk" -> "nwave_core.compat.nwavesdk").
SDK_SCRIPT = '''
import torch
from torch import nn

from nwavesdk.layers import H1v2Frontend, H1v2Layer, H1v2Synapse, prepare_net
from nwavesdk.loss import balanced_population_mse, topology_loss, weight_magnitude_loss
from nwavesdk.metrics import accuracy_population, get_chip_consumption
from nwavesdk.optim import SignAnnealing, SurrogateScheduler
from nwavesdk.surrogate import fast_sigmoid


class MySNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fe = H1v2Frontend(taus=20e-3, dt=1e-3)
        self.syn1 = H1v2Synapse(16, 50)
        self.lif1 = H1v2Layer(50, taus=20e-3, dt=1e-3, layer_topology="RC",
                              spike_grad=fast_sigmoid())
        self.syn2 = H1v2Synapse(50, 20)
        self.lif2 = H1v2Layer(20, taus=20e-3, dt=1e-3, spike_grad=fast_sigmoid())

    def forward(self, x):
        spk_rec, mem_rec = [], []
        for t in range(x.shape[1]):
            spk0, _ = self.fe(x[:, t])
            spk1, mem1 = self.lif1(self.syn1(spk0))
            spk2, mem2 = self.lif2(self.syn2(spk1))
            spk_rec.append(spk2)
            mem_rec.append(mem2)
        return torch.stack(spk_rec, dim=1), torch.stack(mem_rec, dim=1)


torch.manual_seed(0)
net = MySNN()
epochs = 3
sign_annealer = SignAnnealing(net, total_epochs=epochs, alpha_start=0.5, alpha_end=20.0)
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
surrogate_sched = SurrogateScheduler(target=net, policy="cosine", start_value=10.0,
                                     end_value=30.0, total_steps=epochs, min_value=5.0,
                                     max_value=40.0)
x = torch.rand(8, 30, 16) * 3
y = torch.arange(8) % 2
losses = []
for ep in range(1, epochs + 1):
    sign_annealer.step(net, ep)
    current_surrogate_value = surrogate_sched.step(ep - 1)
    prepare_net(net)
    spk, mem = net(x)
    loss = balanced_population_mse(spk, y, num_classes=2)
    loss = loss + weight_magnitude_loss(net) + topology_loss(net)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
acc = accuracy_population(spk, y, num_classes=2)
power = get_chip_consumption(net, x)
'''


def test_an_sdk_script_runs_with_only_its_imports_changed():
    script = SDK_SCRIPT.replace("from nwavesdk.", "from nwave_core.compat.nwavesdk.")
    assert [a for a in script.splitlines() if "nwave_core" not in a] == \
        [b for b in SDK_SCRIPT.splitlines() if "nwavesdk" not in b]
    namespace: dict = {}
    exec(compile(script, "sdk_script", "exec"), namespace)
    spk, losses = namespace["spk"], namespace["losses"]
    assert spk.shape == (8, 30, 20) and len(losses) == 3 and all(map(math.isfinite, losses))
    # cosine from 10 to 30 over 3 steps, at step 2: 30 + (10 - 30) (1 + cos(2 pi / 3)) / 2
    assert namespace["current_surrogate_value"] == pytest.approx(25.0)
    assert namespace["net"].lif1.spike_grad.slope.item() == pytest.approx(25.0)
    assert 0.0 <= namespace["acc"] <= 1.0 and namespace["power"] >= 0.0


def test_sdk_layers_step_equals_nwave_sequence():
    torch.manual_seed(0)
    ours = nn.Sequential(nwave_layers.LIFSynapse(4, 6), nwave_layers.LIFLayer(6, layer_topology="RC"))
    sdk = sdk_layers.LIFLayer(6, layer_topology="RC")
    sdk.load_state_dict(ours[1].state_dict())
    x = torch.rand(3, 20, 4)
    prepare_net(ours)
    expected = ours(x)
    steps = [sdk(ours[0](x[:, t])) for t in range(20)]
    assert all(isinstance(s, tuple) and len(s) == 2 for s in steps)
    assert torch.equal(torch.stack([s for s, _ in steps], 1), expected)
    spk, mem = sdk_layers.LIFLayer(6)(torch.rand(2, 7, 6))  # a sequence: (spk, mem) as well
    assert spk.shape == mem.shape == (2, 7, 6)


def test_old_names_and_module_layout():
    assert sdk_layers.HWLayer is sdk_layers.H1v1Layer and sdk_layers.Frontend is sdk_layers.H1v1Frontend
    assert sdk_layers.HWSynapse is nwave_layers.H1v1Synapse
    assert issubclass(sdk_layers.H1v2Layer, nwave_layers.H1v2Layer)
    assert nwavesdk.optim.SignAnnealing is nwavesdk.schedulers.SignAnnealing
    assert nwavesdk.surrogate.atan is __import__("nwave_plugins.surrogates").surrogates.atan
    hw = sdk_layers.HWLayer(n_neurons=64, taus=20e-3, dt=1e-3,
                            spike_grad=nwavesdk.surrogate.fast_sigmoid())
    assert hw.chip.name == "h1v1" and len(hw(torch.zeros(2, 64))) == 2


def test_balanced_population_mse_is_per_neuron_spike_count_mse():
    spk = torch.zeros(2, 10, 4)
    spk[0, :6, 0] = 1       # sample 0, class 0 population = neurons 0, 1
    spk[1, :3, 1] = 1       # sample 1, class 1 population = neurons 2, 3: neuron 1 is "off"
    y = torch.tensor([0, 1])
    # counts: s0 = [6, 0, 0, 0], s1 = [0, 3, 0, 0]; on target 10 * 0.5 = 5, off target 0
    on = [(6 - 5) ** 2, (0 - 5) ** 2, (0 - 5) ** 2, (0 - 5) ** 2]
    off = [0, 0, 0, 3 ** 2]                    # s0: neurons 2, 3; s1: neurons 0, 1
    expected = (np.mean(on) + np.mean(off)) / 2
    assert balanced_population_mse(spk, y, 2, on_rate=0.5).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="cannot be split into 3"):
        balanced_population_mse(spk, y, 3)


def test_weight_magnitude_loss_default_limit():
    net = nn.Sequential(nwave_layers.LIFSynapse(2, 3))
    with torch.no_grad():
        net[0].weight.fill_(2.0)
    limit = nwave_core.create("chip", "h1v2").weight_limit            # no chip layers: H1v2's
    assert weight_magnitude_loss(net).item() == pytest.approx((2.0 - limit) ** 2)
    chip_net = nn.Sequential(nwave_layers.H1v1Synapse(2, 3))
    with torch.no_grad():
        chip_net[0].weight.fill_(2.0)
    h1v1 = chip_net[0].chip.weight_limit                              # chip layers: their chip's
    assert weight_magnitude_loss(chip_net).item() == pytest.approx((2.0 - h1v1) ** 2)
    assert weight_magnitude_loss(net, limit=1.5).item() == pytest.approx(0.25)


def test_get_chip_consumption_is_average_power():
    torch.manual_seed(0)
    net = nn.Sequential(nwave_layers.H1v2Synapse(16, 10), nwave_layers.H1v2Layer(10, dt=2e-3))
    x = torch.rand(4, 25, 16) * 4
    energy = estimate_energy(net, x)
    assert energy.joules > 0
    assert get_chip_consumption(net, x) == pytest.approx(energy.joules / (25 * 2e-3))
    with pytest.raises(ValueError, match="pass dt="):
        get_chip_consumption(nn.Sequential(nwave_layers.H1v2Synapse(16, 10)), x)


# -- the data generator --------------------------------------------------------------------------


def _wav(path, freq, seconds=0.3, rate=8000):
    t = np.arange(int(seconds * rate)) / rate
    data = (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(data.tobytes())


def test_datagen_classification_loaders(tmp_path):
    for name, freq in (("no", 300), ("yes", 1200)):
        for i in range(10):
            _wav(tmp_path / name / f"{i}.wav", freq + 10 * i)
    config = nwavesdk.NWaveDataloaderConfig(data_dir=tmp_path, duration=0.25, sample_rate=8000,
                                            fmax=3500, bin_s=0.01, batch_size=4,
                                            val_fraction=0.2, test_fraction=0.2)
    gen = nwavesdk.NWaveDataGen(config)
    train, val, test = gen.get_dataloaders()
    sizes = [len(loader.dataset) for loader in (train, val, test)]
    assert sizes == [12, 4, 4] and gen.classes == ["no", "yes"]
    for loader in (train, val, test):
        assert sorted(loader.dataset.tensors[1].tolist()).count(0) * 2 == len(loader.dataset)
    x, y = next(iter(gen.train_loader))
    assert x.shape == (4, 25, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    again = nwavesdk.NWaveDataGen(config).datasets()
    assert all(torch.equal(a.tensors[0], b.tensors[0]) for a, b in zip(gen.datasets(), again, strict=True))


def test_datagen_regression_format(tmp_path):
    lines = ["file,pitch,loudness"]
    for i in range(10):
        _wav(tmp_path / "clips" / f"{i}.wav", 200 + 100 * i)
        lines.append(f"clips/{i}.wav,{200 + 100 * i},{i / 10}")
    (tmp_path / "targets.csv").write_text("\n".join(lines) + "\n")
    gen = nwavesdk.NWaveDataGen(data_dir=tmp_path, format="regression", duration=0.2,
                                sample_rate=8000, fmax=3500, batch_size=3, val_fraction=0.2,
                                test_fraction=0.3)
    train, val, test = gen.datasets()
    assert [len(d) for d in (train, val, test)] == [5, 2, 3]
    targets = torch.cat([d.tensors[1] for d in (train, val, test)])
    assert targets.shape == (10, 2) and targets.dtype == torch.float32
    assert sorted(targets[:, 0].tolist()) == [200.0 + 100 * i for i in range(10)]
    (tmp_path / "targets.csv").write_text("file,pitch\nclips/missing.wav,1\n")
    with pytest.raises(nwave_core.data.DataError, match="line 2: no such file"):
        nwavesdk.NWaveDataGen(data_dir=tmp_path, format="regression").datasets()
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction must be < 1"):
        nwavesdk.NWaveDataloaderConfig(data_dir=tmp_path, val_fraction=0.5, test_fraction=0.5)


# -- nwave's own layers: no silent SDK-style unpack, no late autograd error ----------------------


def test_sdk_style_unpack_of_an_nwave_layer_raises():
    layer = nwave_layers.LIFLayer(3)
    with pytest.raises(TypeError, match=r"spk, mem = layer\(x, return_mem=True\)"):
        spk, mem = layer(torch.rand(2, 3))                   # batch 2: rows would be split
    assert layer.mem is None                                 # refused before running
    spk, mem = layer(torch.rand(2, 3), return_mem=True)
    assert spk.shape == mem.shape == (2, 3)
    out = layer(torch.rand(2, 3))                            # a name, then unpacked: allowed
    first, second = out
    net = nn.Sequential(nwave_layers.LIFSynapse(3, 3), nwave_layers.LIFLayer(3))
    single = net(torch.rand(2, 3))                           # inside Sequential: not checked
    assert single.shape == (2, 3)


def test_forgetting_prepare_net_names_the_fix():
    net = nn.Sequential(nwave_layers.LIFSynapse(3, 4), nwave_layers.LIFLayer(4))
    for per_step in (False, True):
        prepare_net(net)
        x = torch.rand(2, 6, 3)
        out = torch.stack([net(x[:, t]) for t in range(6)], 1) if per_step else net(x)
        out.sum().backward()
        with pytest.raises(StaleStateError, match=r"call nwave_core.prepare_net\(model\) before "
                                                  r"each batch"):
            net(x)
        prepare_net(net)
        net(x).sum().backward()                              # with prepare_net: fine
    with torch.no_grad():                                    # no graph kept: nothing to detect
        net(x)
        net(x)
