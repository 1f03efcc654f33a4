"""The segmenter's fast path against its exact path on real recordings: labels and speed.

    .venv/bin/python bench/segment_fast_exact.py [--data ../shared/data/real-mix]
        [--margins 0 0.5] [--out /tmp/speechmusic-fast-exact] [--limit N]

For ``sm``, ``smn`` and ``smn`` + gender, segments every file of the folder (recursively) with
``mode="exact"`` (the reference: every patch evaluated on its own, as inaSpeechSegmenter) and
with ``mode="fast"`` at each ``fast_margin`` (0: the shared-convolution approximation alone).
Reports the share of 20 ms frames whose label equals the exact path's, the files whose majority
label differs, and the wall time of each (models loaded and warmed, one call per file): the
frontier of agreement against speed. Results go to ``OUT/results.json`` as they are measured;
a rerun with the same ``--out`` reuses what is there (delete it to measure again).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "real-mix"
CONFIGS = [("sm", "sm", False), ("smn", "smn", False), ("smn+gender", "smn", True)]
AUDIO = (".wav", ".ogg", ".flac", ".mp3", ".m4a")


def labels_of(segments: list, n: int) -> np.ndarray:
    from speechmusic.segment import Segment, labels_on_grid

    return labels_on_grid([Segment(label, start, stop) for label, start, stop in segments], n)


def segment_all(files: list[Path], engine: str, gender: bool, *, mode: str, margin: float) -> dict:
    from speechmusic.segment import Segmenter

    seg = Segmenter(engine, gender=gender, mode=mode, fast_margin=margin)
    seg(files[0])  # warm-up: weights compiled, thread pool and allocator primed
    out: dict = {"seconds": 0.0, "audio_seconds": 0.0, "files": {}}
    for i, f in enumerate(files, 1):
        t = time.perf_counter()
        analysis = seg.analyse(f)
        out["seconds"] += time.perf_counter() - t
        out["audio_seconds"] += analysis.duration
        out["files"][str(f)] = [[s.label, s.start, s.stop] for s in analysis.segments]
        if i % 50 == 0 or i == len(files):
            print(f"  {engine}{'+gender' if gender else ''} {mode} {margin:g}: {i}/{len(files)} files",
                  flush=True)
    return out


def compare(ref: dict, got: dict) -> tuple[float, list[str]]:
    """Frame agreement and the files whose majority label differs."""
    same = total = 0
    changed = []
    for f, ref_segs in ref["files"].items():
        got_segs = got["files"][f]
        n = int(round(max(ref_segs[-1][2], got_segs[-1][2]) / 0.02))
        a, b = labels_of(ref_segs, n), labels_of(got_segs, n)
        same += int((a == b).sum())
        total += n
        if Counter(a).most_common(1)[0][0] != Counter(b).most_common(1)[0][0]:
            changed.append(Path(f).name)
    return same / total, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--out", type=Path, default=Path("/tmp/speechmusic-fast-exact"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--configs", nargs="+", default=[c[0] for c in CONFIGS],
                        choices=[c[0] for c in CONFIGS])
    args = parser.parse_args()
    files = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in AUDIO)[: args.limit]
    if not files:
        raise SystemExit(f"no audio under {args.data}")
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "results.json"
    results = json.loads(store.read_text()) if store.exists() else {}

    def measured(key: str, engine: str, gender: bool, mode: str, margin: float) -> dict:
        name = f"{key}/{mode}/{margin:g}/{len(files)}"
        if name not in results:
            results[name] = segment_all(files, engine, gender, mode=mode, margin=margin)
            store.write_text(json.dumps(results))
        return results[name]

    rows = []
    for key, engine, gender in CONFIGS:
        if key not in args.configs:
            continue
        exact = measured(key, engine, gender, "exact", 0.0)
        rows.append((key, "exact", "", 1.0, [], exact))
        for margin in args.margins:
            fast = measured(key, engine, gender, "fast", margin)
            agreement, changed = compare(exact, fast)
            rows.append((key, "fast", f"{margin:g}", agreement, changed, fast))
    minutes = rows[0][5]["audio_seconds"] / 60
    print(f"\n{len(files)} files ({minutes:.1f} min) from {args.data}; one call per file, models warmed")
    header = (f"{'engine':11s} {'mode':5s} {'margin':>6s} {'frames same as exact':>21s} "
              f"{'majority changed':>17s} {'wall s':>7s} {'x real time':>12s}")
    print(header + "\n" + "-" * len(header))
    for key, mode, margin, agreement, changed, res in rows:
        print(f"{key:11s} {mode:5s} {margin:>6s} {100 * agreement:20.3f}% {len(changed):17d} "
              f"{res['seconds']:7.1f} {res['audio_seconds'] / res['seconds']:12.1f}"
              + (f"  ({', '.join(changed[:4])})" if changed else ""))


if __name__ == "__main__":
    main()
