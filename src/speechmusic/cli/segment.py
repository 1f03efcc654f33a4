"""Segment recordings into speech, music, noise and silence ('noEnergy'), as inaSpeechSegmenter.

Inputs are audio files, folders (searched recursively for audio files), glob patterns (quoted, as
``"recordings/*"``: the audio files they match, folders searched as above), or ``@LIST``: a text
file listing one input per line (blank lines and lines starting with ``#`` skipped). Audio files
are those with the extensions of ``speechmusic.audio.AUDIO_EXTENSIONS`` (listed at the end of
``speechmusic segment --help``); a file named on its own is tried whatever its extension. URLs
are not read: download the file first.

Output formats (``--format``): ``csv`` (``label,start,stop,probability``), ``ina`` (the
``labels<TAB>start<TAB>stop`` csv of inaSpeechSegmenter's ``ina_speech_segmenter.py``, byte for
byte), ``textgrid`` (Praat), ``audacity`` (label track), ``rttm`` and ``json``.

Post-processing: ``--min-duration-off`` bridges short pauses ('noEnergy' shorter than it is
classified with its surroundings); ``--min-duration-on`` removes short segments (speech, music or
noise shorter than it takes the label of its longer neighbour and merges with it), as pyannote's
options of the same names. Both default to 0: the original's output.

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
import logging
import os
import re
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
from speechmusic.cli._common import add_output, add_verb
from speechmusic.errors import (
    AudioDecodeError,
    ConfigError,
    EmptyAudioError,
    SpeechMusicError,
    UnsupportedAudioError,
)
from speechmusic.progress import BatchProgress, format_duration, format_speed

if TYPE_CHECKING:
    from speechmusic.segment import Analysis, Segmenter

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from speechmusic.segment import EXTENSIONS, FORMATS

    p = add_verb(sub, "segment", doc=__doc__,
                 epilog="Audio extensions: " + " ".join(AUDIO_EXTENSIONS),
                 help="segment recordings into speech, music, noise and silence (noEnergy), "
                      "optionally telling female from male speech")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio file, folder, quoted glob pattern, or @LIST (a file listing inputs)")
    add_output(p, required=True, aliases=("--out", "--output_directory"), metavar="OUTDIR",
               help="folder for the results: one file per input, named after it")
    p.add_argument("--engine", default="smn",
                   help="'smn' (speech/music/noise) or 'sm' (speech/music): INA's published "
                        "networks; 'overlap': speech and music detected independently (speech "
                        "over music: one tier per class in TextGrid, mirex, Audacity, RTTM and "
                        "JSON; 'speech+music' in csv); 'overlap-fast': the same, about 4x as "
                        "fast, slightly less accurate; 'overlap-yamnet': the same network with "
                        "YAMNet (AudioSet) as a second opinion, the most accurate (needs the "
                        "embeddings extra); or a model folder written by `speechmusic train` (its "
                        "model.pt), or the path of a checkpoint trained with `speechmusic run`")
    p.add_argument("--gender", action="store_true", help="split speech into female and male")
    p.add_argument("--format", default="csv", choices=FORMATS,
                   help="output format: " + ", ".join(f"{k} ({v})" for k, v in EXTENSIONS.items())
                        + "; 'ina' is inaSpeechSegmenter's own tab-separated csv")
    p.add_argument("--frame-probs", action="store_true",
                   help="also write per-frame (20 ms) probabilities to NAME.frames.csv")
    p.add_argument("--mode", default="fast", choices=("fast", "exact"),
                   help="'exact': one network pass per patch, as the original; 'fast' shares "
                        "the work between overlapping patches (measured to give the same labels)")
    p.add_argument("--decoder", default="auto", choices=DECODERS,
                   help="libav: FFmpeg's libraries in-process (PyAV); ffmpeg: the ffmpeg command, "
                        "as the original; soxr: soundfile + soxr; auto: the first available")
    p.add_argument("--energy-ratio", type=_positive_float, default=0.03, metavar="RATIO",
                   help="activity threshold: frames whose energy is below this fraction of the "
                        "file's average (geometric mean) energy are 'noEnergy' (default: %(default)s, the "
                        "original's)")
    p.add_argument("--min-duration-off", type=_non_negative_float, default=0.0, metavar="SECONDS",
                   help="classify pauses shorter than this with their surroundings instead of "
                        "reporting them as noEnergy (default: %(default)s, the original's "
                        "behaviour)")
    p.add_argument("--min-duration-on", type=_non_negative_float, default=0.0, metavar="SECONDS",
                   help="merge speech, music and noise segments shorter than this into their "
                        "longer neighbour, as pyannote's min_duration_on (default: %(default)s, "
                        "the original's behaviour)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="worker threads for the networks (default: all cores)")
    p.add_argument("--block-seconds", type=_positive_float, default=10.0, metavar="SECONDS",
                   help="decoding block length: memory use, and how soon the network starts "
                        "(results do not depend on it)")
    p.add_argument("--overwrite", action="store_true",
                   help="redo inputs already done with the same settings")
    p.set_defaults(run=run)


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


#: ``scheme://``: an input that is a URL.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def expand_inputs(inputs: list[str]) -> list[Path]:
    """The files to segment, in order, deduplicated: a path as it is (a missing or undecodable
    file is reported when it is processed), the audio files of a folder (recursively) or of a glob
    pattern, and the inputs listed in ``@LIST`` (each line a path, folder or pattern). A URL is a
    ConfigError; so is a list file that cannot be read."""
    found: list[Path] = []
    for item in inputs:
        if item.startswith("@"):
            found += _expand_one_list(item[1:])
        else:
            found += _expand_one(item)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _expand_one(item: str, *, where: str = "") -> list[Path]:
    """The files of one input (``where``: the list file and line it comes from, for errors)."""
    if _URL.match(item):
        raise ConfigError(f"{item}: URLs are not supported: download the file first{where}")
    path = Path(item)
    if path.is_dir():
        files = _audio_files_in(path)
        if not files:
            log.warning("%s: no audio file in this folder%s", item, where)
        return files
    if any(ch in item for ch in "*?[") and not path.exists():
        files = []
        for match in sorted(Path(m) for m in glob.glob(item, recursive=True)):
            files += _audio_files_in(match) if match.is_dir() else [match] if _is_audio(match) else []
        if not files:
            log.warning("%s: no audio file matches%s", item, where)
        return files
    return [path]


def _audio_files_in(folder: Path) -> list[Path]:
    """The audio files under ``folder``, recursively, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and _is_audio(p))


def _expand_one_list(name: str) -> list[Path]:
    """The inputs listed in the file ``name`` (the ``@LIST`` argument)."""
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: list file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not a text file"
        raise ConfigError(f"{path}: cannot read the list file: {reason}") from None
    found: list[Path] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            found += _expand_one(line, where=f" (listed in {path}, line {number})")
    return found


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
    only adds a file, and is kept in the done-record on its own; ``--threads`` and
    ``--block-seconds`` change how fast, not what)."""
    from speechmusic.segment.segmenter import resolve_checkpoint

    engine: Any = str(args.engine)
    if resolve_checkpoint(engine).is_file():  # a checkpoint: a retrained one counts as new
        engine = input_stamp(resolve_checkpoint(engine))
    else:
        from speechmusic.segment.overlap import SHIPPED_WEIGHTS

        if engine in SHIPPED_WEIGHTS:  # a shipped detector: new weights count as a new engine
            engine = {engine: input_stamp(SHIPPED_WEIGHTS[engine])}
    settings = {"engine": engine, "gender": args.gender, "format": args.format, "mode": args.mode,
                "decoder": segmenter.decoder, "min_duration_off": args.min_duration_off,
                "energy_ratio": segmenter.energy_ratio,
                "min_duration_on": args.min_duration_on}
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
    from speechmusic.segment.formats import format_tiers, merge_short_segments

    segments = merge_short_segments(analysis.segments, args.min_duration_on)
    job.record.unlink(missing_ok=True)
    paths = [job.segments] + ([job.frames] if args.frame_probs else [])
    with staged(paths) as temps:
        with open(temps[0], "x", encoding="utf-8") as fh:
            tiers = getattr(analysis, "tiers", None)  # an overlap-aware engine's classes
            if tiers is not None:
                fh.write(format_tiers(tiers, args.format, segments=segments, duration=analysis.duration,
                                      name=job.source.stem, engine=str(args.engine)))
            else:
                fh.write(format_segments(segments, args.format, name=job.source.stem,
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
    after the exception's type for errors that are not speechmusic's own; for a file that could
    not be decoded and has no audio extension, first that it is probably not audio."""
    text = str(exc)
    if text.startswith(str(source)):
        text = text[len(str(source)):].lstrip(": ")
    text = " ".join(text.split())
    if isinstance(exc, AudioDecodeError | UnsupportedAudioError | EmptyAudioError) \
            and not _is_audio(source):
        kind = f"a {source.suffix} file" if source.suffix else "a file without extension"
        text = f"not an audio file ({kind}): {text}"
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


class SegmentProgress(BatchProgress):
    """The batch's bar, moving within a file too: :meth:`within` (the segmenter's ``progress``
    hook) says how far into the current file the segmenter has got: decoded and classified
    (``now: NAME (12.5/45.0 min analysed, running 3:02)``, and the bar's position), then fast
    mode's exact check of close calls (``now: NAME (45.0/45.0 min analysed, 20.1 min checked,
    running 5:40)``)."""

    #: Seconds not shorter than this between two redraws from :meth:`within` (the ticker
    #: redraws every second anyway).
    redraw_every = 0.25
    analysed = 0.0  # seconds of the current file analysed
    checked = 0.0  # and checked
    _drawn = 0.0  # when within() last redrew

    def begin(self, name: str, seconds: float) -> None:
        self.analysed, self.checked, self._drawn = 0.0, 0.0, 0.0
        super().begin(name, seconds)

    def within(self, seconds: float, stage: str = "analysing") -> None:
        """``seconds`` of the current file are analysed (``stage`` "analysing") or checked
        ("checking")."""
        if self.current_seconds:
            seconds = min(seconds, self.current_seconds)
        step = 0.0
        if stage == "checking":
            self.checked = seconds
        else:
            step, self.analysed = seconds - self.analysed, seconds
        if self.bar.disable:
            return
        if self.total_seconds and step > 0:
            with self._lock:
                self.bar.n += step
        now = time.perf_counter()
        if now - self._drawn >= self.redraw_every:
            self._drawn = now
            self._render()

    def end(self, audio_seconds: float | None = None) -> None:
        # The bar already moved by what was analysed; the base class moves it by the whole file.
        if self.total_seconds and not self.bar.disable:
            with self._lock:
                self.bar.n -= self.analysed
        self.analysed = self.checked = 0.0
        super().end(audio_seconds)

    def text(self) -> str:
        text = super().text()
        analysed = self.analysed
        if not self.current or analysed <= 0:
            return text
        whole = format_duration(self.current_seconds)
        if self.current_seconds:
            unit = whole.split()[1]
            done = f"{format_duration(analysed, unit=unit).split()[0]}/{whole} analysed"
        else:  # the duration could not be read beforehand
            done = f"{format_duration(analysed)} analysed"
        if self.checked > 0:
            done += f", {format_duration(self.checked, unit=done.split()[1])} checked"
        return text.replace(f"now: {self.current} ({whole} of audio, ",
                            f"now: {self.current} ({done}, ", 1)


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
                          energy_ratio=args.energy_ratio, threads=args.threads,
                          min_duration_off=args.min_duration_off)
    settings = settings_hash(args, segmenter)
    jobs = plan_jobs(files, out_dir, args.format)
    todo = [j for j in jobs if args.overwrite or not is_done(j, settings, frames=args.frame_probs)]
    done, audio_seconds = 0, 0.0
    start = time.perf_counter()
    durations = [_duration(j.source) for j in todo]
    with SegmentProgress(durations, desc="segment") as bar:
        for job, seconds in zip(todo, durations, strict=True):
            bar.begin(job.source.name, seconds)
            stamp = input_stamp(job.source)
            try:
                analysis = segmenter.analyse(job.source, progress=bar.within)
                write_outputs(job, analysis, args, settings, stamp)
            except Exception as exc:
                bar.end(None)
                with bar.external_write():
                    failures.add(job.source, exc)
                continue
            bar.end(analysis.duration)
            done += 1
            audio_seconds += analysis.duration
    speed = format_speed(audio_seconds, time.perf_counter() - start)
    print(f"segmented {done} file(s) ({format_duration(audio_seconds)} of audio"
          f"{', ' + speed if speed else ''}), skipped {len(jobs) - len(todo)} existing, "
          f"{failures.count} failed -> {out_dir}")
    return 1 if failures.count else 0
