"""spoken_words: eSpeak NG through ctypes (the extra 'spoken'), deterministic, cached, disjoint
voices; a small spoken-word run learns. Skipped cleanly where the extra is not installed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from nwave_core.data import DataError, MissingExtraError, make_dataset, spoken_words, synthesize
from nwave_core.data import spoken as spoken_module


def test_a_missing_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setattr(spoken_module._ESpeak, "_instance", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    with pytest.raises(MissingExtraError, match=r"extra 'spoken': pip install 'nwave-snn\[spoken\]' "
                                                r"\(the package espeakng-loader\)"):
        spoken_words("yes_no", n_per_class=4, cache_dir=tmp_path)
    assert issubclass(MissingExtraError, ImportError)


def test_nwave_train_reports_the_missing_extra_without_a_traceback(monkeypatch, tmp_path, capsys):
    from nwave_core.cli import main

    monkeypatch.setattr(spoken_module._ESpeak, "_instance", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    config = tmp_path / "c.toml"
    config.write_text(
        '[[model.layers]]\ntype = "LIFSynapse"\nnb_inputs = 16\nnb_outputs = 2\n'
        '[[model.layers]]\ntype = "LIFLayer"\nn_neurons = 2\n'
        f'[data]\ntype = "spoken_words"\nwords = "yes_no"\ncache_dir = "{tmp_path}"\n'
    )
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nwave: error: ") and "Traceback" not in err
    assert ("spoken_words needs eSpeak NG from the optional extra 'spoken': pip install "
            "'nwave-snn[spoken]' (the package espeakng-loader) @ $.data") in err


def test_arguments_are_checked_before_any_synthesis(tmp_path):
    with pytest.raises(DataError, match=r"unknown word set 'yes_nope'\. Did you mean 'yes_no'\?"):
        spoken_words("yes_nope", cache_dir=tmp_path)
    with pytest.raises(DataError, match=r"words must be distinct names of yes, no, .*Did you "
                                        r"mean 'stop'\?"):
        spoken_words(["yes", "stpo"], cache_dir=tmp_path)
    with pytest.raises(DataError, match=r"rate_wpm must be a pair \[low, high\] with 80 <= low"):
        spoken_words("yes_no", rate_wpm=(50, 100), cache_dir=tmp_path)
    with pytest.raises(DataError, match=r"snr_db must be a list of SNRs in dB, got \['high'\]"):
        spoken_words("yes_no", snr_db=["high"], cache_dir=tmp_path)
    with pytest.raises(DataError, match=r"noise must list colours from white, pink"):
        spoken_words("yes_no", noise=["brown"], cache_dir=tmp_path)
    with pytest.raises(DataError, match="need at least 2 speakers"):
        spoken_words("yes_no", accents=["en-us"], variants=["m1"], cache_dir=tmp_path)


needs_espeak = pytest.mark.skipif(importlib.util.find_spec("espeakng_loader") is None,
                                  reason="the extra 'spoken' is not installed")


@needs_espeak
def test_synthesis_is_16_bit_and_deterministic_in_any_order():
    a = synthesize("yes", "en-us", "f3", 170, 60, 50, seed=5)  # f3: a breathy variant
    b = synthesize("stop", "en", "m2", 150, 40, 30, seed=1)
    again = synthesize("yes", "en-us", "f3", 170, 60, 50, seed=5)
    assert a.dtype == np.int16 and 0.1 * 22050 < a.shape[0] < 2 * 22050
    assert np.array_equal(a, again) and not np.array_equal(a[: b.shape[0]], b[: a.shape[0]])
    assert not np.array_equal(a, synthesize("yes", "en-us", "f3", 170, 60, 50, seed=6))


@needs_espeak
def test_synthesis_is_the_same_in_another_process():
    code = ("import hashlib; from nwave_core.data import synthesize; "
            "print(hashlib.sha256(synthesize('no', 'en-us', 'f4', 160, 55, 40, seed=9)"
            ".tobytes()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip()
    import hashlib

    here = hashlib.sha256(synthesize("no", "en-us", "f4", 160, 55, 40, seed=9).tobytes())
    assert other == here.hexdigest()


@needs_espeak
def test_unknown_voices_are_refused_not_replaced():
    with pytest.raises(DataError, match=r"no voice variant 'nonexistent': it fell back to "
                                        r"'gmw/en-US'"):
        synthesize("yes", "en-us", "nonexistent")
    with pytest.raises(DataError, match=r"eSpeak NG has no voice 'xx-nowhere'"):
        synthesize("yes", "xx-nowhere")
    with pytest.raises(DataError, match="no voice variant 'm99'"):
        spoken_words("yes_no", variants=["m1", "m99"], cache_dir="unused")


def _differing_clips(a, b):
    return [i for i in range(len(a)) if not torch.equal(a[i], b[i])]


@needs_espeak
def test_spoken_words_splits_voices_and_is_cached(tmp_path):
    kwargs = dict(n_per_class=8, duration=0.6, variants=["m1", "f2", "m3"],
                  accents=["en-us", "en"], cache_dir=tmp_path)
    splits = spoken_words("yes_no", **kwargs)
    assert splits.classes == ["yes", "no"]
    x, y = splits.train.tensors
    assert x.shape == (12, 60, 16) and x.dtype == torch.float32 and y.tolist() == [0, 1] * 6
    assert len(splits.test) == 4
    assert not set(splits.train.speakers) & set(splits.test.speakers)  # unseen voices
    assert float(x.amax(dim=(1, 2)).min()) == pytest.approx(1.0)  # peak-normalised clips
    cached = list(tmp_path.glob("spoken_words-*.npz"))
    assert len(cached) == 1
    again = spoken_words("yes_no", **kwargs)
    assert torch.equal(again.train.tensors[0], x) and again.test.speakers == splits.test.speakers
    cached[0].write_bytes(b"damaged")  # a damaged cache file is made again
    assert _differing_clips(spoken_words("yes_no", **kwargs).train.tensors[0], x) == []
    fresh = spoken_words("yes_no", **{**kwargs, "cache": False})
    assert _differing_clips(fresh.train.tensors[0], x) == []
    other = spoken_words("yes_no", **{**kwargs, "seed": 1})
    assert not torch.equal(other.train.tensors[0], x)


@needs_espeak
def test_every_class_of_the_commands_set(tmp_path):
    splits = make_dataset("spoken_words", n_per_class=2, test_fraction=0.5, duration=0.8,
                          cache_dir=tmp_path)
    assert splits.classes == ["yes", "no", "up", "down", "left", "right", "on", "off", "stop",
                              "go", "silence", "unknown"]
    assert splits.train.tensors[1].tolist() == list(range(12))


@needs_espeak
def test_a_small_spoken_word_run_learns(tmp_path):
    """CI's check that spoken words are learnable: loss falls, strict accuracy well above
    chance on unseen voices (an LIF network on yes/no)."""
    from nwave_core import build
    from nwave_core.config import parse_config
    from nwave_core.runner import train

    torch.set_num_threads(1)
    raw = {
        "seed": 0,
        "model": {"surrogate": {"type": "atan", "alpha": 2.0}, "layers": [
            {"type": "LIFSynapse", "nb_inputs": 16, "nb_outputs": 32},
            {"type": "LIFLayer", "n_neurons": 32, "taus": 0.05},
            {"type": "LIFSynapse", "nb_inputs": 32, "nb_outputs": 2},
            {"type": "LIFLayer", "n_neurons": 2, "taus": 0.05}]},
        "data": {"type": "spoken_words", "words": "yes_no", "n_per_class": 80,
                 "batch_size": 20, "cache_dir": str(tmp_path / "cache")},
        "train": {"epochs": 8, "loss": "spike_count", "loss_scale": 0.2, "progress": False},
        "optimizer": {"type": "Adam", "lr": 0.01},
    }
    result = train(build(parse_config(raw)), tmp_path / "run")
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    print(result.float_accuracy, [round(r["loss"], 3) for r in history])
    assert result.float_accuracy >= 0.8, history  # chance: 0.5; ties and silence are wrong
