"""inaSpeechSegmenter 0.6.8, the original (TensorFlow, tf-keras; models inside its wheel).

As ../shared/reference/inaspeechsegmenter-0.6.8.md gives it, with the three NumPy-2 shims::

    from inaSpeechSegmenter import Segmenter
    seg = Segmenter(vad_engine="smn", detect_gender=False)   # or "sm"
    seg(path)                                                # [(label, start, stop)], ffmpeg decodes

Options: ``{"engine": "sm"|"smn", "gender": false}``. TensorFlow's thread pools are its defaults.
"""

from __future__ import annotations

from _serve import options, serve


def load(opts: dict):
    import numpy

    numpy.lib.pad = numpy.pad  # NumPy-2 shims the 0.6.8 code needs
    numpy.int = int
    _vstack = numpy.vstack
    numpy.vstack = lambda arrays, *a, **k: _vstack(list(arrays), *a, **k)
    import importlib.metadata

    import tensorflow as tf
    from inaSpeechSegmenter import Segmenter

    engine, gender = opts.get("engine", "smn"), bool(opts.get("gender", False))
    seg = Segmenter(vad_engine=engine, detect_gender=gender)
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    return seg, {"package": "inaSpeechSegmenter", "version": importlib.metadata.version("inaSpeechSegmenter"),
                 "call": f"Segmenter(vad_engine={engine!r}, detect_gender={gender})(path)",
                 "threads": f"TensorFlow intra-op {intra or 'default (all cores)'}"}


def segment(seg, path: str, request: dict) -> dict:
    return {"segments": [[label, float(a), float(b)] for label, a, b in seg(path)]}


if __name__ == "__main__":
    serve(options(), load, segment)
