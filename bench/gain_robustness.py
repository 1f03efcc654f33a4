"""Do an engine's labels follow the recording's level? Held-out files, played quieter and louder.

    .venv/bin/python bench/gain_robustness.py ENGINE_DIR [ENGINE_DIR ...] [--gains -20 -10 0 6]
                                              [--out DIR]

``ENGINE_DIR``: a folder written by ``speechmusic train`` (its ``cv/`` run holds one checkpoint per
fold and the fold's ``split.json``). Each fold's checkpoint segments the test clips of its own
fold (recordings of groups it never heard), each clip scaled by every gain in ``--gains`` (dB;
clipped to [-1, 1], so positive gains also clip loud recordings), with ``Segmenter(mode="fast")``
as ``speechmusic segment`` runs it. A file's decision is the class with the most labelled time.

Printed per engine: file accuracy at each gain, and the share of files whose decision changes
with the gain. Training clips are peak-normalised (the paper's protocol) while a segmenter hears
recordings at whatever level they were made: an engine whose normalisation keeps the level
(``normalizer: standard``, ``fit``) learns the training clips' levels as evidence; INA's per-patch
standardisation and its sliding form remove the gain. ``--out DIR`` gets ``gain_robustness.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from speechmusic.segment import Segmenter

CLASSES = ("speech", "music", "noise")


def fold_items(engine_dir: Path) -> list[tuple[Path, list[tuple[str, str]]]]:
    """``(fold checkpoint, [(audio path, label)])`` for every finished fold of the engine's CV
    (clip ids mapped to files through the run's ``config.yaml``, whole files only)."""
    from speechmusic.training import load_config
    from speechmusic.training.config import expand_experiments
    from speechmusic.training.cv import fold_done
    from speechmusic.training.runner import experiment_manifest

    cv = engine_dir / "cv"
    config = load_config(cv / "config.yaml")
    out = []
    for exp in expand_experiments(config):
        by_id = {c.id: c for c in experiment_manifest(exp)}
        for fold in sorted((cv / "experiments" / exp.name).glob("fold_*"), key=lambda p: int(p.name[5:])):
            if not (fold_done(fold) and (fold / "model.pt").is_file()):
                continue
            test = [by_id[c] for c in json.loads((fold / "split.json").read_text(encoding="utf-8"))["test"]]
            out.append((fold / "model.pt", [(c.path, c.label) for c in test
                                             if c.start is None and c.duration is None]))
    if not out:
        sys.exit(f"{engine_dir}: no finished fold under cv/experiments/")
    return out


def decision(segmenter: Segmenter, audio: np.ndarray, sr: int, classes: tuple[str, ...]) -> str:
    time = collections.Counter()
    for s in segmenter(audio, sr=sr):
        time[s.label] += s.stop - s.start
    return max(classes, key=lambda c: time[c])


def measure(engine_dir: Path, gains: list[float]) -> dict:
    correct = collections.Counter()
    changed = n = 0
    for checkpoint, items in fold_items(engine_dir):
        segmenter = Segmenter(str(checkpoint), mode="fast")
        classes = tuple(c for c in CLASSES if c in segmenter.engine.labels)
        for path, label in items:
            x, sr = sf.read(path, dtype="float32", always_2d=True)
            x = x.mean(axis=1)  # as recorded: no normalisation
            got = [decision(segmenter, np.clip(x * 10 ** (g / 20), -1.0, 1.0), sr, classes) for g in gains]
            for g, d in zip(gains, got, strict=True):
                correct[g] += d == label
            changed += len(set(got)) > 1
            n += 1
        print(f"  {engine_dir}: {checkpoint.parent.name} done ({n} files so far)", file=sys.stderr, flush=True)
    return {"files": n, "accuracy": {str(g): correct[g] / max(n, 1) for g in gains},
            "changed": changed / max(n, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engines", nargs="+", type=Path)
    parser.add_argument("--gains", nargs="+", type=float, default=[-20.0, -10.0, 0.0, 6.0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = {str(e): measure(e, args.gains) for e in args.engines}
    head = " | ".join(f"{g:+g} dB" for g in args.gains)
    print(f"| engine | files | file accuracy at {head} | decisions changed by the gain |")
    print("|---|---:|" + "---:|" * len(args.gains) + "---:|")
    for name, r in results.items():
        cells = " | ".join(f"{100 * r['accuracy'][str(g)]:.1f} %" for g in args.gains)
        print(f"| {name} | {r['files']} | {cells} | {100 * r['changed']:.1f} % |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gain_robustness.json").write_text(json.dumps(
            {"gains_db": args.gains, "results": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
