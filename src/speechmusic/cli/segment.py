"""``speechmusic segment INPUT... -o OUTDIR``: segment recordings into speech / music / noise.

Inputs are files, directories (searched recursively for audio), glob patterns, or text files
listing one path per line (``@list.txt`` or any ``.txt``/``.lst`` file). One output per input,
named after the input's stem; existing outputs are skipped unless ``--overwrite``. A file that
fails is reported with its reason and the batch goes on; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

import numpy as np

from speechmusic.audio import AUDIO_EXTENSIONS, DECODERS, audio_info
from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.progress import progress


def add_parser(sub: argparse._SubParsersAction) -> None:
    from speechmusic.segment import EXTENSIONS, FORMATS

    p = sub.add_parser("segment", help="segment recordings into speech/music/noise/noEnergy "
                                       "(and gender)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="files, directories, globs or path lists")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--engine", default="smn",
                   help="'sm', 'smn' (INA's published networks) or a checkpoint path")
    p.add_argument("--gender", action="store_true", help="split speech into female/male")
    p.add_argument("--format", default="csv", choices=FORMATS,
                   help="output format (" + ", ".join(f"{k}: {v}" for k, v in EXTENSIONS.items()) + ")")
    p.add_argument("--frame-probs", action="store_true",
                   help="also write per-frame (20 ms) probabilities to STEM.frames.csv")
    p.add_argument("--mode", default="fast", choices=("fast", "exact"),
                   help="'exact' classifies every patch separately, as the original (slower)")
    p.add_argument("--decoder", default="auto", choices=DECODERS,
                   help="libav: FFmpeg's libraries in-process (PyAV); ffmpeg: the ffmpeg command, "
                        "as the original; soxr: soundfile + soxr; auto (default): the first available")
    p.add_argument("--min-duration-off", type=float, default=0.0, metavar="SECONDS",
                   help="classify pauses shorter than this with their surroundings instead of "
                        "reporting them as noEnergy (default 0: the original's behaviour)")
    p.add_argument("--block-seconds", type=float, default=10.0,
                   help="decoding block length: memory use, and how soon the network starts "
                        "(results do not depend on it)")
    p.add_argument("--overwrite", action="store_true", help="redo inputs whose output exists")
    p.set_defaults(run=run)


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files from paths, directories (recursive), globs and list files, in order, deduplicated."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item[1:] if item.startswith("@") else item)
        if item.startswith("@") or (path.is_file() and path.suffix.lower() in (".txt", ".lst")):
            if not path.is_file():
                raise ConfigError(f"{path}: list file not found")
            lines = [ln.strip() for ln in path.read_text().splitlines()]
            found += [Path(ln) for ln in lines if ln and not ln.startswith("#")]
        elif path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        elif any(ch in item for ch in "*?["):
            found += sorted(Path(p) for p in glob.glob(item, recursive=True))
        else:
            found.append(path)  # a missing file is reported when it is processed
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def output_path(source: Path, out_dir: Path, fmt: str, taken: dict[Path, Path]) -> Path:
    """``OUTDIR/STEM.ext``; inputs with the same stem get their parent folder's name added."""
    from speechmusic.segment import EXTENSIONS

    target = out_dir / f"{source.stem}{EXTENSIONS[fmt]}"
    if target in taken and taken[target] != source:
        target = out_dir / f"{source.parent.name}_{source.stem}{EXTENSIONS[fmt]}"
    taken[target] = source
    return target


def run(args: argparse.Namespace) -> int:
    from speechmusic.segment import Segmenter, write_segments

    files = expand_inputs(args.inputs)
    if not files:
        raise ConfigError("no input files found")
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    segmenter = Segmenter(args.engine, gender=args.gender, mode=args.mode,
                          block_seconds=args.block_seconds, decoder=args.decoder,
                          min_duration_off=args.min_duration_off)
    taken: dict[Path, Path] = {}
    jobs = [(f, output_path(f, out_dir, args.format, taken)) for f in files]
    total_seconds = 0.0
    for f, _ in jobs:
        try:
            total_seconds += audio_info(f).duration
        except SpeechMusicError:
            pass  # reported when processed
    failed, skipped, done, audio_seconds = [], 0, 0, 0.0
    start = time.perf_counter()
    bar = progress(total=round(total_seconds / 3600, 3), desc="segment", unit="h")
    for source, target in jobs:
        if target.exists() and not args.overwrite:
            skipped += 1
            continue
        try:
            analysis = segmenter.analyse(source)
        except SpeechMusicError as exc:
            failed.append((source, str(exc)))
            print(f"FAILED {source}: {exc}", file=sys.stderr)
            continue
        write_segments(analysis.segments, target, fmt=args.format, name=source.stem,
                       engine=str(args.engine))
        if args.frame_probs:
            cols, table = analysis.frame_table()
            frames = target.with_name(f"{target.name.rsplit('.', 1)[0]}.frames.csv")
            np.savetxt(frames, table, delimiter=",", header=",".join(cols), comments="",
                       fmt=["%.2f", "%d"] + ["%.4f"] * (len(cols) - 2))
        done += 1
        audio_seconds += analysis.duration
        bar.update(round(analysis.duration / 3600, 3))
    bar.close()
    wall = time.perf_counter() - start
    speed = f", {audio_seconds / wall:.0f}x real time" if wall > 0 and audio_seconds else ""
    print(f"segmented {done} file(s) ({audio_seconds / 60:.1f} min{speed}), skipped {skipped} "
          f"existing, {len(failed)} failed -> {out_dir}")
    if failed:
        with open(out_dir / "failed.tsv", "w", encoding="utf-8") as fh:
            fh.write("path\treason\n")
            fh.writelines(f"{p}\t{r}\n" for p, r in failed)
    return 1 if failed else 0
