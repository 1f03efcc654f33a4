"""speechmusic's segmenter against the original inaSpeechSegmenter 0.6.8, on the same machine.

    .venv/bin/python bench/segment_vs_ina.py [--ina-venv /tmp/ina] [--repeats 2]
    .venv/bin/python bench/segment_vs_ina.py --format-ina DIR [--mode fast|exact]

Creates the original's side environment if it is missing (``bench/_sideenv.py``, shared with
``bench/peers.py``; by default ``~/.cache/speechmusic/bench-envs/ina``; ``tools/golden/README.md``
explains it: TensorFlow CPU, tf-keras, inaSpeechSegmenter 0.6.8 from PyPI, ffmpeg), then segments the
librosa-data recordings (../shared/data) and a 10-minute concatenation of them with both, for the
'sm' and 'smn' engines and for 'smn' with gender, in our fast (default) and exact modes.

Both sides are timed the same way: each in its own process with its models loaded and warmed on
one file first, one call per file, decoding included; the rounds are interleaved (original, ours,
original, ours, ...) and each file keeps its best of ``--repeats`` rounds. Reports, per
configuration: the share of 20 ms frames with the same label as the original, the throughput
(seconds of audio per wall second) of each and their ratio; then the whole-process time of each
command line on all the files (start-up, imports and model loading included).

``--format-ina DIR`` does one thing instead: the files each side writes. For each configuration,
the original's command line (``ina_speech_segmenter.py``, which writes with its ``seg2csv``) and
``speechmusic segment --format ina`` segment the librosa-data recordings into
``DIR/<config>/original`` and ``DIR/<config>/ours``; then, per file, whether the two are
byte-identical, and where not, why: whether the labels differ (the engines decided differently),
or only the way the same segments are written.
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
sys.path.insert(0, str(ROOT / "bench"))
import _sideenv  # noqa: E402  (the side environments, shared with bench/peers.py)

AUDIO = ROOT.parent / "shared" / "data" / "librosa-data" / "audio"
CONFIGS = [("sm", "sm", False), ("smn", "smn", False), ("smn+gender", "smn", True)]

DRIVER = textwrap.dedent('''
    import json, sys, time
    import numpy
    numpy.lib.pad = numpy.pad          # NumPy-2 shims the 0.6.8 code needs
    numpy.int = int
    _vstack = numpy.vstack
    numpy.vstack = lambda arrays, *a, **k: _vstack(list(arrays), *a, **k)
    if sys.argv[1] == "--cli":  # the original's own command line, as its users run it
        import runpy
        script = sys.argv[2]
        sys.argv = [script] + sys.argv[3:]
        runpy.run_path(script, run_name="__main__")
        sys.exit(0)
    from inaSpeechSegmenter import Segmenter
    files = json.loads(sys.argv[1])
    out = {}
    for key, engine, gender in [("sm", "sm", False), ("smn", "smn", False), ("smn+gender", "smn", True)]:
        seg = Segmenter(vad_engine=engine, detect_gender=gender)
        seg(files[0])  # warm-up
        res = {}
        for f in files:
            t = time.perf_counter(); segs = seg(f); dt = time.perf_counter() - t
            res[f] = {"segments": [[l, float(a), float(b)] for l, a, b in segs], "seconds": dt}
        out[key] = res
    print(json.dumps(out))
''')


# Ours, timed the same way: its own process, models loaded and warmed, one call per file.
OURS = textwrap.dedent('''
    import json, sys, time
    from speechmusic.segment import Segmenter
    files = json.loads(sys.argv[1])
    out = {}
    for key, engine, gender, mode in json.loads(sys.argv[2]):
        seg = Segmenter(engine, gender=gender, mode=mode)
        seg(files[0])  # warm-up
        res = {}
        for f in files:
            t = time.perf_counter(); segs = seg(f); dt = time.perf_counter() - t
            res[f] = {"segments": [[s.label, s.start, s.stop] for s in segs], "seconds": dt}
        out[key + "/" + mode] = res
    print(json.dumps(out))
''')




def frame_labels(rows, n: int) -> np.ndarray:
    from speechmusic.segment import Segment, labels_on_grid

    return labels_on_grid([Segment(label, start, stop) for label, start, stop in rows], n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ina-venv", type=Path,
                        default=Path(os.environ.get("INA_VENV") or _sideenv.default_venv("ina")))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--format-ina", type=Path, metavar="DIR",
                        help="only compare the files both write (the original's CSV, ours with "
                             "--format ina) on the librosa-data recordings, in DIR")
    parser.add_argument("--mode", choices=("fast", "exact"), default="fast",
                        help="our segmenter's mode for --format-ina (default: fast)")
    args = parser.parse_args()
    if not AUDIO.exists():
        sys.exit(f"no shared data at {AUDIO}")
    if args.format_ina:
        compare_files(args.format_ina, args.ina_venv, mode=args.mode)
        return
    from speechmusic.audio import load_audio

    with tempfile.TemporaryDirectory() as tmp:
        files = sorted(str(p) for p in AUDIO.glob("*.ogg"))
        concat = Path(tmp) / "librosa-data-concatenated.wav"
        audio = np.concatenate([load_audio(f, sr=22050, normalize=False) for f in files])
        sf.write(concat, np.resize(audio, 600 * 22050), 22050)  # exactly 10 minutes
        files.append(str(concat))
        durations = {f: sf.info(f).duration for f in files}

        side = _sideenv.ensure("ina", args.ina_venv)
        python = side.python
        env = side.run_env()  # TF_USE_LEGACY_KERAS=1, TF_CPP_MIN_LOG_LEVEL=3, the env's ffmpeg on PATH
        ours_configs = [[key, engine, gender, mode] for mode in ("fast", "exact")
                        for key, engine, gender in CONFIGS]
        original: dict = {}
        ours: dict = {}
        for r in range(args.repeats):  # interleaved rounds, best per file on each side
            print(f"round {r + 1}/{args.repeats}: inaSpeechSegmenter 0.6.8...", flush=True)
            keep_best(original, run_json([str(python), "-c", DRIVER, json.dumps(files)], env))
            print(f"round {r + 1}/{args.repeats}: speechmusic...", flush=True)
            keep_best(ours, run_json([sys.executable, "-c", OURS, json.dumps(files),
                                      json.dumps(ours_configs)], dict(os.environ)))

        print("whole-process command lines...", flush=True)
        cli = {}
        script = args.ina_venv / "bin" / "ina_speech_segmenter.py"
        for key, engine, gender in CONFIGS:
            with tempfile.TemporaryDirectory() as out_ref, tempfile.TemporaryDirectory() as out_ours:
                cli[key] = (
                    wall([str(python), "-c", DRIVER, "--cli", str(script), "-i", *files, "-o", out_ref,
                          "-d", engine, "-g", "true" if gender else "false"], env),
                    wall([str(Path(sys.executable).parent / "speechmusic"), "segment", *files, "-o", out_ours,
                          "--engine", engine, *(["--gender"] if gender else [])], dict(os.environ)))

    total_min = sum(list(durations.values())[:-1]) / 60
    print(f"\n{len(files) - 1} librosa-data files ({total_min:.1f} min) and their 10-minute concatenation; "
          f"models loaded and warmed, best of {args.repeats} interleaved rounds")
    header = (f"{'engine':11s} {'mode':5s} {'input':21s} {'agreement':>10s} {'original x rt':>14s} "
              f"{'ours x rt':>10s} {'speed-up':>9s}")
    print(header + "\n" + "-" * len(header))
    for mode in ("fast", "exact"):
        for key, _, _ in CONFIGS:
            for subset, chosen in (("librosa-data files", files[:-1]), ("10-min concatenation", files[-1:])):
                same = total = t_ref = t_ours = dur = 0.0
                for f in chosen:
                    ref, got = original[key][f], ours[f"{key}/{mode}"][f]
                    n = int(round(max(ref["segments"][-1][2], got["segments"][-1][2]) / 0.02))
                    same += float((frame_labels(ref["segments"], n) == frame_labels(got["segments"], n)).sum())
                    total += n
                    t_ref += ref["seconds"]
                    t_ours += got["seconds"]
                    dur += durations[f]
                print(f"{key:11s} {mode:5s} {subset:21s} {same / total:10.4f} {dur / t_ref:14.1f} "
                      f"{dur / t_ours:10.1f} {t_ref / t_ours:8.1f}x")
    audio_s = sum(durations.values())
    print(f"\nwhole process, all {len(files)} inputs ({audio_s / 60:.1f} min): the original's "
          "ina_speech_segmenter.py against `speechmusic segment` (start-up, imports, model loading included)")
    header = f"{'engine':11s} {'original s':>11s} {'ours s':>8s} {'original x rt':>14s} {'ours x rt':>10s} {'speed-up':>9s}"
    print(header + "\n" + "-" * len(header))
    for key, (t_ref, t_ours) in cli.items():
        print(f"{key:11s} {t_ref:11.1f} {t_ours:8.1f} {audio_s / t_ref:14.1f} {audio_s / t_ours:10.1f} "
              f"{t_ref / t_ours:8.1f}x")


def compare_files(out: Path, ina_venv: Path, *, mode: str) -> None:
    """The original's CSV files against ours (``--format ina``), byte for byte (see the module
    docstring); prints a line per configuration and one per differing file."""
    files = sorted(str(p) for p in AUDIO.glob("*.ogg"))
    side = _sideenv.ensure("ina", ina_venv)
    env = side.run_env()
    script = ina_venv / "bin" / "ina_speech_segmenter.py"
    ours_cmd = str(Path(sys.executable).parent / "speechmusic")
    print(f"{len(files)} librosa-data recordings; the original: inaSpeechSegmenter "
          f"{side.versions.get('inaSpeechSegmenter')} (its ina_speech_segmenter.py); ours: "
          f"speechmusic segment --format ina --mode {mode}")
    for key, engine, gender in CONFIGS:
        ref_dir, our_dir = out / key / "original", out / key / "ours"
        for d in (ref_dir, our_dir):
            d.mkdir(parents=True, exist_ok=True)
            for old in d.glob("*.csv"):
                old.unlink()
        wall([str(side.python), "-c", DRIVER, "--cli", str(script), "-i", *files, "-o", str(ref_dir),
              "-d", engine, "-g", "true" if gender else "false"], env)
        wall([ours_cmd, "segment", *files, "-o", str(our_dir), "--engine", engine, "--mode", mode,
              "--format", "ina", "--overwrite", *(["--gender"] if gender else [])], dict(os.environ))
        same, notes = 0, []
        for f in files:
            name = Path(f).stem + ".csv"
            ref, got = (ref_dir / name).read_bytes(), (our_dir / name).read_bytes()
            if ref == got:
                same += 1
                continue
            notes.append(f"  {name}: {why_different(ref, got)}")
        print(f"{key}: {same}/{len(files)} files byte-identical")
        for line in notes:
            print(line)


def why_different(ref: bytes, got: bytes) -> str:
    """Why two files in the original's format differ: their labels on the 20 ms grid, their
    segments, or only how the same segments are written."""
    def rows(data: bytes) -> tuple[str, list[tuple[str, float, float]]]:
        lines = data.decode("utf-8").splitlines()
        return lines[0], [(a, float(b), float(c)) for a, b, c in (ln.split("\t") for ln in lines[1:])]

    (h_ref, r_ref), (h_got, r_got) = rows(ref), rows(got)
    if h_ref != h_got:
        return f"headers differ ({h_ref!r} / {h_got!r})"
    n = int(round(max(r_ref[-1][2], r_got[-1][2]) / 0.02))
    agree = float((frame_labels(r_ref, n) == frame_labels(r_got, n)).mean())
    frames = f"{100 * agree:.2f} % of 20 ms frames agree"
    if [r[0] for r in r_ref] != [r[0] for r in r_got]:
        return f"the engines' labels differ: {len(r_ref)} / {len(r_got)} segments, {frames}"
    if all(abs(a[1] - b[1]) < 1e-9 and abs(a[2] - b[2]) < 1e-9
           for a, b in zip(r_ref, r_got, strict=True)):
        return "the same segments, written differently (number formatting)"
    moved = sum(a[1:] != b[1:] for a, b in zip(r_ref, r_got, strict=True))
    return f"the same labels in the same order, {moved} segment(s) with other boundaries, {frames}"


def run_json(cmd: list[str], env: dict) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def keep_best(acc: dict, new: dict) -> None:
    """Per configuration and file, the run with the shortest time so far."""
    for key, files in new.items():
        for f, res in files.items():
            if f not in acc.setdefault(key, {}) or res["seconds"] < acc[key][f]["seconds"]:
                acc[key][f] = res


def wall(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
