"""speechmusic's segmenter against the original inaSpeechSegmenter 0.6.8, on the same machine.

    .venv/bin/python bench/segment_vs_ina.py [--ina-venv /tmp/ina] [--repeats 2]

Creates the original's side environment if it is missing (``tools/golden/README.md`` explains it:
TensorFlow CPU, tf-keras, inaSpeechSegmenter 0.6.8 from PyPI, ffmpeg), then segments the
librosa-data recordings (../shared/data) and a 10-minute concatenation of them with both, for the
'sm' and 'smn' engines and for 'smn' with gender. Reports, per configuration: the share of 20 ms
frames with the same label, and throughput (seconds of audio per wall second, models loaded,
decoding included, best of ``--repeats``) of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "data" / "librosa-data" / "audio"
CONFIGS = [("sm", "sm", False), ("smn", "smn", False), ("smn+gender", "smn", True)]

DRIVER = textwrap.dedent('''
    import json, sys, time
    import numpy
    numpy.lib.pad = numpy.pad          # NumPy-2 shims the 0.6.8 code needs
    numpy.int = int
    _vstack = numpy.vstack
    numpy.vstack = lambda arrays, *a, **k: _vstack(list(arrays), *a, **k)
    from inaSpeechSegmenter import Segmenter
    files, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
    out = {}
    for key, engine, gender in [("sm", "sm", False), ("smn", "smn", False), ("smn+gender", "smn", True)]:
        seg = Segmenter(vad_engine=engine, detect_gender=gender)
        seg(files[0])  # warm-up
        res = {}
        for f in files:
            best = None
            for _ in range(repeats):
                t = time.perf_counter(); segs = seg(f); dt = time.perf_counter() - t
                best = dt if best is None else min(best, dt)
            res[f] = {"segments": [[l, float(a), float(b)] for l, a, b in segs], "seconds": best}
        out[key] = res
    print(json.dumps(out))
''')


def ensure_ina_env(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if python.exists():
        return python
    print(f"creating the original's environment in {venv} (a few minutes)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + ["tensorflow-cpu", "tf-keras", "h5py", "soundfile", "pandas", "scikit-image",
                          "scikit-learn", "sortedcollections", "xarray"], check=True)
    subprocess.run(pip + ["--no-deps", "inaSpeechSegmenter==0.6.8", "pyannote.algorithms",
                          "pyannote.core", "sortedcontainers", "simplejson", "pytextgrid"], check=True)
    return python


def frame_labels(rows, n: int) -> np.ndarray:
    from speechmusic.segment import Segment, labels_on_grid

    return labels_on_grid([Segment(label, start, stop) for label, start, stop in rows], n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ina-venv", type=Path, default=Path(os.environ.get("INA_VENV", "/tmp/ina")))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not AUDIO.exists():
        sys.exit(f"no shared data at {AUDIO}")
    from speechmusic.audio import load_audio
    from speechmusic.segment import Segmenter

    with tempfile.TemporaryDirectory() as tmp:
        files = sorted(str(p) for p in AUDIO.glob("*.ogg"))
        concat = Path(tmp) / "librosa-data-concatenated.wav"
        audio = np.concatenate([load_audio(f, sr=22050, normalize=False) for f in files])
        sf.write(concat, np.resize(audio, 600 * 22050), 22050)  # exactly 10 minutes
        files.append(str(concat))
        durations = {f: sf.info(f).duration for f in files}

        python = ensure_ina_env(args.ina_venv)
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
        print("running inaSpeechSegmenter 0.6.8...", flush=True)
        proc = subprocess.run([str(python), "-c", DRIVER, json.dumps(files), str(args.repeats)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(f"the original failed:\n{proc.stderr[-3000:]}")
        original = json.loads(proc.stdout.strip().splitlines()[-1])

        print("running speechmusic...", flush=True)
        ours: dict[str, dict] = {}
        for key, engine, gender in CONFIGS:
            seg = Segmenter(engine, gender=gender)
            seg(files[0])
            ours[key] = {}
            for f in files:
                best, segs = None, None
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    segs = seg(f)
                    dt = time.perf_counter() - t
                    best = dt if best is None else min(best, dt)
                ours[key][f] = {"segments": [[s.label, s.start, s.stop] for s in segs], "seconds": best}

    print(f"\n{len(files) - 1} librosa-data files ({sum(list(durations.values())[:-1]) / 60:.1f} min) "
          f"and their 10-minute concatenation; best of {args.repeats}")
    header = f"{'engine':12s} {'input':22s} {'agreement':>10s} {'original x rt':>14s} {'ours x rt':>10s} {'speed-up':>9s}"
    print(header + "\n" + "-" * len(header))
    for key, _, _ in CONFIGS:
        for subset, chosen in (("librosa-data files", files[:-1]), ("10-min concatenation", files[-1:])):
            same = total = t_ref = t_ours = dur = 0.0
            for f in chosen:
                ref, got = original[key][f], ours[key][f]
                n = int(round(max(ref["segments"][-1][2], got["segments"][-1][2]) / 0.02))
                same += float((frame_labels(ref["segments"], n) == frame_labels(got["segments"], n)).sum())
                total += n
                t_ref += ref["seconds"]
                t_ours += got["seconds"]
                dur += durations[f]
            print(f"{key:12s} {subset:22s} {same / total:10.4f} {dur / t_ref:14.1f} {dur / t_ours:10.1f} "
                  f"{t_ref / t_ours:8.1f}x")


if __name__ == "__main__":
    main()
