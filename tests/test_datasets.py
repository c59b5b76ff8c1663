"""The dataset registry, third-party datasets from a config, the Speech Commands layout, peak
normalisation, dt following the data's bin, and the read-outs chosen in the config."""

from __future__ import annotations

import math
import types
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import nwave_core
from nwave_core import Entry, build, hookimpl
from nwave_core.config import parse_config
from nwave_core.config import LOSSES, ConfigError
from nwave_core.data import (
    DataError,
    DataSplits,
    data_bin_s,
    filter_bank,
    make_dataset,
    speech_commands,
    split_dataset,
)
from nwave_core.losses import READOUTS, balanced_population_mse, readout_loss, readout_scores


def lif_config(**changes):
    raw = {
        "model": {"layers": [{"type": "LIFSynapse", "nb_inputs": 16, "nb_outputs": 8},
                             {"type": "LIFLayer", "n_neurons": 8},
                             {"type": "LIFSynapse", "nb_inputs": 8, "nb_outputs": 2},
                             {"type": "LIFLayer", "n_neurons": 2}]},
        "data": {"type": "audio_like", "n_samples": 16, "n_classes": 2, "duration": 0.1,
                 "batch_size": 8},
        "train": {"epochs": 1, "progress": False},
    }
    raw.update(changes)
    return raw


# -- the registry -------------------------------------------------------------------------------


def test_builtin_datasets_are_registered_by_the_builtin_plugin():
    reg = nwave_core.registry("dataset")
    for name in ("poisson_patterns", "audio_like", "wav_folder", "speech_commands",
                 "spoken_words"):
        assert reg.get(name).provider.plugin == "nwave.datasets", name
    params = {p.name: p.default for p in reg.describe("spoken_words").params}
    assert params["words"] == "commands" and params["dynamic_range_db"] == 40.0


def _third_party(calls):
    def stripes(n_samples: int = 12, n_steps: int = 5, seed: int = 0) -> DataSplits:
        """Stripes.

        Args:
            n_samples: clips per split.
            n_steps: time steps.
            seed: seed.
        """
        calls.append(seed)
        g = torch.Generator().manual_seed(seed)
        y = torch.arange(n_samples) % 2
        x = torch.rand(n_samples, n_steps, 16, generator=g)
        return DataSplits(TensorDataset(x, y), TensorDataset(x[:4], y[:4]), None, ["a", "b"])

    @hookimpl
    def nwave_datasets():
        return [Entry("stripes", stripes, summary="two classes of noise")]

    return types.SimpleNamespace(nwave_datasets=nwave_datasets)


def test_a_third_party_dataset_trains_from_a_config(tmp_path):
    from nwave_core.runner import train

    calls = []
    nwave_core.register_plugin(_third_party(calls), "stripes-plugin")
    raw = lif_config(data={"type": "stripes", "n_samples": 10, "batch_size": 5}, seed=3)
    exp = build(parse_config(raw))
    assert calls and set(calls) == {3}  # the config's seed reaches a dataset that takes one
    assert len(exp.train_data) == 10 and len(exp.test_data) == 4  # its own split, kept
    assert "stripes" in nwave_core.data.DATASETS
    result = train(exp, tmp_path)
    assert len(result.history) == 1
    with pytest.raises(ConfigError, match=r"dataset 'stripes' has no parameter 'n_sample'\. "
                                          r"Did you mean 'n_samples'\?"):
        parse_config(lif_config(data={"type": "stripes", "n_sample": 10}))


def test_an_unknown_dataset_in_a_config_gets_suggestions():
    with pytest.raises(ConfigError, match=r"unknown dataset 'audio_lik'\. Did you mean "
                                          r"'audio_like'\? Available: .* @ \$\.data\.type"):
        parse_config(lif_config(data={"type": "audio_lik"}))


def test_split_dataset_keeps_given_splits_and_splits_plain_datasets():
    given = DataSplits([1], [2], [3])
    assert split_dataset(given, 0.5) is given
    made = split_dataset(make_dataset("poisson_patterns", n_samples=20, n_steps=2), 0.2, seed=0)
    assert len(made.train) == 16 and len(made.test) == 4 and made.val is None
    assert made.classes == ["pattern_0", "pattern_1"]


# -- Speech Commands layout ---------------------------------------------------------------------


def _write(path: Path, freq: float, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(rate // 2) / rate
    ints = np.round(0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(ints.tobytes())


def _speech_commands_root(root: Path, speakers: int = 12) -> Path:
    for word, freq in (("yes", 440.0), ("no", 1500.0)):
        for s in range(speakers):
            for n in range(2):
                _write(root / word / f"spk{s:03d}_nohash_{n}.wav", freq)
    _write(root / "_background_noise_" / "noise.wav", 3000.0)
    return root


def test_speech_commands_splits_by_speaker(tmp_path):
    root = _speech_commands_root(tmp_path / "sc")
    splits = speech_commands(root, duration=0.5, val_percent=25, test_percent=25)
    assert splits.classes == ["no", "yes"]  # _background_noise_ is not a word
    sizes = [len(splits.train), len(splits.val), len(splits.test)]
    assert sum(sizes) == 2 * 12 * 2 and all(size > 0 for size in sizes)
    assert splits.train.tensors[0].shape[1:] == (50, 16)
    again = speech_commands(root, duration=0.5, val_percent=25, test_percent=25)
    assert torch.equal(again.test.tensors[0], splits.test.tensors[0])
    # a speaker's two clips are identical here, so a speaker is in one split iff both are
    for part in (splits.train, splits.val, splits.test):
        assert len(part) % 2 == 0


def test_speech_commands_uses_the_list_files(tmp_path):
    root = _speech_commands_root(tmp_path / "sc", speakers=3)
    (root / "validation_list.txt").write_text("yes/spk000_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("no/spk001_nohash_0.wav\nno/spk001_nohash_1.wav\n")
    splits = speech_commands(root, words=["yes", "no"], duration=0.5)
    assert splits.classes == ["yes", "no"]
    assert len(splits.val) == 1 and splits.val.tensors[1].tolist() == [0]
    assert len(splits.test) == 2 and splits.test.tensors[1].tolist() == [1, 1]
    assert len(splits.train) == 12 - 3


def test_speech_commands_errors(tmp_path):
    root = _speech_commands_root(tmp_path / "sc", speakers=1)
    with pytest.raises(DataError, match=r"has no class folder 'maybe'; it has: "):
        speech_commands(root, words=["yes", "maybe"], duration=0.5)
    with pytest.raises(DataError, match="sum of at most 100"):
        speech_commands(root, val_percent=60, test_percent=50)
    with pytest.raises(DataError, match="does not exist"):
        speech_commands(tmp_path / "nowhere")


def test_speech_commands_from_a_config(tmp_path):
    root = _speech_commands_root(tmp_path / "sc", speakers=8)
    raw = lif_config(data={"type": "speech_commands", "root": str(root), "duration": 0.5,
                           "batch_size": 8})
    exp = build(parse_config(raw))
    assert exp.val_data is not None
    assert len(exp.train_data) + len(exp.test_data) + len(exp.val_data) == 32


# -- filter bank: peak normalisation -----------------------------------------------------------


def test_peak_normalisation_makes_features_level_free():
    t = np.arange(8000) / 16000
    loud = np.sin(2 * np.pi * 440 * t) * np.r_[np.ones(4000), np.zeros(4000)]
    loud = loud + 1e-3 * np.random.default_rng(0).standard_normal(8000)
    clips = torch.tensor(np.stack([loud, 0.01 * loud]), dtype=torch.float32)
    fixed = filter_bank(clips, 16000)
    assert fixed[0].max() > fixed[1].max() + 0.2  # the fixed dBFS scale sees the level
    rel = filter_bank(clips, 16000, peak_normalize=True, dynamic_range_db=40.0)
    assert torch.allclose(rel[0], rel[1], atol=1e-4)  # level does not matter
    assert rel[0].amax().item() == pytest.approx(1.0)
    power = filter_bank(clips, 16000, scale="power")
    db = 10 * torch.log10(power / power.amax(dim=(1, 2), keepdim=True) + 1e-30)
    assert torch.allclose(rel, (1 + db / 40).clamp(0, 1), atol=1e-5)  # the formula
    silent = filter_bank(torch.zeros(2, 1600), 16000, peak_normalize=True)
    assert torch.equal(silent, torch.zeros(2, 10, 16))
    rel_power = filter_bank(clips, 16000, scale="power", peak_normalize=True)
    assert rel_power.amax(dim=(1, 2)).tolist() == pytest.approx([1.0, 1.0])


# -- dt follows the data's bin --------------------------------------------------------------------


def test_layers_step_at_the_data_bin_unless_dt_is_set():
    exp = build(parse_config(lif_config()))
    assert [m.dt for m in exp.model if hasattr(m, "dt")] == [0.01, 0.01]
    raw = lif_config()
    raw["data"]["bin_s"] = 0.005
    raw["model"]["layers"][3]["dt"] = 0.002
    exp = build(parse_config(raw))
    assert [m.dt for m in exp.model if hasattr(m, "dt")] == [0.005, 0.002]
    assert data_bin_s("poisson_patterns", {}) is None  # steps without a duration: layer default
    assert data_bin_s("audio_like", {}) == 0.01 and data_bin_s("spoken_words", {}) == 0.01


def test_the_written_config_holds_the_dt_the_run_used(tmp_path):
    from nwave_core.config import fill_config

    filled = fill_config(parse_config(lif_config()))
    assert [layer.params.get("dt") for layer in filled.model.layers] == [None, 0.01, None, 0.01]


# -- read-outs ----------------------------------------------------------------------------------


def test_readouts_are_the_losses_a_config_names():
    assert READOUTS == LOSSES


def test_readout_formulas():
    spikes = torch.zeros(2, 4, 4)
    spikes[0, :3, 1] = 1
    spikes[1, :, 2] = 1
    mem = torch.randn(2, 4, 4)
    y = torch.tensor([1, 2])
    ce = torch.nn.functional.cross_entropy
    assert readout_loss("spike_count", spikes, y, scale=0.2) == pytest.approx(
        ce(spikes.sum(1) * 0.2, y).item())
    assert readout_loss("cross_entropy", spikes, y) == pytest.approx(ce(spikes.sum(1), y).item())
    assert readout_loss("membrane_max", spikes, y, mem, scale=2.0) == pytest.approx(
        ce(mem.max(1).values * 2.0, y).item())
    assert readout_loss("membrane_mean", spikes, y, mem) == pytest.approx(
        ce(mem.mean(1), y).item())
    assert readout_loss("population_mse", spikes, torch.tensor([0, 1]), num_classes=2) == \
        pytest.approx(balanced_population_mse(spikes, torch.tensor([0, 1]), 2).item())
    assert readout_scores("population_mse", spikes, num_classes=2).tolist() == [[3, 0], [0, 4]]
    with pytest.raises(ValueError, match="needs the output layer's membrane"):
        readout_loss("membrane_max", spikes, y)
    with pytest.raises(ValueError, match=r"unknown read-out 'membrane'\. Did you mean"):
        readout_scores("membrane", spikes, mem)


@pytest.mark.parametrize("loss", ["spike_count", "membrane_max", "membrane_mean"])
def test_each_readout_trains_from_a_config(loss, tmp_path):
    from nwave_core.runner import train

    raw = lif_config(train={"epochs": 1, "progress": False, "loss": loss, "loss_scale": 0.5})
    result = train(build(parse_config(raw)), tmp_path)
    row = result.history[0]
    assert math.isfinite(row["loss"]) and 0.0 <= row["test_accuracy"] <= 1.0


def test_loss_scale_must_be_positive():
    with pytest.raises(ConfigError, match=r"must be > 0, got 0\.0 @ \$\.train\.loss_scale"):
        parse_config(lif_config(train={"loss_scale": 0.0}))


def test_the_speaker_hash_splits_by_the_given_percentages():
    from nwave_core.data.wav import _which_split

    speakers = [f"{i:08x}" for i in range(3000)]
    parts = [_which_split(f"yes/{s}_nohash_0.wav", 10.0, 20.0) for s in speakers]
    assert abs(parts.count("val") / 3000 - 0.10) < 0.02
    assert abs(parts.count("test") / 3000 - 0.20) < 0.02
    for s, part in zip(speakers[:50], parts[:50], strict=True):  # every clip of a speaker
        assert _which_split(f"no/{s}_nohash_3.wav", 10.0, 20.0) == part


def test_evaluating_another_model_reads_that_models_membrane():
    import copy

    from nwave_core.metrics import decisions
    from nwave_core.neurons import prepare_net
    from nwave_core.runner import evaluate

    raw = lif_config(train={"epochs": 1, "progress": False, "loss": "membrane_mean"})
    exp = build(parse_config(raw))
    other = copy.deepcopy(exp.model)
    with torch.no_grad():
        other[0].weight.fill_(0.5)
        other[2].weight.copy_(torch.linspace(-2.0, 2.0, 16).reshape(8, 2))
    x, y = next(iter(exp.test_loader()))
    prepare_net(other)
    with torch.no_grad():
        other(x)
        exp.model(x)  # leaves a different membrane in the experiment's own model
    scores = other[3].mem.mean(1)
    assert not torch.allclose(scores, exp.model[3].mem.mean(1))
    expected_loss = torch.nn.functional.cross_entropy(scores, y).item()
    loss, acc = evaluate(exp, other)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert acc == pytest.approx(decisions(scores, y).accuracy)
