"""Peak memory and speed of the segmenter on a long recording, and block-size independence.

    .venv/bin/python bench/segment_long.py [--hours 3] [--blocks 10 60 600]

Writes a ``--hours`` long 22050 Hz WAV (real recordings from ../shared/data tiled, or generated
signals where that is absent), segments it in a fresh process per block length, and reports each
run's peak resident memory (the process's VmHWM), wall time, real-time factor, and whether the
segments are identical across block lengths.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "data" / "librosa-data" / "audio"

CHILD = """
import json, sys
from speechmusic.segment import Segmenter
seg = Segmenter(sys.argv[2], gender=sys.argv[4] == "1", block_seconds=float(sys.argv[3]))
segs = seg(sys.argv[1])
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"peak_kib": peak, "segments": [[s.label, s.start, s.stop] for s in segs]}))
"""


def write_long_file(path: Path, hours: float, sr: int = 22050) -> float:
    if AUDIO.exists():
        from speechmusic.audio import load_audio

        base = np.concatenate([load_audio(f, sr=sr, normalize=False) for f in sorted(AUDIO.glob("*.ogg"))])
    else:
        rng = np.random.default_rng(0)
        base = (0.1 * rng.standard_normal(600 * sr)).astype(np.float32)
    total = int(hours * 3600 * sr)
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as fh:
        written = 0
        while written < total:
            piece = base[: total - written]
            fh.write(piece)
            written += len(piece)
    return total / sr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--blocks", type=float, nargs="+", default=[10.0, 60.0, 600.0])
    parser.add_argument("--engine", default="smn")
    parser.add_argument("--gender", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        seconds = write_long_file(path, args.hours)
        print(f"{path.name}: {seconds / 3600:.2f} h, {path.stat().st_size / 2**20:.0f} MiB on disk; "
              f"engine {args.engine}{' + gender' if args.gender else ''}")
        results = {}
        for block in args.blocks:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD, str(path), args.engine, str(block),
                                   "1" if args.gender else "0"], capture_output=True, text=True)
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                sys.exit(proc.stderr[-2000:])
            # The segmenting process's own high-water mark (VmHWM), read by itself at the end.
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            results[block] = report["segments"]
            print(f"block {block:6.0f} s: peak RSS {report['peak_kib'] / 2**20:.2f} GiB, "
                  f"{wall:.1f} s wall, {seconds / wall:.0f}x real time, {len(results[block])} segments")
        first = results[args.blocks[0]]
        same = all(r == first for r in results.values())
        print(f"segments identical across block lengths {args.blocks}: {same}")


if __name__ == "__main__":
    main()
