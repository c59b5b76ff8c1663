"""nwave_core.data: synthetic datasets, the chip-like filter bank, WAV folders, names, splits."""

from __future__ import annotations

import inspect
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from nwave_core import data
from nwave_core.data import (
    AUDIO_CLASSES,
    DATASETS,
    DataError,
    WavFolder,
    audio_like,
    filter_bank,
    make_dataset,
    num_bins,
    poisson_patterns,
    read_wav,
    resample,
    train_test_split,
)

SR = 16000


def band_of(freq: float, n_bands: int = 16, fmin: float = 100.0, fmax: float = 6000.0) -> int:
    """The band whose log-spaced edges contain ``freq`` (computed independently of data.py)."""
    position = np.log(freq / fmin) / np.log(fmax / fmin) * n_bands
    assert 0 <= position < n_bands
    assert min(position % 1, 1 - position % 1) > 0.05, "test frequency too close to a band edge"
    return int(position)


def tone(freq: float, seconds: float, rate: int = SR, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(round(seconds * rate))) / rate)


def write_wav(path: Path, samples: np.ndarray, rate: int, width: int = 2) -> Path:
    """Write float samples in [-1, 1] (``[S]`` mono or ``[S, channels]``) as integer PCM."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    if width == 1:
        raw = np.clip(np.round(samples * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    else:
        scale = 2 ** (8 * width - 1) - 1
        ints = np.round(np.clip(samples, -1, 1) * scale).astype(np.int64)
        if width == 3:
            b = (ints & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
            raw = b.tobytes()
        else:
            raw = ints.astype("<i2" if width == 2 else "<i4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(samples.shape[1])
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(raw)
    return path


def write_float_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """An IEEE-float WAV (format 3), which the wave module cannot read."""
    payload = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def nearest_mean_accuracy(train: TensorDataset, test: TensorDataset) -> float:
    xtr, ytr = train.tensors
    xte, yte = test.tensors
    classes = sorted(set(ytr.tolist()))
    means = torch.stack([xtr[ytr == c].flatten(1).mean(0) for c in classes])
    predicted = torch.tensor(classes)[torch.cdist(xte.flatten(1), means).argmin(1)]
    return (predicted == yte).float().mean().item()


# ------------------------------------------------------------------------------------------
# poisson_patterns


def test_poisson_shapes_values_and_rate():
    ds = poisson_patterns(n_samples=64, n_channels=30, n_steps=40, n_classes=3, rate=0.1, seed=1)
    x, y = ds.tensors
    assert isinstance(ds, TensorDataset)
    assert x.shape == (64, 40, 30) and x.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.int64
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert ds.patterns.shape == (3, 30)
    assert torch.allclose(ds.patterns.mean(1), torch.full((3,), 0.1))
    assert abs(x.mean().item() - 0.1) < 0.01
    assert ds.classes == ["pattern_0", "pattern_1", "pattern_2"]
    # samples of one class follow that class's pattern
    for c in range(3):
        empirical = x[y == c].mean((0, 1))
        assert (empirical - ds.patterns[c]).abs().mean() < 0.03


def test_poisson_deterministic_and_seed_dependent():
    a = poisson_patterns(n_samples=32, seed=7)
    b = poisson_patterns(n_samples=32, seed=7)
    c = poisson_patterns(n_samples=32, seed=8)
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[0], c.tensors[0])
    assert not torch.equal(a.patterns, c.patterns)


@pytest.mark.parametrize("n_samples, n_classes", [(256, 2), (100, 3), (7, 4)])
def test_poisson_balanced(n_samples, n_classes):
    y = poisson_patterns(n_samples=n_samples, n_classes=n_classes, n_steps=5).tensors[1]
    counts = torch.bincount(y, minlength=n_classes)
    assert counts.sum() == n_samples and counts.max() - counts.min() <= 1


def test_poisson_classes_are_separable():
    train, test = train_test_split(poisson_patterns(n_samples=128, seed=2), 0.25, seed=0)
    assert nearest_mean_accuracy(train, test) > 0.9


def test_global_rngs_untouched():
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    poisson_patterns(n_samples=8)
    audio_like(n_samples=4, duration=0.1)
    train_test_split(poisson_patterns(n_samples=8), 0.5)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


def test_poisson_bad_arguments():
    with pytest.raises(ValueError, match=r"rate must be a spike probability in \(0, 1\]"):
        poisson_patterns(rate=1.5)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 1"):
        poisson_patterns(n_classes=0)


# ------------------------------------------------------------------------------------------
# audio_like


def test_audio_like_shapes_range_and_classes():
    ds = audio_like(n_samples=36, n_classes=6, duration=0.25, seed=3)
    x, y = ds.tensors
    assert x.shape == (36, 25, 16) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and torch.bincount(y).tolist() == [6] * 6
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    assert ds.classes == list(AUDIO_CLASSES)
    assert audio_like(n_samples=4, n_classes=2, duration=0.1).classes == ["tone", "up_chirp"]


def test_audio_like_deterministic_and_seed_dependent():
    a = audio_like(n_samples=12, duration=0.2, seed=5)
    b = audio_like(n_samples=12, duration=0.2, seed=5)
    c = audio_like(n_samples=12, duration=0.2, seed=6)
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[0], c.tensors[0])


def test_audio_like_balanced_default():
    y = audio_like(n_samples=10, duration=0.05).tensors[1]
    counts = torch.bincount(y, minlength=4)
    assert counts.sum() == 10 and counts.max() - counts.min() <= 1


def test_audio_like_power_scale_and_band_count():
    ds = audio_like(n_samples=4, duration=0.1, n_bands=8, fmax=4000.0, scale="power")
    assert ds.tensors[0].shape == (4, 10, 8)
    assert ds.tensors[0].min() >= 0 and ds.tensors[0].max() < 1.0  # levels are at most -6 dBFS


def test_audio_like_classes_separable_by_nearest_class_mean():
    # pitch, onset and length vary per sample, so one mean per class is a weak model: with 240
    # samples it scores 0.42 to 0.6 over seeds 0..7 (1-nearest-neighbour: 0.68 to 0.85); chance
    # is 0.25
    train, test = train_test_split(audio_like(n_samples=240, seed=0), 0.25, seed=0)
    assert nearest_mean_accuracy(train, test) > 0.4


def test_audio_like_six_classes_separable_by_nearest_neighbour():
    train, test = train_test_split(audio_like(n_samples=300, n_classes=6, seed=0), 0.25, seed=0)
    (xtr, ytr), (xte, yte) = train.tensors, test.tensors
    predicted = ytr[torch.cdist(xte.flatten(1), xtr.flatten(1)).argmin(1)]
    assert (predicted == yte).float().mean() > 0.45  # 0.53 to 0.69 over seeds 0..7; chance 1/6


def test_audio_like_bad_class_count():
    with pytest.raises(ValueError, match=r"audio_like has 6 sound classes \(tone, up_chirp,.*"
                                         r"n_classes must be 1\.\.6, got 7"):
        audio_like(n_classes=7)


# ------------------------------------------------------------------------------------------
# time bins


def test_num_bins_is_exact_for_decimal_inputs():
    assert 0.3 / 0.1 < 3  # the floating-point trap num_bins avoids
    assert num_bins(0.3, 0.1) == 3
    assert num_bins(0.5, 0.01) == 50
    assert num_bins(0.0099, 0.01) == 0
    assert num_bins(1.0, 0.003) == 333


@settings(max_examples=20, deadline=None)
@given(duration_ms=st.integers(1, 300), bin_ms=st.sampled_from([1, 2, 3, 5, 7, 10, 20, 25, 50]))
def test_T_is_floor_duration_over_bin(duration_ms, bin_ms):
    duration, bin_s = duration_ms / 1000, bin_ms / 1000
    expected = duration_ms // bin_ms
    assert num_bins(duration, bin_s) == expected
    x = audio_like(n_samples=2, n_classes=2, duration=duration, bin_s=bin_s).tensors[0]
    assert x.shape == (2, expected, 16)
    signal = torch.zeros(int(round(duration * SR)))
    assert filter_bank(signal, SR, bin_s=bin_s).shape == (expected, 16)


# ------------------------------------------------------------------------------------------
# filter_bank


@pytest.mark.parametrize("freq", [120.0, 260.0, 440.0, 1100.0, 1800.0, 3000.0, 4500.0, 5600.0])
def test_pure_tone_lights_its_band(freq):
    features = filter_bank(tone(freq, 0.3), SR)
    assert features.shape == (30, 16) and features.dtype == torch.float32
    profile = features[5:].mean(0)  # after the filters settle
    band = band_of(freq)
    assert profile.argmax().item() == band
    others = torch.cat([profile[: max(band - 1, 0)], profile[band + 2:]])
    assert profile[band] - others.max() > 0.2  # > 16 dB above bands that are not neighbours


def test_full_scale_sine_at_band_centre_is_one():
    edges = 100.0 * 60.0 ** (np.arange(17) / 16)
    centre = float(np.sqrt(edges[7] * edges[8]))
    power = filter_bank(tone(centre, 0.2, amplitude=1.0), SR, scale="power")
    assert power[5:, 7].mean() == pytest.approx(0.5, rel=0.05)
    db = filter_bank(tone(centre, 0.2, amplitude=1.0), SR)
    assert db[5:, 7].mean() == pytest.approx(1.0, abs=0.01)
    assert filter_bank(np.zeros(1600), SR).max() == 0.0  # silence is 0 on the dB scale


def test_rising_chirp_peak_band_rises():
    seconds, f0, f1 = 0.5, 150.0, 5000.0
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * f0 * seconds / np.log(f1 / f0) * ((f1 / f0) ** (t / seconds) - 1)
    peaks = filter_bank(0.5 * np.sin(phase), SR).argmax(1)
    inner = peaks[3:-3]
    assert inner[-1] - inner[0] >= 10
    assert (inner[1:] >= inner[:-1]).all()  # never falls
    # and time-reversed, it falls
    falling = filter_bank(0.5 * np.sin(phase[::-1].copy()), SR).argmax(1)[3:-3]
    assert (falling[1:] <= falling[:-1]).all() and falling[0] - falling[-1] >= 10


def test_filter_bank_batch_equals_single_and_accepts_numpy():
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((3, 1600)).astype(np.float32) * 0.1
    together = filter_bank(torch.from_numpy(batch), SR)
    assert together.shape == (3, 10, 16)
    for i in range(3):
        assert torch.allclose(together[i], filter_bank(batch[i], SR), atol=1e-5)


def test_filter_bank_options():
    signal = tone(1100.0, 0.1)
    assert filter_bank(signal, SR, n_bins=4).shape == (4, 16)
    assert filter_bank(signal, SR, n_bins=20)[15:].max() < 0.5  # padded with silence
    assert filter_bank(signal, SR, bin_s=0.005).shape == (20, 16)
    assert filter_bank(signal, SR, n_bands=8, fmin=200.0, fmax=4000.0).shape == (10, 8)
    odd_hop = filter_bank(tone(1100.0, 0.1, rate=22050), 22050, bin_s=0.01)  # 220.5 samples
    assert odd_hop.shape == (10, 16) and odd_hop[3:].mean(0).argmax() == band_of(1100.0)
    assert torch.allclose(odd_hop[3:], filter_bank(signal, SR)[3:], atol=0.02)
    sharp = filter_bank(signal, SR, order=4)[3:].mean(0)
    soft = filter_bank(signal, SR, order=1)[3:].mean(0)
    band = band_of(1100.0)
    assert sharp[band + 3] < soft[band + 3]  # steeper skirts


def test_filter_bank_errors():
    with pytest.raises(ValueError, match=r"fmax=9000.0 Hz is above the Nyquist frequency 8000 Hz"):
        filter_bank(np.zeros(100), SR, fmax=9000.0)
    with pytest.raises(ValueError, match=r"takes a signal \[S\] or a batch \[B, S\], got shape "
                                         r"\(1, 2, 3\)"):
        filter_bank(torch.zeros(1, 2, 3), SR)
    with pytest.raises(ValueError, match="need 0 < fmin < fmax"):
        filter_bank(np.zeros(100), SR, fmin=500.0, fmax=400.0)
    with pytest.raises(ValueError, match="bin_s must hold at least one sample"):
        filter_bank(np.zeros(100), SR, bin_s=1e-5)
    with pytest.raises(ValueError, match="scale must be 'db' or 'power'"):
        filter_bank(np.zeros(100), SR, scale="log")


# ------------------------------------------------------------------------------------------
# WAV files


def test_read_wav_formats(tmp_path):
    signal = tone(440.0, 0.05, rate=8000)
    for width in (1, 2, 3, 4):
        samples, rate = read_wav(write_wav(tmp_path / f"w{width}.wav", signal, 8000, width))
        assert rate == 8000 and samples.dtype == np.float32 and samples.shape == signal.shape
        assert np.abs(samples - signal).max() < (0.02 if width == 1 else 1e-3)
    stereo = np.stack([signal, np.zeros_like(signal)], axis=1)
    samples, _ = read_wav(write_wav(tmp_path / "stereo.wav", stereo, 8000))
    assert np.abs(samples - signal / 2).max() < 1e-3  # channels averaged


def test_resample_keeps_a_tone():
    up = resample(tone(1000.0, 0.1, rate=8000), 8000, 16000)
    assert up.shape == (1600,)
    assert np.abs(up[100:-100] - tone(1000.0, 0.1)[100:-100]).max() < 0.01
    down = resample(tone(1000.0, 0.1, rate=44100), 44100, 16000)
    assert down.shape == (1600,)
    assert np.abs(down[100:-100] - tone(1000.0, 0.1)[100:-100]).max() < 0.01


@pytest.fixture
def wav_root(tmp_path):
    """Two classes (created in reverse order): 'b_low' at 300 Hz, 'a_high' at 2000 Hz, in
    several rates, widths, channel counts and lengths around duration = 0.5 s."""
    root = tmp_path / "audio"
    low, high = 300.0, 2000.0
    write_wav(root / "b_low" / "long_16k_16bit_mono.wav", tone(low, 1.0), SR, 2)
    write_wav(root / "b_low" / "short_8k_8bit_stereo.wav",
              np.stack([tone(low, 0.2, 8000)] * 2, axis=1), 8000, 1)
    write_wav(root / "b_low" / "exact_8k_16bit_mono.wav", tone(low, 0.5, 8000), 8000, 2)
    # first half: the class tone, second half: another tone that trimming must cut
    trimmed = np.concatenate([tone(high, 0.5), tone(low, 0.5)])
    write_wav(root / "a_high" / "long_16k_16bit_stereo.wav", np.stack([trimmed] * 2, 1), SR, 2)
    write_wav(root / "a_high" / "short_8k_8bit_mono.wav", tone(high, 0.3, 8000), 8000, 1)
    write_wav(root / "a_high" / "z_22k_32bit_mono.WAV", tone(high, 0.6, 22050), 22050, 4)
    (root / "a_high" / "notes.txt").write_text("not audio")
    return root


def test_wav_folder_shapes_labels_and_order(wav_root):
    ds = WavFolder(wav_root, duration=0.5)
    assert ds.classes == ["a_high", "b_low"] and ds.class_to_idx == {"a_high": 0, "b_low": 1}
    assert len(ds) == 6 and ds.targets == [0, 0, 0, 1, 1, 1]
    assert [p.name for p, _ in ds.samples][:3] == [
        "long_16k_16bit_stereo.wav", "short_8k_8bit_mono.wav", "z_22k_32bit_mono.WAV"]
    x, y = ds[0]
    assert x.shape == (50, 16) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.shape == () and y.item() == 0
    tensors = ds.to_tensor_dataset()
    assert tensors.tensors[0].shape == (6, 50, 16) and tensors.tensors[1].tolist() == ds.targets
    assert tensors.classes == ds.classes
    for i in range(len(ds)):
        assert torch.allclose(tensors.tensors[0][i], ds[i][0], atol=1e-5)


def test_wav_folder_tone_band_lights_up(wav_root):
    ds = WavFolder(wav_root, duration=0.5)
    expected = {0: band_of(2000.0), 1: band_of(300.0)}
    for i in range(len(ds)):
        x, y = ds[i]
        assert x[3:15].mean(0).argmax().item() == expected[y.item()], ds.samples[i][0].name


def test_wav_folder_pads_and_trims(wav_root):
    ds = WavFolder(wav_root, duration=0.5)
    names = [p.name for p, _ in ds.samples]
    # trimmed: the 1 s file keeps only its first 0.5 s (the 2000 Hz half)
    long = names.index("long_16k_16bit_stereo.wav")
    audio = ds.load_audio(long)
    assert audio.shape == (8000,)
    assert np.abs(audio - tone(2000.0, 0.5)).max() < 1e-3
    features = ds[long][0]
    assert features[40:, band_of(300.0)].max() < 0.3 < features[40:, band_of(2000.0)].min()
    # padded: the 0.2 s file is silent after 0.2 s (plus the filters' ring)
    short = names.index("short_8k_8bit_stereo.wav")
    audio = ds.load_audio(short)
    assert audio.shape == (8000,) and np.all(audio[3300:] == 0) and np.abs(audio[:3000]).max() > 0.4
    features = ds[short][0]
    assert features[:18, band_of(300.0)].min() > 0.8 and features[35:].max() < 0.05


def test_wav_folder_options_and_split(wav_root):
    ds = WavFolder(wav_root, duration=0.3, sample_rate=8000, bin_s=0.02, n_bands=8, fmax=3500.0)
    assert ds[0][0].shape == (15, 8) and ds.load_audio(0).shape == (2400,)
    train, test = train_test_split(ds, test_fraction=0.34, seed=0)
    assert len(train) == 4 and len(test) == 2 and sorted(test.tensors[1].tolist()) == [0, 1]
    assert train.classes == ["a_high", "b_low"]


def test_wav_folder_errors(tmp_path):
    with pytest.raises(ValueError, match=r"WavFolder root '.*missing' does not exist"):
        WavFolder(tmp_path / "missing", duration=0.5)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"root '.*empty' has no class folders \(expected "
                                         r"root/<class_name>/\*\.wav\)$"):
        WavFolder(empty, duration=0.5)
    loose = tmp_path / "loose"
    write_wav(loose / "a.wav", tone(440.0, 0.1), SR)
    with pytest.raises(ValueError, match=r"has no class folders .* it holds 1 \.wav file\(s\) "
                                         r"directly: put them in one sub-folder per class"):
        WavFolder(loose, duration=0.5)
    root = tmp_path / "root"
    write_wav(root / "yes" / "a.wav", tone(440.0, 0.1), SR)
    (root / "no").mkdir()
    (root / "no" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"class folder '.*no' has no \.wav files"):
        WavFolder(root, duration=0.5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: write_float_wav(p, np.zeros(100), SR),
         r"unsupported WAV file '.*bad\.wav': unknown format: 3 \(only integer PCM WAV"),
        (lambda p: p.write_text("this is not audio"),
         r"unsupported WAV file '.*bad\.wav': file does not start with RIFF id"),
        (lambda p: p.write_bytes(b""),
         r"cannot read WAV file '.*bad\.wav': the file is empty or truncated"),
    ],
    ids=["float", "text", "empty"],
)
def test_bad_wav_files_are_named(tmp_path, make, message):
    write_wav(tmp_path / "root" / "good" / "ok.wav", tone(440.0, 0.1), SR)
    bad = tmp_path / "root" / "good" / "bad.wav"
    make(bad)
    with pytest.raises(DataError, match=message):
        WavFolder(tmp_path / "root", duration=0.5)
    with pytest.raises(ValueError, match=message):
        read_wav(bad)


# ------------------------------------------------------------------------------------------
# by name


def test_datasets_mapping_and_make_dataset(wav_root):
    builtins = {"poisson_patterns", "audio_like", "wav_folder", "speech_commands", "spoken_words"}
    assert builtins <= set(DATASETS)  # third-party datasets may add more
    assert DATASETS["audio_like"] is audio_like and "AUDIO_LIKE" in DATASETS
    made = make_dataset("poisson_patterns", n_samples=16, seed=3)
    direct = poisson_patterns(n_samples=16, seed=3)
    assert torch.equal(made.tensors[0], direct.tensors[0])
    assert make_dataset("Audio-Like", n_samples=4, duration=0.1).tensors[0].shape == (4, 10, 16)
    folder = make_dataset("wav_folder", root=wav_root, duration=0.5)
    assert isinstance(folder, WavFolder) and len(folder) == 6


def test_make_dataset_unknown_name():
    builtin = ["audio_like", "poisson_patterns", "speech_commands", "spoken_words", "wav_folder"]
    with pytest.raises(LookupError) as info:
        make_dataset("audio_lik")
    message = str(info.value)
    assert message.startswith("unknown dataset 'audio_lik'. Did you mean 'audio_like'? Available: ")
    listed = message.split("Available: ", 1)[1].split(".")[0].split(", ")
    assert set(builtin) <= set(listed)  # third-party datasets may be listed too
    with pytest.raises(LookupError, match=r"^unknown dataset 'mnist'\. Available: .*poisson_patterns"):
        make_dataset("mnist")


def test_make_dataset_unknown_or_missing_keyword():
    with pytest.raises(TypeError) as info:
        make_dataset("poisson_patterns", n_sample=3)
    assert str(info.value) == (
        "dataset 'poisson_patterns' got unexpected parameter 'n_sample'. Did you mean "
        "'n_samples'? Accepted parameters: n_samples=256, n_channels=100, n_steps=100, "
        "n_classes=2, rate=0.05, seed=0."
    )
    with pytest.raises(TypeError, match=r"dataset 'wav_folder': missing a required argument: "
                                        r"'duration'\. Accepted parameters: root, duration, "
                                        r"sample_rate=16000,"):
        make_dataset("wav_folder", root="somewhere")


# ------------------------------------------------------------------------------------------
# train_test_split


def test_train_test_split_stratified_and_deterministic():
    ds = poisson_patterns(n_samples=103, n_classes=3, n_steps=4, seed=0)
    train, test = train_test_split(ds, test_fraction=0.2, seed=1)
    x, y = ds.tensors
    counts = torch.bincount(y)
    test_counts = torch.bincount(test.tensors[1], minlength=3)
    assert test_counts.tolist() == [round(int(n) * 0.2) for n in counts]
    assert len(train) + len(test) == 103
    assert train.tensors[0].dtype == torch.float32 and test.tensors[1].dtype == torch.int64
    # disjoint and complete: every sample lands once
    rows = {tuple(r.flatten().tolist()) + (int(c),) for r, c in zip(x, y)}
    parts = [tuple(r.flatten().tolist()) + (int(c),)
             for part in (train, test) for r, c in zip(*part.tensors)]
    assert len(parts) == 103 and set(parts) == rows
    again = train_test_split(ds, test_fraction=0.2, seed=1)
    assert torch.equal(again[1].tensors[0], test.tensors[0])
    other = train_test_split(ds, test_fraction=0.2, seed=2)
    assert not torch.equal(other[1].tensors[0], test.tensors[0])
    assert train.classes == test.classes == ds.classes


def test_train_test_split_errors():
    ds = poisson_patterns(n_samples=8, n_steps=2)
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\), got 1\.0"):
        train_test_split(ds, test_fraction=1.0)
    train, test = train_test_split(ds, test_fraction=0.0)  # allowed: nothing held out
    assert len(train) == 8 and len(test) == 0 and test.tensors[0].shape == (0, 2, 100)
    with pytest.raises(ValueError, match="needs integer labels"):
        train_test_split(TensorDataset(torch.zeros(4, 2), torch.zeros(4)))


def test_public_api_is_documented():
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj) and not name.endswith("Error"):
            takes_args = bool(inspect.signature(obj).parameters)
            assert obj.__doc__, name
            assert "Args:" in obj.__doc__ or "Attributes:" in obj.__doc__ or not takes_args, name
