"""Audio input: decoding, resampling, peak normalisation and block streaming.

Files are read with soundfile (libsndfile); what libsndfile cannot read (mp3 on old builds, m4a/aac,
video containers) is decoded by an ``ffmpeg`` subprocess. Resampling uses soxr. For the
segmenter, which reproduces inaSpeechSegmenter's input (FFmpeg's decoder and resampler, 16-bit),
FFmpeg's libraries are also used in-process through PyAV (``decoder="libav"``). Every problem with a
file is raised as a :class:`~speechmusic.errors.AudioError` subclass naming the file and the reason.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from speechmusic.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    ConfigError,
    EmptyAudioError,
    NonFiniteAudioError,
    UnsupportedAudioError,
)

__all__ = [
    "AudioInfo",
    "audio_info",
    "load_audio",
    "iter_audio_blocks",
    "iter_audio_rates",
    "resample",
    "to_mono",
    "peak_normalize",
    "check_finite",
    "AUDIO_EXTENSIONS",
    "libav_available",
    "DECODERS",
]

#: Extensions treated as audio when a directory is scanned.
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".au",
    ".wma", ".mp4", ".mkv", ".webm", ".mov", ".avi", ".caf", ".w64",
)

#: How the segmenter may decode (see ``Segmenter(decoder=...)``).
DECODERS = ("auto", "libav", "ffmpeg", "soxr")

MAX_CHANNELS = 8
_LIBAV_PUSH = 16384  # samples per resampler call (see _libav_pcm16_blocks)
_STDERR_TAIL = 8192  # bytes of an ffmpeg's stderr kept for its error message


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, before decoding: native rate, channels, frames, duration in seconds."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    backend: str  # "soundfile" or "ffmpeg"

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


# ----------------------------------------------------------------------------- array helpers


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average channels. ``audio`` is ``[channels, samples]`` or ``[samples]``; returns ``[samples]``."""
    if audio.ndim == 1:
        return audio
    return audio.mean(axis=0, dtype=np.float32)


def resample(audio: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``[samples]`` or ``[channels, samples]`` float32 audio with soxr (HQ)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ConfigError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    if audio.ndim == 1:
        return soxr.resample(audio, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    out = soxr.resample(np.ascontiguousarray(audio.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def peak_normalize(audio: np.ndarray, *, peak: float | None = None) -> np.ndarray:
    """Scale so that the largest absolute sample is 1 (the paper's [-1, 1] normalisation).

    Silence (all zeros) is returned unchanged. ``peak`` overrides the measured peak, which lets a
    streamed file be normalised by the peak of the whole file.
    """
    if peak is None:
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0.0:
        return (audio * np.float32(1.0 / peak)).astype(np.float32, copy=False)
    return audio


def check_finite(audio: np.ndarray, path: str | os.PathLike | None = None) -> None:
    """Raise :class:`NonFiniteAudioError` if ``audio`` holds NaN or infinite samples."""
    if not np.isfinite(audio).all():
        bad = int(np.size(audio) - np.count_nonzero(np.isfinite(audio)))
        raise NonFiniteAudioError(path, f"{bad} NaN or infinite sample(s); the file is damaged")


# ----------------------------------------------------------------------------- probing


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise AudioFileNotFoundError(p, "no such file")
    if p.is_dir():
        raise AudioDecodeError(p, "is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise EmptyAudioError(p, "the file is empty (0 bytes)")
    return p


def _ffprobe(path: Path) -> AudioInfo:
    exe = shutil.which("ffprobe")
    if exe is None:
        raise AudioDecodeError(
            path,
            "libsndfile cannot read this format and ffmpeg/ffprobe is not installed "
            "(install ffmpeg, e.g. `apt-get install ffmpeg`, to read mp3/m4a/video files)",
        )
    cmd = [exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration,duration_ts,time_base:format=duration",
           "-of", "json", str(path)]
    proc = subprocess.run(cmd, capture_output=True)  # output bounded: a few lines of JSON
    try:
        meta = json.loads(proc.stdout or "{}")
        stream = meta["streams"][0]
    except (ValueError, KeyError, IndexError):
        reason = _last_line(proc.stderr) or "no audio stream"
        reason = reason.replace(f"{path}: ", "")  # ffprobe repeats the path
        raise AudioDecodeError(path, f"cannot decode: {reason}") from None
    sr = int(stream.get("sample_rate", 0) or 0)
    channels = int(stream.get("channels", 0) or 0)
    duration = stream.get("duration") or meta.get("format", {}).get("duration") or 0.0
    if sr <= 0 or channels <= 0:
        raise AudioDecodeError(path, "ffprobe found no usable audio stream")
    return AudioInfo(str(path), sr, channels, int(round(float(duration) * sr)), "ffmpeg")


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Probe a file without decoding it.

    Raises:
        AudioFileNotFoundError, EmptyAudioError, AudioDecodeError, UnsupportedAudioError
    """
    p = _check_path(path)
    try:
        info = sf.info(str(p))
        result = AudioInfo(str(p), int(info.samplerate), int(info.channels), int(info.frames),
                           "soundfile")
    except (sf.LibsndfileError, RuntimeError, TypeError):
        result = _ffprobe(p)
    if result.channels > MAX_CHANNELS:
        raise UnsupportedAudioError(p, f"{result.channels} channels; at most {MAX_CHANNELS} are supported")
    if result.frames == 0 and result.backend == "soundfile":
        raise EmptyAudioError(p, "the file holds no audio samples")
    return result


# ----------------------------------------------------------------------------- decoding


def _ffmpeg_cmd(path: Path, *, channels: int, sr: int, offset: float, duration: float | None) -> list[str]:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioDecodeError(path, "libsndfile cannot read this format and ffmpeg is not installed")
    cmd = [exe, "-v", "error", "-nostdin"]
    if offset > 0:
        cmd += ["-ss", f"{offset:.6f}"]
    cmd += ["-i", str(path)]
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    # ffmpeg resamples here with its own resampler only when asked; we keep the native rate and
    # resample with soxr so that every backend goes through the same resampler.
    cmd += ["-vn", "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(sr), "-"]
    return cmd


def _last_line(stderr: bytes) -> str:
    """The last non-blank line of a tool's stderr (its error message), or ``""``."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else ""


def _ffmpeg_output(cmd: list[str], path: Path, chunk_bytes: int) -> Iterator[bytes]:
    """The stdout of the ffmpeg command ``cmd`` in chunks of ``chunk_bytes`` (the last one may
    be shorter), as it is produced.

    Its stderr is read alongside by a thread that keeps the last few KiB: an ffmpeg that logs more
    than a pipe's buffer (64 KiB) cannot stall, and its last line is the error message. Stopping
    early ends the process.

    Raises:
        AudioDecodeError: ffmpeg exited with an error.
    """
    tail = bytearray()

    def drain(pipe) -> None:
        while chunk := pipe.read1(_STDERR_TAIL):
            tail.extend(chunk)
            del tail[:-_STDERR_TAIL]

    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        stdout, stderr = proc.stdout, proc.stderr
        assert stdout is not None and stderr is not None  # PIPE was asked for
        reader = threading.Thread(target=drain, args=(stderr,), name="ffmpeg-stderr", daemon=True)
        reader.start()
        done = False
        try:
            while chunk := stdout.read(chunk_bytes):
                yield chunk
            done = True
        finally:
            if not done:
                proc.kill()
            proc.wait()
            reader.join()
    if proc.returncode != 0:
        raise AudioDecodeError(path, f"ffmpeg failed: {_last_line(bytes(tail)) or proc.returncode}")


def _read_ffmpeg(path: Path, info: AudioInfo, offset: float, duration: float | None) -> np.ndarray:
    cmd = _ffmpeg_cmd(path, channels=info.channels, sr=info.sample_rate, offset=offset, duration=duration)
    # The whole file is wanted in memory anyway; communicate() reads stdout and stderr together.
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise AudioDecodeError(path, f"ffmpeg failed: {_last_line(proc.stderr) or proc.returncode}")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    usable = data.size - data.size % info.channels
    return data[:usable].reshape(-1, info.channels).T.copy()


def _read_soundfile(path: Path, info: AudioInfo, offset: float, duration: float | None) -> np.ndarray:
    start = int(round(offset * info.sample_rate))
    stop = None if duration is None else start + int(round(duration * info.sample_rate))
    try:
        data, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(path, f"cannot decode: {exc}") from None
    return np.ascontiguousarray(data.T)


def load_audio(
    path: str | os.PathLike,
    *,
    sr: int | None = 22050,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Load an audio file as float32.

    Args:
        path: the file.
        sr: target sample rate; ``None`` keeps the file's own rate.
        mono: average channels into one.
        offset: start reading this many seconds in.
        duration: read at most this many seconds.
        normalize: peak-normalise into [-1, 1], as the paper does (peak measured at the file's
            own rate, so resampling may overshoot it by a fraction of a percent).

    Returns:
        ``[samples]`` if ``mono`` else ``[channels, samples]``, float32.

    Raises:
        AudioFileNotFoundError, EmptyAudioError, AudioDecodeError, NonFiniteAudioError,
        UnsupportedAudioError: each message names the file and the reason.
    """
    if offset < 0:
        raise ConfigError(f"offset must be >= 0, got {offset}")
    if duration is not None and duration <= 0:
        raise ConfigError(f"duration must be > 0, got {duration}")
    info = audio_info(path)
    p = Path(path)
    if info.backend == "soundfile":
        audio = _read_soundfile(p, info, offset, duration)
    else:
        audio = _read_ffmpeg(p, info, offset, duration)
    if audio.shape[-1] == 0:
        if offset > 0 and offset >= info.duration:
            raise EmptyAudioError(p, f"offset {offset:.3f} s is past the end ({info.duration:.3f} s)")
        raise EmptyAudioError(p, "the file decodes to zero samples")
    check_finite(audio, p)
    if mono:
        audio = to_mono(audio)
    if normalize:
        # The peak is taken at the native rate, before resampling, so that a streamed file
        # (iter_audio_blocks) gets exactly the same gain.
        audio = peak_normalize(audio)
    if sr is not None:
        audio = resample(audio, orig_sr=info.sample_rate, target_sr=sr)
    return np.ascontiguousarray(audio, dtype=np.float32)


# ----------------------------------------------------------------------------- streaming


def _native_blocks(p: Path, info: AudioInfo, frames: int) -> Iterator[np.ndarray]:
    """Yield ``[frames, channels]`` float32 blocks of the file at its native rate."""
    if info.backend == "soundfile":
        try:
            with sf.SoundFile(str(p)) as f:
                while True:
                    block = f.read(frames, dtype="float32", always_2d=True)
                    if block.shape[0] == 0:
                        return
                    yield block
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioDecodeError(p, f"cannot decode: {exc}") from None
        return
    cmd = _ffmpeg_cmd(p, channels=info.channels, sr=info.sample_rate, offset=0.0, duration=None)
    for raw in _ffmpeg_output(cmd, p, frames * info.channels * 4):
        data = np.frombuffer(raw[: len(raw) - len(raw) % (4 * info.channels)], dtype="<f4")
        yield data.reshape(-1, info.channels)


def _file_peak(p: Path, info: AudioInfo, frames: int) -> float:
    peak = 0.0
    for block in _native_blocks(p, info, frames):
        check_finite(block, p)
        peak = max(peak, float(np.max(np.abs(block.mean(axis=1)))))
    return peak


def _ffmpeg_pcm16_blocks(p: Path, *, sr: int, block_len: int) -> Iterator[np.ndarray]:
    """ffmpeg decodes, downmixes, resamples and quantises to 16 bits, exactly as
    inaSpeechSegmenter prepares its input (``ffmpeg -i IN -ar SR -ac 1 tmp.wav``)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioDecodeError(p, "decoder='ffmpeg' needs ffmpeg (e.g. `apt-get install ffmpeg`)")
    cmd = [exe, "-v", "error", "-nostdin", "-i", str(p), "-vn", "-ar", str(sr), "-ac", "1",
           "-f", "s16le", "-acodec", "pcm_s16le", "-"]
    produced = 0
    for raw in _ffmpeg_output(cmd, p, block_len * 2):
        data = np.frombuffer(raw[: len(raw) - len(raw) % 2], dtype="<i2")
        produced += data.size
        yield data.astype(np.float32) / np.float32(32768.0)
    if produced == 0:
        raise EmptyAudioError(p, "the file decodes to zero samples")


def libav_available() -> bool:
    """Whether PyAV (FFmpeg's libraries in-process) can be imported."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _import_av(p: Path):
    """The ``av`` module (PyAV), or an AudioDecodeError saying it is needed."""
    try:
        import av
    except ImportError:
        raise AudioDecodeError(p, "decoder='libav' needs PyAV (pip install av)") from None
    return av


_LIBAV_PROBE_BYTES = 32768


def _libav_open_quickly(av, p: Path):
    """The container opened with FFmpeg's stream probing limited to the first 32 KB, when that
    finds what a full probe would: one stream, audio, whose rate, channels and sample format are
    known (WAV, FLAC, MP3, Ogg...: the header says them). Else None, and the caller probes as
    FFmpeg does by default (5 MB), as for a video, a broadcast stream or a file it cannot read.
    Only the probing changes, not the decoding: on a PCM WAV FFmpeg reads the first 5 MB to
    probe, 10-15 ms per file here, the largest fixed cost of segmenting a short file."""
    try:
        container = av.open(str(p), options={"probesize": str(_LIBAV_PROBE_BYTES)})
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        return None
    streams = container.streams
    ctx = streams[0].codec_context if len(streams) == 1 and streams.audio else None
    if ctx is None or not ctx.sample_rate or not ctx.channels or ctx.format is None:
        container.close()
        return None
    return container


def _libav_frames(p: Path) -> Iterator:
    """The decoded frames (``av.AudioFrame``, the codec's own format) of the file's first audio
    stream, by FFmpeg's libraries in this process (PyAV). Every problem is an AudioError naming
    the file and the reason."""
    av = _import_av(p)
    p = _check_path(p)

    def reason(exc: Exception) -> str:
        # FFmpegError's str() carries the errno and the path; its strerror is the message.
        text = getattr(exc, "strerror", None) or str(exc).replace(str(p), "").strip(" :'")
        return text or type(exc).__name__

    container = _libav_open_quickly(av, p)
    if container is None:
        try:
            container = av.open(str(p))
        except (av.FFmpegError, UnicodeDecodeError) as exc:
            raise AudioDecodeError(p, f"cannot decode: {reason(exc)}") from None
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(p, "the file has no audio stream")
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels
        if channels > MAX_CHANNELS:
            raise UnsupportedAudioError(p, f"{channels} channels; at most {MAX_CHANNELS} are supported")
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                raise AudioDecodeError(p, f"cannot decode: {reason(exc)}") from None
            yield frame


def _libav_pcm16_blocks(p: Path, *, sr: int, block_len: int) -> Iterator[np.ndarray]:
    """What ``_ffmpeg_pcm16_blocks`` gives, from FFmpeg's libraries in this process (PyAV).

    The same decoders and the same filter graph as the ``ffmpeg`` command line (``aresample``,
    then ``aformat`` to 16-bit mono at ``sr``) without starting a process per file, which costs
    about 60 ms here, as long as decoding a minute of OGG. The resampler's working format is set
    the way libswresample 4 (FFmpeg 5/6, what inaSpeechSegmenter users run) chooses it: 16-bit
    for 8/16-bit input, float otherwise; newer versions always use float, and 16-bit WAV input
    would then differ by up to 4 steps. PyAV's bundled decoders may still differ from the
    system's by one 16-bit step in a few samples in 10,000.
    """
    av = _import_av(p)

    def pulled(graph) -> Iterator[np.ndarray]:
        while True:
            try:
                out = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            # Packed mono s16: one plane (to_ndarray() costs a vstack per frame).
            yield np.frombuffer(out.planes[0], dtype=np.int16, count=out.samples)

    def resampled(frames: Iterator) -> Iterator[np.ndarray]:
        # The resampler gets the frames in pieces of _LIBAV_PUSH samples: the same samples for
        # 40 % less time than a push and a pull per frame. Its graph is set up for the first
        # frame's format; a stream whose format changes part-way is an error.
        first = next(frames, None)
        if first is None:
            return
        graph = _libav_graph(av.filter.Graph(), first, sr)
        for piece in _libav_pieces(av, itertools.chain([first], frames), p, format_changes=False):
            graph.push(piece)
            yield from pulled(graph)
        graph.push(None)
        yield from pulled(graph)

    produced = 0
    for block in _fixed_blocks(resampled(_libav_frames(p)), block_len):
        produced += block.size
        yield block.astype(np.float32) / np.float32(32768.0)
    if produced == 0:
        raise EmptyAudioError(p, "the file decodes to zero samples")


def _libav_pieces(av, frames: Iterable, p: Path, *, format_changes: bool) -> Iterator:
    """PyAV's decoded frames (about 40 per second of audio) regrouped through a FIFO into frames
    of ``_LIBAV_PUSH`` samples, the last one shorter: the same samples in far fewer pieces. Where
    the sample format or channel layout changes part-way, ``format_changes`` flushes the FIFO and
    goes on in the new format; else it is an AudioDecodeError."""
    fifo = av.AudioFifo()
    for frame in frames:
        frame.pts = None  # the FIFO checks timestamps; the samples are what counts here
        try:
            fifo.write(frame)
        except ValueError as exc:
            if not format_changes:
                raise AudioDecodeError(p, f"cannot decode: {exc}") from None
            if fifo.samples:
                yield fifo.read()
            fifo = av.AudioFifo()
            fifo.write(frame)
        while fifo.samples >= _LIBAV_PUSH:
            yield fifo.read(_LIBAV_PUSH)
    if fifo.samples:
        yield fifo.read()


def _frame_samples(frame) -> np.ndarray:
    """A decoded PyAV frame as float32 ``[samples, channels]``, integer formats scaled into
    [-1, 1) as libsndfile scales them."""
    data = frame.to_ndarray()  # planar: [channels, samples]; packed: [1, samples * channels]
    channels = len(frame.layout.channels)
    data = data.reshape(channels, -1).T if frame.format.is_planar else data.reshape(-1, channels)
    if data.dtype.kind == "u":  # 8-bit: unsigned, centred on 128
        return (data.astype(np.float32) - 128.0) / np.float32(128.0)
    if data.dtype.kind == "i":
        return data.astype(np.float32) / np.float32(2.0 ** (8 * data.dtype.itemsize - 1))
    return data.astype(np.float32, copy=False)


def _libav_native(p: Path) -> tuple[int, Iterator[np.ndarray]]:
    """The file's sample rate and its samples as float32 ``[frames, channels]`` pieces (one per
    decoded frame, at that rate), decoded by PyAV; the file is opened here."""
    frames = _libav_frames(p)
    first = next(frames, None)
    if first is None:
        raise EmptyAudioError(p, "the file decodes to zero samples")
    rate = first.sample_rate

    def same_rate(frames: Iterator) -> Iterator:
        for frame in frames:
            if frame.sample_rate != rate:
                raise AudioDecodeError(p, f"cannot decode: the sample rate changes part-way "
                                          f"({rate} -> {frame.sample_rate} Hz)")
            yield frame

    # Converted _LIBAV_PUSH samples at a time: the same samples, in a quarter of the time of a
    # conversion per frame on a 10-minute WAV (most of it NumPy's per-call overhead).
    pieces = _libav_pieces(_import_av(p), same_rate(itertools.chain([first], frames)), p, format_changes=True)
    return rate, (_frame_samples(piece) for piece in pieces)


def _libav_graph(graph, frame, sr: int):
    """``abuffer -> aresample -> aformat (16-bit mono at sr) -> abuffersink`` for ``frame``'s
    format, configured; the resampler's working format as libswresample 4 picks it."""
    source = graph.add_abuffer(format=frame.format.name, sample_rate=frame.sample_rate,
                               layout=frame.layout.name, time_base=frame.time_base)
    working = "s16p" if frame.format.bytes <= 2 else ("dblp" if frame.format.bytes == 8 else "fltp")
    resample = graph.add("aresample", f"{sr}:internal_sample_fmt={working}")
    target = graph.add("aformat", f"sample_fmts=s16:sample_rates={sr}:channel_layouts=mono")
    sink = graph.add("abuffersink")
    source.link_to(resample)
    resample.link_to(target)
    target.link_to(sink)
    graph.configure()
    return graph


def _mono(blocks: Iterable[np.ndarray], p: Path) -> Iterator[np.ndarray]:
    """``[frames, channels]`` blocks, checked finite, averaged to mono."""
    for block in blocks:
        check_finite(block, p)
        yield block.mean(axis=1, dtype=np.float32)


def _resampled(mono: Iterable[np.ndarray], orig_sr: int, rates: Sequence[int]) -> Iterator[tuple[np.ndarray, ...]]:
    """Mono blocks at ``orig_sr`` through one streaming soxr resampler (HQ) per rate: for each
    block a tuple of pieces, one per rate, then a tuple of the resamplers' tails."""
    streams = [None if rate == orig_sr else soxr.ResampleStream(orig_sr, rate, 1, dtype="float32", quality="HQ")
               for rate in rates]
    for block in mono:
        yield tuple(block if s is None else s.resample_chunk(block, last=False) for s in streams)
    end = np.zeros(0, dtype=np.float32)
    yield tuple(end if s is None else s.resample_chunk(end, last=True) for s in streams)


def _fixed_blocks(pieces: Iterable[np.ndarray], block_len: int) -> Iterator[np.ndarray]:
    """The concatenation of ``pieces`` cut into blocks of ``block_len`` samples, the last one
    shorter; each block is yielded as soon as its samples are there."""
    pending: list[np.ndarray] = []
    pending_len = 0
    for piece in pieces:
        if not piece.size:
            continue
        pending.append(piece)
        pending_len += piece.size
        while pending_len >= block_len:
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield joined[:block_len]
            rest = joined[block_len:]
            pending, pending_len = ([rest], rest.size) if rest.size else ([], 0)
    if pending_len:
        yield np.concatenate(pending)


def iter_audio_blocks(
    path: str | os.PathLike,
    *,
    sr: int = 22050,
    block_seconds: float = 60.0,
    normalize: bool = True,
    decoder: str = "auto",
) -> Iterator[np.ndarray]:
    """Stream a file of any length as mono float32 blocks at ``sr``, in bounded memory.

    Every block has ``round(block_seconds * sr)`` samples except the last. Concatenated, the blocks
    equal ``load_audio(path, sr=sr)`` up to the resampler's streaming round-off. With ``normalize``
    the file is read twice: once for its peak, once for the samples.

    ``decoder="ffmpeg"`` instead lets ffmpeg decode, downmix, resample and quantise to 16 bits, as
    inaSpeechSegmenter does (no normalisation): the way to reproduce its results sample for sample.
    ``decoder="libav"`` does the same with FFmpeg's libraries in this process (PyAV): no process
    per file, and samples within a few 16-bit steps of the command line's.

    Yields:
        ``[samples]`` float32 arrays.
    """
    if block_seconds <= 0:
        raise ConfigError(f"block_seconds must be > 0, got {block_seconds}")
    if decoder not in ("auto", "ffmpeg", "libav"):
        raise ConfigError(f"decoder must be 'auto', 'ffmpeg' or 'libav', got {decoder!r}")
    p = Path(path)
    if decoder == "libav":
        yield from _libav_pcm16_blocks(p, sr=sr, block_len=max(1, int(round(block_seconds * sr))))
        return
    info = audio_info(p)
    if decoder == "ffmpeg":
        yield from _ffmpeg_pcm16_blocks(p, sr=sr, block_len=max(1, int(round(block_seconds * sr))))
        return
    native_frames = max(1, int(round(block_seconds * info.sample_rate)))
    block_len = max(1, int(round(block_seconds * sr)))
    peak = _file_peak(p, info, native_frames) if normalize else 0.0
    scale = np.float32(1.0 / peak) if peak > 0 else np.float32(1.0)
    mono = _mono(_native_blocks(p, info, native_frames), p)
    produced = 0
    resampled = (pieces[0] for pieces in _resampled(mono, info.sample_rate, (sr,)))
    for block in _fixed_blocks(resampled, block_len):
        produced += block.size
        yield block * scale
    if produced == 0:
        raise EmptyAudioError(p, "the file decodes to zero samples")


def iter_audio_rates(
    path: str | os.PathLike,
    rates: Sequence[int],
    *,
    block_seconds: float = 60.0,
    decoder: str = "auto",
) -> Iterator[tuple[np.ndarray, ...]]:
    """Decode a file once and stream it at each of ``rates``: mono, unnormalised float32.

    Each item holds one block per rate, all of the same stretch of the file (about
    ``block_seconds``, the resampler's delay aside; lengths vary). Concatenated, the blocks at
    rate ``r`` are what ``iter_audio_blocks(path, sr=r, normalize=False)`` gives (downmix by
    averaging, soxr resampling), the samples decoded by: PyAV with ``decoder="libav"``, the ffmpeg
    command with ``"ffmpeg"``, libsndfile, else the ffmpeg command, with ``"auto"`` or ``"soxr"``.

    Yields:
        tuples of ``[samples]`` float32 arrays, in the order of ``rates``.
    """
    if block_seconds <= 0:
        raise ConfigError(f"block_seconds must be > 0, got {block_seconds}")
    if decoder not in DECODERS:
        raise ConfigError(f"decoder must be one of {', '.join(map(repr, DECODERS))}, got {decoder!r}")
    if not rates or min(rates) <= 0:
        raise ConfigError(f"rates must be positive sample rates, got {list(rates)}")
    p = Path(path)
    if decoder == "libav":
        native_sr, pieces = _libav_native(p)
        mono = _fixed_blocks(_mono(pieces, p), max(1, int(round(block_seconds * native_sr))))
    else:
        info = audio_info(p)
        if decoder == "ffmpeg":
            info = replace(info, backend="ffmpeg")
        native_sr = info.sample_rate
        mono = _mono(_native_blocks(p, info, max(1, int(round(block_seconds * native_sr)))), p)
    produced = 0
    for blocks in _resampled(mono, native_sr, rates):
        produced += blocks[0].size
        yield blocks
    if produced == 0:
        raise EmptyAudioError(p, "the file decodes to zero samples")
