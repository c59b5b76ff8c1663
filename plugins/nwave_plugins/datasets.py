"""Built-in datasets, registered under kind ``dataset`` (what ``[data] type`` names)."""

from __future__ import annotations

from nwave_core import Entry, hookimpl
from nwave_core.data import (
    WavFolder,
    audio_like,
    poisson_patterns,
    rate_pattern,
    speech_commands,
    spoken_words,
)


@hookimpl
def nwave_datasets() -> list[Entry]:
    return [
        Entry("poisson_patterns", poisson_patterns,
              summary="spike trains from one random rate pattern per class"),
        Entry("audio_like", audio_like,
              summary="synthesized tones, chirps, noise bursts and clicks through the filter bank"),
        Entry("wav_folder", WavFolder, summary="root/<class>/*.wav through the filter bank"),
        Entry("speech_commands", speech_commands,
              summary="a WAV folder in the Speech Commands layout, split by speaker "
                      "(train / val / test)"),
        Entry("rate_pattern", rate_pattern,
              summary="a target spike-rate pattern to reproduce from noisy inputs (regression: "
                      "train.loss = 'rate_mse')"),
        Entry("spoken_words", spoken_words,
              summary="Speech Commands words synthesized with eSpeak NG (extra 'spoken'); "
                      "train and test voices disjoint"),
    ]
