"""The filter bank's band responses, and one spoken word as a spectrogram, filter-bank features
and the spikes of the H1v2 frontend (docs/data.md; the home page shows the last figure too)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from nwave_core import prepare_net
from nwave_core.data import filter_bank
from nwave_core.data.spoken import ESPEAK_RATE, synthesize
from nwave_plugins.layers import H1v2Frontend

RATE = 16000


def band_responses(out: Path) -> None:
    """Each band's output power for pure full-scale tones, in dB: the bank measured through
    ``filter_bank(..., scale="power")`` itself."""
    freqs = np.geomspace(50, 8000, 240)
    t = np.arange(int(0.25 * RATE)) / RATE
    tones = torch.tensor(np.sin(2 * np.pi * freqs[:, None] * t[None, :]), dtype=torch.float32)
    power = filter_bank(tones, RATE, scale="power")            # [F, T, 16]
    steady = power[:, power.shape[1] // 2:].mean(1)            # [F, 16], after the onset
    db = 10 * torch.log10(steady / 0.5 + 1e-12)
    fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0, 0.95, db.shape[1]))
    for k in range(db.shape[1]):
        ax.semilogx(freqs, db[:, k], color=colors[k], lw=1.2)
    ax.axhline(-3, color="grey", lw=0.6, ls=":")
    ax.set_ylim(-40, 3)
    ax.set_xlim(freqs[0], freqs[-1])
    ax.set_xlabel("tone frequency (Hz)")
    ax.set_ylabel("band output power (dB re. full scale)")
    ax.set_title("filter_bank defaults: 16 Butterworth band-passes, 100-6000 Hz, order 2",
                 fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.savefig(out / "data_filter_bank.png", dpi=110)


def spoken_sample(out: Path) -> None:
    """"yes" spoken by eSpeak NG: spectrogram, filter-bank features, H1v2 frontend spikes."""
    audio = synthesize("yes", accent="en-us", seed=0).astype(np.float32) / 32768.0
    n = int(len(audio) * RATE / ESPEAK_RATE)                   # resample to 16 kHz
    audio = np.interp(np.linspace(0, len(audio) - 1, n), np.arange(len(audio)), audio)
    signal = torch.tensor(audio, dtype=torch.float32)
    signal = torch.nn.functional.pad(signal, (1600, 1600))    # 100 ms of silence either side
    spec = torch.stft(signal, n_fft=512, hop_length=160, window=torch.hann_window(512),
                      return_complex=True).abs().pow(2)
    features = filter_bank(signal, RATE, peak_normalize=True, dynamic_range_db=40.0)  # [T, 16]
    frontend = H1v2Frontend()
    torch.manual_seed(0)
    prepare_net(frontend)
    with torch.no_grad():
        spikes = frontend(features.unsqueeze(0))[0]            # [T, 16]
    seconds = len(signal) / RATE
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), constrained_layout=True)
    axes[0].imshow(10 * torch.log10(spec + 1e-10), origin="lower", aspect="auto",
                   extent=(0, seconds, 0, RATE / 2 / 1000), cmap="magma", vmin=-80)
    axes[0].set_ylabel("kHz")
    axes[0].set_title('"yes" (eSpeak NG, en-us): spectrogram')
    axes[1].imshow(features.T, origin="lower", aspect="auto", extent=(0, seconds, -0.5, 15.5),
                   cmap="viridis")
    axes[1].set_ylabel("band")
    axes[1].set_title("filter_bank features (peak-normalised, 40 dB)")
    t, band = spikes.nonzero(as_tuple=True)
    axes[2].scatter(t.numpy() * 0.01, band.numpy(), marker="|", s=40, color="black")
    axes[2].set_ylim(-0.5, 15.5)
    axes[2].set_xlim(0, seconds)
    axes[2].set_ylabel("frontend neuron")
    axes[2].set_title(f"H1v2Frontend spikes ({int(spikes.sum())} in all)")
    for ax in axes:
        ax.set_xlabel("time (s)")
    fig.savefig(out / "data_spoken_yes.png", dpi=100)


def draw(out: Path) -> None:
    band_responses(out)
    spoken_sample(out)
