"""LogMel throughput: seconds of audio per wall second, ours vs librosa, in the same run.

    .venv/bin/python bench/features.py [--minutes 10] [--repeats 5]

Builds a 10-minute signal (real music from ../shared/data when present, tiled; generated otherwise),
then times our ``LogMel`` (torch, default float32 FFT, and float64) and
``librosa.power_to_db(librosa.feature.melspectrogram(...))`` with the same parameters, alternating
them so that machine load hits both alike. Reports the median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def _signal(minutes: float, sr: int) -> tuple[np.ndarray, str]:
    src = Path(__file__).resolve().parents[2] / "shared/data/librosa-data/audio/Kevin_MacLeod_-_Vibe_Ace.ogg"
    n = int(minutes * 60 * sr)
    if src.exists():
        from speechmusic.audio import load_audio

        y = load_audio(src, sr=sr)
        return np.resize(y, n).astype(np.float32), f"{src.name} tiled"
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal(n)).astype(np.float32), "white noise"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import librosa

    from speechmusic.features import FeatureConfig, LogMel

    config = FeatureConfig.preset("melspec")
    y, what = _signal(args.minutes, config.sample_rate)
    x = torch.from_numpy(y)
    seconds = len(y) / config.sample_rate
    ours32, ours64 = LogMel(config), LogMel(config, precision="float64")

    def run_librosa():
        mel = librosa.feature.melspectrogram(y=y, sr=config.sample_rate, n_fft=config.n_fft,
                                             hop_length=config.hop_length, n_mels=config.n_mels)
        return librosa.power_to_db(mel, top_db=None)

    candidates = {
        "speechmusic LogMel (float32)": lambda: ours32(x),
        "speechmusic LogMel (float64)": lambda: ours64(x),
        "librosa melspectrogram+power_to_db": run_librosa,
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    with torch.inference_mode():
        for fn in candidates.values():
            fn()  # warm-up: allocator, FFT plans, numba
        for _ in range(args.repeats):
            for name, fn in candidates.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)

    print(f"signal: {seconds / 60:.1f} min of {what} at {config.sample_rate} Hz; "
          f"torch threads: {torch.get_num_threads()}; median of {args.repeats}")
    ref = statistics.median(times["librosa melspectrogram+power_to_db"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:38s} {med:7.3f} s  {seconds / med:9.0f} s audio / s   {ref / med:5.2f}x librosa")


if __name__ == "__main__":
    main()
