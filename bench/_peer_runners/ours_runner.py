"""speechmusic's Segmenter (the project's own venv), as a library user calls it::

    from speechmusic.segment import Segmenter
    seg = Segmenter(engine, mode="fast")     # "sm", "smn" or a checkpoint path
    seg(path)                                # [Segment(label, start, stop, probability)]

Options: ``{"engines": {name: engine}, "mode": "fast"}``; a request may name the engine to use
(``{"path": ..., "engine": name}``: a cross-validation fold's checkpoint for its test files),
otherwise the first. Every engine is loaded and warmed before timing starts.
"""

from __future__ import annotations

from _serve import options, serve


def load(opts: dict):
    import speechmusic
    from speechmusic.segment import Segmenter

    mode = opts.get("mode", "fast")
    engines = {name: Segmenter(engine, mode=mode) for name, engine in opts["engines"].items()}
    first = next(iter(engines.values()))
    state = {"engines": engines, "default": next(iter(engines))}
    return state, {"package": "speechmusic", "version": speechmusic.__version__,
                   "call": f"Segmenter(engine, mode={mode!r})(path)", "decoder": first.decoder,
                   "threads": f"{first.threads} single-threaded torch workers"}


def segment(state, path: str, request: dict) -> dict:
    seg = state["engines"][request.get("engine") or state["default"]]
    return {"segments": [[s.label, float(s.start), float(s.stop)] for s in seg(path)]}


def load_warm_all(opts: dict):
    state, info = load(opts)
    for name in list(state["engines"])[1:]:  # the serve loop warms the default one
        for path in opts.get("warmup", []):
            segment(state, path, {"path": path, "engine": name})
    return state, info


if __name__ == "__main__":
    serve(options(), load_warm_all, segment)
