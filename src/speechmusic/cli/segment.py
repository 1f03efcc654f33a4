"""``speechmusic segment INPUT... -o OUTDIR``: segment recordings into speech / music / noise.

Inputs are files, directories (searched recursively for audio), glob patterns, or text files
listing one path per line (``@list.txt`` or any ``.txt``/``.lst`` file).

Naming: one output per input, ``NAME.ext`` (and ``NAME.frames.csv`` with ``--frame-probs``). NAME
is the input's stem where no other input of the batch has that stem; otherwise the shortest end
of its path below the inputs' common folder that tells it apart, joined with ``_``
(``a/x/s.wav`` and ``b/x/s.wav`` give ``a_x_s`` and ``b_x_s``), then the extension or a hash of
the path where even that is shared. Names depend on the set of inputs, not on their order.

Skipping: after its outputs, each input gets a hidden record ``.NAME.ext.done.json`` (the input's
absolute path, size and modification time, a hash of the settings that change the output). An
input is skipped only when its outputs exist and the record matches the input and this run's
settings; ``--overwrite`` redoes it regardless.

Failures and interruptions: a file that fails for any reason is reported as ``FAILED PATH:
REASON``, appended at once to ``OUTDIR/failed.tsv`` (emptied when a run starts) and the batch
goes on; the exit status is 1 if any failed. Outputs are written to temporaries
``.NAME.partial-PID`` and renamed into place only when complete, so an interrupted batch (Ctrl-C,
SIGTERM: exit 130 / 143; even SIGKILL) leaves nothing a rerun takes as done. An output folder
that cannot be created or written is an error (exit 2) before any work.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from speechmusic.audio import AUDIO_EXTENSIONS, DECODERS, audio_info
from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.progress import progress

if TYPE_CHECKING:
    from speechmusic.segment import Analysis, Segmenter


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
                   help="also write per-frame (20 ms) probabilities to NAME.frames.csv")
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
    p.add_argument("--overwrite", action="store_true", help="redo inputs already done with the same settings")
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


def output_names(files: Sequence[Path]) -> list[str]:
    """One output base name per input, unique in the batch (compared case-insensitively) and
    independent of the inputs' order: see the module's docstring."""
    paths = [Path(os.path.abspath(f)) for f in files]
    folders = [p.parent.parts[1:] for p in paths]
    common = len(os.path.commonprefix(folders))
    below = [d[common:] for d in folders]  # the folders below the inputs' common one
    parts = [d + (p.stem,) for d, p in zip(below, paths, strict=True)]
    by_stem: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for ps in parts:
        by_stem[ps[-1].casefold()].append(ps)
    names = ["_".join(_shortest_distinct_end(ps, by_stem[ps[-1].casefold()])) for ps in parts]
    extensions = [p.suffix.lstrip(".").lower() for p in paths]
    digests = [hashlib.sha1("/".join(d + (p.name,)).encode()).hexdigest()[:8]
               for d, p in zip(below, paths, strict=True)]
    for extra in (extensions, digests):  # only where names still collide
        taken = Counter(n.casefold() for n in names)
        names = [f"{n}_{x}" if taken[n.casefold()] > 1 else n
                 for n, x in zip(names, extra, strict=True)]
    return names


def _shortest_distinct_end(parts: tuple[str, ...], group: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The fewest last elements of ``parts`` that no other path of ``group`` ends with (all of
    ``parts`` where none is enough)."""
    others = list(group)
    others.remove(parts)
    for k in range(1, len(parts)):
        end = [x.casefold() for x in parts[-k:]]
        if all([x.casefold() for x in o[-k:]] != end for o in others):
            return parts[-k:]
    return parts


def prepare_output_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` if needed and prove that files can be written in it; ConfigError (the
    command's exit status 2) otherwise."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: the output path exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".speechmusic-probe-{os.getpid()}"
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise PermissionError("permission denied")
        with open(probe, "w"):
            pass
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{out_dir}: cannot write in the output folder: "
                          f"{exc.strerror or exc}") from None
    return out_dir


@dataclass(frozen=True)
class Job:
    """One input and the files it gives in the output folder."""

    source: Path
    segments: Path

    @property
    def frames(self) -> Path:
        """``NAME.frames.csv``: the per-frame probabilities."""
        return self.segments.with_name(f"{self.segments.name.rsplit('.', 1)[0]}.frames.csv")

    @property
    def record(self) -> Path:
        """``.NAME.ext.done.json``: what the outputs were made from."""
        return self.segments.with_name(f".{self.segments.name}.done.json")


def plan_jobs(files: Sequence[Path], out_dir: Path, fmt: str) -> list[Job]:
    """A job per input, with the output names of :func:`output_names`."""
    from speechmusic.segment import EXTENSIONS

    return [Job(f, out_dir / f"{name}{EXTENSIONS[fmt]}")
            for f, name in zip(files, output_names(files), strict=True)]


def settings_hash(args: argparse.Namespace, segmenter: Segmenter) -> str:
    """A hash of every setting that changes the segments written for an input (``--frame-probs``
    only adds a file, and is kept in the done-record on its own)."""
    engine: Any = str(args.engine)
    if Path(engine).is_file():  # a checkpoint: a retrained one at the same path counts as new
        engine = input_stamp(Path(engine))
    settings = {"engine": engine, "gender": args.gender, "format": args.format, "mode": args.mode,
                "decoder": segmenter.decoder, "min_duration_off": args.min_duration_off,
                "energy_ratio": segmenter.energy_ratio}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def input_stamp(path: Path) -> dict[str, Any] | None:
    """The absolute path, size and modification time of ``path`` (None if it cannot be read)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_done(job: Job, settings: str, *, frames: bool) -> bool:
    """Whether ``job``'s outputs exist and its record says they were made from the input as it is
    now, with ``settings`` (and with frame probabilities where ``frames``)."""
    try:
        record = json.loads(job.record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    stamp = input_stamp(job.source)
    return (isinstance(record, dict) and stamp is not None and record.get("input") == stamp
            and record.get("settings") == settings and job.segments.is_file()
            and (not frames or (record.get("frames") is True and job.frames.is_file())))


@contextmanager
def staged(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporaries ``.NAME.partial-PID`` beside ``paths``, to be created by the caller: renamed onto
    ``paths`` when the block ends normally, removed when it raises (interruptions included).
    Created afresh, they get the permissions of the process's umask."""
    temps = [p.with_name(f".{p.name}.partial-{os.getpid()}") for p in paths]
    try:
        for tmp in temps:
            tmp.unlink(missing_ok=True)  # left by a killed process that had our id
        yield temps
        for tmp, path in zip(temps, paths, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def write_outputs(job: Job, analysis: Analysis, args: argparse.Namespace, settings: str,
                  stamp: dict[str, Any] | None) -> None:
    """Write ``job``'s segments (and frame probabilities), then its done-record. The old record
    goes first, so that outputs half replaced are never taken as done."""
    from speechmusic.segment import format_segments

    job.record.unlink(missing_ok=True)
    paths = [job.segments] + ([job.frames] if args.frame_probs else [])
    with staged(paths) as temps:
        with open(temps[0], "x", encoding="utf-8") as fh:
            fh.write(format_segments(analysis.segments, args.format, name=job.source.stem,
                                     engine=str(args.engine)))
        if args.frame_probs:
            cols, table = analysis.frame_table()
            with open(temps[1], "x", encoding="utf-8") as fh:
                np.savetxt(fh, table, delimiter=",", header=",".join(cols), comments="",
                           fmt=["%.2f", "%d"] + ["%.4f"] * (len(cols) - 2))
    record = {"input": stamp, "settings": settings, "frames": bool(args.frame_probs)}
    with staged([job.record]) as (tmp,):
        with open(tmp, "x", encoding="utf-8") as fh:
            json.dump(record, fh)


class FailureLog:
    """Failed inputs: each printed as ``FAILED PATH: REASON`` and appended at once to
    ``failed.tsv`` (header ``path<TAB>reason``), which is removed when the log is created."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        path.unlink(missing_ok=True)

    def add(self, source: Path, exc: Exception) -> None:
        """Report that ``source`` failed with ``exc``."""
        reason = failure_reason(source, exc)
        print(f"FAILED {source}: {reason}", file=sys.stderr)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(("" if self.count else "path\treason\n") + f"{source}\t{reason}\n")
        self.count += 1


def failure_reason(source: Path, exc: Exception) -> str:
    """One line saying why ``source`` failed: the message without the path it may start with,
    after the exception's type for errors that are not speechmusic's own."""
    text = str(exc)
    if text.startswith(str(source)):
        text = text[len(str(source)):].lstrip(": ")
    text = " ".join(text.split())
    if isinstance(exc, SpeechMusicError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: the batch stops as on Ctrl-C."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs in the main thread, SIGTERM raises :class:`Terminated` (once: later
    ones are ignored while it unwinds); the previous handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _duration(path: Path) -> float:
    """The input's duration in seconds, 0 if it cannot be read (reported when processed)."""
    try:
        return audio_info(path).duration
    except Exception:
        return 0.0


def run(args: argparse.Namespace) -> int:
    """The ``segment`` verb: :func:`segment_batch`, stopped cleanly on SIGTERM (status 143)."""
    try:
        with sigterm_as_interrupt():
            return segment_batch(args)
    except Terminated:
        print("speechmusic: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM


def segment_batch(args: argparse.Namespace) -> int:
    """The batch: plan, skip what is done, segment the rest; 1 if any input failed."""
    from speechmusic.segment import Segmenter

    files = expand_inputs(args.inputs)
    if not files:
        raise ConfigError("no input files found")
    out_dir = prepare_output_dir(Path(args.output))
    failures = FailureLog(out_dir / "failed.tsv")
    segmenter = Segmenter(args.engine, gender=args.gender, mode=args.mode,
                          block_seconds=args.block_seconds, decoder=args.decoder,
                          min_duration_off=args.min_duration_off)
    settings = settings_hash(args, segmenter)
    jobs = plan_jobs(files, out_dir, args.format)
    todo = [j for j in jobs if args.overwrite or not is_done(j, settings, frames=args.frame_probs)]
    done, audio_seconds = 0, 0.0
    start = time.perf_counter()
    bar = progress(total=round(sum(map(_duration, (j.source for j in todo))) / 3600, 3),
                   desc="segment", unit="h")
    for job in todo:
        stamp = input_stamp(job.source)
        try:
            analysis = segmenter.analyse(job.source)
            write_outputs(job, analysis, args, settings, stamp)
        except Exception as exc:
            failures.add(job.source, exc)
            continue
        done += 1
        audio_seconds += analysis.duration
        bar.update(round(analysis.duration / 3600, 3))
    bar.close()
    wall = time.perf_counter() - start
    speed = f", {audio_seconds / wall:.0f}x real time" if wall > 0 and audio_seconds else ""
    print(f"segmented {done} file(s) ({audio_seconds / 60:.1f} min{speed}), skipped "
          f"{len(jobs) - len(todo)} existing, {failures.count} failed -> {out_dir}")
    return 1 if failures.count else 0
