"""The segmenter: speech / music / noise / silence regions (and speaker gender) of long recordings.

Same semantics as inaSpeechSegmenter 0.6.8 (energy-based 'noEnergy' detection, network
probabilities on a 20 ms grid, Viterbi smoothing restarted inside each active region, gender on
speech regions), computed in streamed passes so memory stays bounded whatever the file's length:

1. decode in blocks (a thread of its own, one block ahead) and compute the front-end frame by
   frame (exact at block edges); the band energies and log energies go to temporary files,
   memory-mapped;
2. network probabilities on fixed chunks of 10 s of patches (:mod:`speechmusic.segment.chunked`),
   each with enough margin that the result does not depend on where chunks start; a chunk that
   may be active starts on the worker pool as soon as its frames exist, during pass 1;
3. activity detection over the whole file's log energies, then the chunks it needs that were
   not started;
4. Viterbi smoothing, segments, mean probability per segment.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from speechmusic.audio import DECODERS, iter_audio_blocks, libav_available
from speechmusic.errors import AudioTooShortError, ConfigError, NonFiniteAudioError
from speechmusic.features import FeatureConfig, build_frontend
from speechmusic.features.ina import InaBands
from speechmusic.segment.chunked import PatchChunks
from speechmusic.segment.formats import SILENCE, Segment
from speechmusic.segment.sliding import PATCH_FRAMES, PatchGrid, patch_logits
from speechmusic.segment.viterbi import (
    energy_activity,
    fill_short_gaps,
    runs,
    switch_penalty_transition,
    viterbi,
)

__all__ = ["Segmenter", "Analysis", "GRID_SECONDS", "ENGINES", "DECODERS"]

GRID_SECONDS = 0.02
INA_RATE = 16000
ENGINES = ("sm", "smn")
_VITERBI_ARG = {"sm": 150.0, "smn": 80.0, "gender": 80.0}
# 10 s of 10 ms frames per front-end call: its working set (frames, float64 spectrum) stays in
# cache and below the allocator's mmap threshold (a minute per call was 4x slower, page faults).
_CHUNK_FRAMES = 1000


@dataclass
class Analysis:
    """Everything the segmenter computed for one input.

    ``probs`` ``[points, classes]`` holds the network's probabilities on the 20 ms grid (NaN where
    no patch was classified, e.g. in long 'noEnergy' regions; 0.5 where the patch was not finite,
    as the original);
    ``gender_probs`` likewise for ``gender_labels`` on speech points (NaN elsewhere).
    """

    segments: list[Segment]
    labels: list[str]
    probs: np.ndarray
    active: np.ndarray
    gender_labels: list[str] = field(default_factory=list)
    gender_probs: np.ndarray | None = None
    duration: float = 0.0
    grid_seconds: float = GRID_SECONDS

    @property
    def times(self) -> np.ndarray:
        """Start time in seconds of each grid point."""
        return np.arange(len(self.active)) * self.grid_seconds

    def frame_table(self) -> tuple[list[str], np.ndarray]:
        """Column names and rows ``[points, columns]`` for a per-frame probability dump."""
        cols = ["start", "active"] + [f"p_{lab}" for lab in self.labels]
        parts = [self.times[:, None], self.active[:, None].astype(float), self.probs]
        if self.gender_probs is not None:
            cols += [f"p_{lab}" for lab in self.gender_labels]
            parts.append(self.gender_probs)
        return cols, np.concatenate(parts, axis=1)


class _FrameStream:
    """Cuts streamed blocks into the samples whose ``win``-long frames every ``hop`` are complete.

    ``push(block)`` returns ``(samples, n_frames)``: the frames ``k0 .. k0+n-1`` it completes,
    frame ``k`` covering samples ``[k*hop, k*hop + win)`` of the stream. Exact at block edges.
    """

    def __init__(self, *, win: int, hop: int) -> None:
        self.win, self.hop = win, hop
        self.buffer = np.zeros(0, dtype=np.float32)

    def push(self, block: np.ndarray) -> tuple[np.ndarray, int]:
        buf = np.concatenate([self.buffer, block]) if self.buffer.size else block
        n = (len(buf) - self.win) // self.hop + 1 if len(buf) >= self.win else 0
        self.buffer = buf[n * self.hop:] if n else buf
        return buf[: (n - 1) * self.hop + self.win] if n else buf[:0], n


class _Engine:
    """A speech/music(/noise) classifier on the 20 ms grid."""

    name: str
    labels: list[str]
    viterbi_arg: float


class _InaEngine(_Engine):
    def __init__(self, name: str, *, mode: str) -> None:
        from speechmusic.models import load_ina_pretrained

        self.name = name
        self.model = load_ina_pretrained(name)
        self.labels = list(self.model.labels)
        self.viterbi_arg = _VITERBI_ARG[name]
        self.bands = self.model.input_shape[0]
        self.mode = mode


def _load_engine(engine: str, *, mode: str) -> _Engine:
    if engine in ENGINES:
        return _InaEngine(engine, mode=mode)
    path = Path(engine)
    if path.suffix in (".pt", ".pth", ".ckpt") or path.exists():
        return _CheckpointEngine(path)
    raise ConfigError(f"unknown engine {engine!r}: use one of {ENGINES} or a checkpoint file path")


class _CheckpointEngine(_Engine):
    """A model trained by ``speechmusic run`` (any architecture and input representation)."""

    def __init__(self, path: Path) -> None:
        from speechmusic.models import load_checkpoint

        ckpt = load_checkpoint(path)
        if ckpt.feature_config is None:
            raise ConfigError(f"{path}: the checkpoint has no feature config; it cannot segment audio")
        self.name = path.stem
        self.model = ckpt.model.eval()
        self.labels = list(ckpt.labels)
        self.config: FeatureConfig = ckpt.feature_config
        self.normalizer = ckpt.normalizer
        self.viterbi_arg = 80.0
        self.frontend = build_frontend(self.config)


class Segmenter:
    """Segment audio into speech / music (/ noise) / 'noEnergy' regions, optionally by gender.

    Args:
        engine: ``"sm"`` or ``"smn"`` (INA's published networks, fetched and converted on first
            use) or the path of a checkpoint trained by ``speechmusic run``.
        gender: split speech regions into ``female`` / ``male`` with INA's gender network.
        mode: ``"fast"`` (convolutions shared across overlapping patches) or ``"exact"`` (one
            network pass per patch, as the original); see :mod:`speechmusic.segment.sliding`.
        block_seconds: decoding block length; results do not depend on it. Short blocks let the
            network start on the first minutes while the rest is still being decoded.
        energy_ratio: the activity detector's threshold below the mean log energy.
        threads: worker threads for the networks (default: the machine's cores).
        min_duration_off: pauses (inactive runs between active ones) shorter than this many
            seconds are classified with the regions around them instead of being reported as
            'noEnergy' (pyannote's ``min_duration_off``): the convention of annotators who count
            a breath between phrases as part of the speech. 0 (default): the original's output.
        decoder: ``"ffmpeg"`` decodes and resamples to 16 kHz 16-bit with the ffmpeg command,
            exactly as inaSpeechSegmenter does (its results depend on it in ambiguous passages);
            ``"libav"`` does the same with FFmpeg's libraries in this process (PyAV), without a
            process per file; ``"soxr"`` uses soundfile and soxr; ``"auto"`` (default): libav
            when PyAV is installed, else ffmpeg when installed, else soxr.

    ``segmenter(path_or_array)`` returns the segments; :meth:`analyse` returns everything
    (per-frame probabilities included).
    """

    def __init__(self, engine: str = "smn", *, gender: bool = False, mode: str = "fast",
                 block_seconds: float = 10.0, energy_ratio: float = 0.03,
                 decoder: str = "auto", threads: int | None = None,
                 min_duration_off: float = 0.0) -> None:
        if mode not in ("fast", "exact"):
            raise ConfigError(f"mode must be 'fast' or 'exact', got {mode!r}")
        if not min_duration_off >= 0:
            raise ConfigError(f"min_duration_off must be >= 0 seconds, got {min_duration_off}")
        self.min_duration_off = float(min_duration_off)
        if block_seconds <= 0:
            raise ConfigError(f"block_seconds must be > 0, got {block_seconds}")
        self.engine = _load_engine(str(engine), mode=mode)
        self.gender_engine = _InaEngine("gender", mode=mode) if gender else None
        self.mode = mode
        if decoder not in DECODERS:
            raise ConfigError(f"decoder must be one of {', '.join(map(repr, DECODERS))}, got {decoder!r}")
        if decoder == "auto":
            decoder = "libav" if libav_available() else ("ffmpeg" if shutil.which("ffmpeg") else "soxr")
        self.decoder = decoder
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.block_seconds = block_seconds
        self.energy_ratio = energy_ratio
        self._ina_front = InaBands(FeatureConfig.preset("ina_gender"))
        _tune_malloc_for_streaming()

    # ------------------------------------------------------------------ public API
    def __call__(self, source: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> list[Segment]:
        return self.analyse(source, sr=sr).segments

    def analyse(self, source: str | os.PathLike | np.ndarray, *, sr: int | None = None) -> Analysis:
        """Segment a file (any length, streamed) or a mono array (``sr`` required)."""
        # Single-threaded torch on a pool of workers: on a small machine this keeps every core
        # busy without the intra-op thread pool's spin-waits, which collapse under load.
        with tempfile.TemporaryDirectory(prefix="speechmusic-seg-") as tmp, _single_threaded_torch(), \
                ThreadPoolExecutor(self.threads) as pool, _prompt_thread_switches():
            chunks = None
            if isinstance(self.engine, _InaEngine):
                chunks = self._chunks_of(self.engine, pool)
                chunks.start_feeding(energy_ratio=self.energy_ratio)
            bands, loge, duration = self._ina_features(source, sr, Path(tmp),
                                                       feed=chunks.feed if chunks else None)
            return self._segment(source, sr, bands, loge, duration, Path(tmp), chunks, pool)

    def _chunks_of(self, engine: _InaEngine, pool) -> PatchChunks:
        return PatchChunks(engine.model, n_bands=engine.bands, n_classes=len(engine.labels),
                           pool=pool, mode=engine.mode)

    # ------------------------------------------------------------------ pass 1: features
    def _blocks(self, source, sr: int | None, rate: int, *, ina: bool = False) -> Iterator[np.ndarray]:
        if isinstance(source, np.ndarray):
            if sr is None:
                raise ConfigError("segmenting an array needs its sample rate: sr=")
            audio = np.asarray(source, dtype=np.float32)
            if audio.ndim == 2:
                audio = audio.mean(axis=0)
            if not np.isfinite(audio).all():
                raise NonFiniteAudioError(None, "NaN or infinite samples")
            if sr != rate:
                from speechmusic.audio import resample

                audio = resample(audio, orig_sr=sr, target_sr=rate)
            step = int(self.block_seconds * rate)
            for i in range(0, len(audio), step):
                yield audio[i: i + step]
            return
        # INA works on unnormalised audio; its features are invariant to gain anyway.
        decoder = self.decoder if ina and self.decoder in ("ffmpeg", "libav") else "auto"
        yield from iter_audio_blocks(source, sr=rate, block_seconds=self.block_seconds,
                                     normalize=False, decoder=decoder)

    def _ina_features(self, source, sr, tmp: Path, *, feed=None) -> tuple[np.ndarray, np.ndarray, float]:
        """Pass 1: the 24 INA bands ``[frames, 24]`` and the log energies ``[frames]``, both
        memory-mapped from files in ``tmp`` (nothing accumulates on the heap between chunks,
        which would pin it and let it grow with the file's duration). ``feed(bands, loge)`` sees
        each piece as it is written."""
        cfg = self._ina_front.config
        stream = _FrameStream(win=cfg.win_length, hop=cfg.hop_length)
        bands_path, energy_path = tmp / "bands.f32", tmp / "loge.f32"
        n_samples = n_frames = 0
        with open(bands_path, "wb") as fb, open(energy_path, "wb") as fe, torch.inference_mode():
            # Decoding runs one block ahead in its own thread: it holds the GIL (PyAV) while
            # the front-end's torch operations here release it, so the two overlap.
            for block in _read_ahead(self._blocks(source, sr, INA_RATE, ina=True)):
                n_samples += len(block)
                samples, n = stream.push(block)
                for k0 in range(0, n, _CHUNK_FRAMES):
                    k1 = min(n, k0 + _CHUNK_FRAMES)
                    piece = samples[k0 * cfg.hop_length: (k1 - 1) * cfg.hop_length + cfg.win_length]
                    bands, loge = self._ina_front.with_energy(torch.from_numpy(piece))
                    frame_bands = np.ascontiguousarray(bands.T.numpy(), dtype=np.float32)
                    frame_loge = np.ascontiguousarray(loge.numpy(), dtype=np.float32)
                    fb.write(frame_bands.tobytes())
                    fe.write(frame_loge.tobytes())
                    n_frames += k1 - k0
                    if feed is not None:
                        feed(frame_bands, frame_loge)
        where = getattr(source, "name", None) if not isinstance(source, (str, os.PathLike)) else source
        if n_frames == 0:
            raise AudioTooShortError(where, f"{n_samples / INA_RATE * 1000:.0f} ms of audio; at least "
                                            "25 ms is needed for one analysis frame")
        bands = np.memmap(bands_path, dtype=np.float32, mode="r", shape=(n_frames, 24))
        loge = np.memmap(energy_path, dtype=np.float32, mode="r", shape=(n_frames,))
        return bands, loge, n_samples / INA_RATE

    # ------------------------------------------------------------------ passes 2-4
    def _segment(self, source, sr, bands: np.ndarray, loge: np.ndarray, duration: float,
                 tmp: Path, chunks: PatchChunks | None, pool) -> Analysis:
        active = energy_activity(loge, ratio=self.energy_ratio)[::2]
        if self.min_duration_off > 0:
            active = fill_short_gaps(active, max_len=round(self.min_duration_off / GRID_SECONDS))
        n_points = len(active)
        engine = self.engine
        if isinstance(engine, _InaEngine):
            # Like the original, only active regions are classified.
            probs = self._ina_probs(engine, bands, active, chunks)
        else:
            probs = self._checkpoint_probs(engine, source, sr, n_points, tmp)

        segments: list[Segment] = []
        point_labels = np.full(n_points, -1, dtype=np.int64)
        trans = switch_penalty_transition(engine.viterbi_arg, len(engine.labels))
        for flag, a, b in runs(active):
            if not flag:
                segments.append(Segment(SILENCE, a * GRID_SECONDS, b * GRID_SECONDS))
                continue
            path = viterbi(np.log(probs[a:b]), trans)
            point_labels[a:b] = path
            for cls, c, d in runs(path):
                label = engine.labels[cls]
                segments.append(Segment(label, (a + c) * GRID_SECONDS, (a + d) * GRID_SECONDS,
                                        float(probs[a + c: a + d, cls].mean())))

        gender_probs = None
        if self.gender_engine is not None:
            g = self.gender_engine
            speech = (point_labels == engine.labels.index("speech") if "speech" in engine.labels
                      else np.zeros(n_points, dtype=bool))
            gender_probs = self._ina_probs(g, bands, speech, self._chunks_of(g, pool))
            gtrans = switch_penalty_transition(g.viterbi_arg, len(g.labels))
            split: list[Segment] = []
            for seg in segments:
                if seg.label != "speech":
                    split.append(seg)
                    continue
                a, b = round(seg.start / GRID_SECONDS), round(seg.stop / GRID_SECONDS)
                path = viterbi(np.log(gender_probs[a:b]), gtrans)
                for cls, c, d in runs(path):
                    split.append(Segment(g.labels[cls], (a + c) * GRID_SECONDS, (a + d) * GRID_SECONDS,
                                         float(gender_probs[a + c: a + d, cls].mean())))
            segments = split
        return Analysis(segments=segments, labels=list(engine.labels), probs=probs, active=active,
                        gender_labels=list(self.gender_engine.labels) if self.gender_engine else [],
                        gender_probs=gender_probs, duration=duration)

    def _ina_probs(self, engine: _InaEngine, bands: np.ndarray, wanted: np.ndarray,
                   chunks: PatchChunks) -> np.ndarray:
        """Probabilities ``[points, classes]`` of an INA network: on the ``wanted`` points
        (bool ``[points]``) and on every other point of a chunk that was computed anyway; NaN
        elsewhere."""
        n_frames = bands.shape[0]
        grid = PatchGrid(n_frames)
        probs = np.full((grid.n_points, len(engine.labels)), np.nan, dtype=np.float32)
        if grid.n_patches == 0:
            return self._short_file_probs(engine, bands, grid, probs)
        if not wanted.any() and not chunks.futures:
            return probs
        chunks.start(bands, grid.patch_of_point[wanted])
        done = np.isin(grid.patch_of_point // chunks.size, chunks.computed())
        probs[done] = chunks.probs(bands, grid.patch_of_point[done])
        return probs

    def _short_file_probs(self, engine: _InaEngine, bands, grid: PatchGrid, probs: np.ndarray) -> np.ndarray:
        # Fewer than 68 frames: the original pads the bands with their minimum up to one patch.
        feats = np.array(bands[:, : engine.bands])
        pad = np.full((PATCH_FRAMES - len(feats), feats.shape[1]), np.min(feats), dtype=np.float32)
        logits, finite = patch_logits(engine.model, torch.from_numpy(np.concatenate([feats, pad]).T),
                                      mode="exact")
        p = torch.softmax(logits, dim=-1)
        p[~finite] = 0.5
        probs[:] = p[0].numpy()
        return probs

    def _checkpoint_probs(self, engine: _CheckpointEngine, source, sr, n_points: int, tmp: Path) -> np.ndarray:
        """Probabilities of a trained checkpoint, mapped onto the 20 ms grid (nearest patch)."""
        cfg = engine.config
        feats = _stream_features(engine.frontend, cfg, self._blocks(source, sr, cfg.sample_rate), tmp)
        if engine.normalizer is not None and engine.normalizer.fitted:
            mean, scale = engine.normalizer.mean, engine.normalizer.scale
        else:
            mean, scale = 0.0, 1.0
        n_frames = feats.shape[1]
        width = cfg.patch_frames
        if n_frames < width:  # pad like make_patches(pad="edge")
            feats = np.concatenate([feats, np.repeat(feats[:, -1:], width - n_frames, axis=1)], axis=1)
            n_frames = width
        hop = max(1, round(GRID_SECONDS * cfg.sample_rate / cfg.hop_length))
        starts = np.arange(0, n_frames - width + 1, hop)
        centres = (starts + (width - 1) / 2) * cfg.hop_length / cfg.sample_rate
        point_times = np.arange(n_points) * GRID_SECONDS + GRID_SECONDS / 2
        nearest = np.clip(np.searchsorted(centres, point_times), 0, len(starts) - 1)
        prev = np.clip(nearest - 1, 0, len(starts) - 1)
        closer_prev = np.abs(centres[prev] - point_times) <= np.abs(centres[nearest] - point_times)
        nearest = np.where(closer_prev, prev, nearest)
        patch_probs = np.empty((len(starts), len(engine.labels)), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(starts), 1024):
                idx = starts[i: i + 1024]
                batch = np.stack([feats[:, s: s + width] for s in idx])
                batch = (batch - np.reshape(mean, (-1, 1))) / np.reshape(scale, (-1, 1))
                logits = engine.model(torch.from_numpy(batch.astype(np.float32)))
                patch_probs[i: i + len(idx)] = torch.softmax(logits, dim=-1).numpy()
        return patch_probs[nearest]


def _tune_malloc_for_streaming() -> None:
    """Two glibc malloc settings for a process that streams hours of audio in small pieces.

    * Blocks of 4 MiB and more always come from mmap. The default threshold rises to 32 MiB as
      large blocks are freed, after which large feature maps come from the heap and fragment it:
      resident memory then grows with the file's duration (2.5 GiB on a 3-hour file).
    * Up to 32 MiB of free memory at the top of a heap is kept rather than handed back (the
      default is 128 KiB once the mmap threshold is fixed). Each 10 s piece's temporaries were
      otherwise returned and faulted in again: about 100,000 page faults and 0.3 s of system
      time per 10 minutes of audio, a quarter of the segmenter's time.

    Process-wide and harmless elsewhere; a no-op off glibc.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 4 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 32 * 1024 * 1024)
    except (OSError, AttributeError):
        pass


def _read_ahead(items: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """The items of ``items``, produced by a background thread at most ``depth`` ahead of the
    consumer; the producer's exceptions are raised here, and it stops when the consumer does."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(end)
        except BaseException as exc:  # handed to the consumer, raised there
            box.put(exc)

    worker = threading.Thread(target=produce, name="speechmusic-decoder", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                box.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
        close = getattr(items, "close", None)
        if close is not None:
            close()


@contextmanager
def _prompt_thread_switches(interval: float = 2e-4) -> Iterator[None]:
    """Let a thread waiting for the GIL get it within ``interval`` seconds (Python's own
    default is 5 ms), for the duration of the block.

    The decoder (PyAV) holds the GIL while the network's workers run; each worker needs it for
    a moment between two operations, and at the default interval that moment can cost it 5 ms.
    """
    import sys

    before = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@contextmanager
def _single_threaded_torch() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _stream_features(frontend, cfg: FeatureConfig, blocks: Iterable[np.ndarray], tmp: Path) -> np.ndarray:
    """Features ``[n_features, frames]`` of a streamed signal, equal to one pass over the whole
    signal with the config's framing, written to a memory-mapped file."""
    if cfg.kind == "ina_bands":
        raise ConfigError("checkpoint engines on INA bands are not supported; use engine='sm'/'smn'")
    uncentred = FeatureConfig.from_dict({**cfg.to_dict(), "center": False})
    front = build_frontend(uncentred)
    half = cfg.n_fft // 2 if cfg.center else 0
    stream = _FrameStream(win=cfg.n_fft, hop=cfg.hop_length)
    path = tmp / "model-features.f32"
    n_total = 0
    total_samples = 0
    rows = cfg.n_features
    with open(path, "wb") as fh, torch.inference_mode():
        def emit(samples: np.ndarray, n: int) -> None:
            nonlocal n_total
            if n:
                out = front(torch.from_numpy(np.ascontiguousarray(samples)))[:, :n]
                fh.write(np.ascontiguousarray(out.T.numpy(), dtype=np.float32).tobytes())
                n_total += n

        first = True
        for block in blocks:
            total_samples += len(block)
            if first and half:
                block = np.concatenate([np.zeros(half, dtype=np.float32), block])
            first = False
            emit(*stream.push(block))
        if total_samples == 0:
            raise AudioTooShortError(None, "no audio samples")
        if cfg.center:
            # librosa's centred framing: 1 + n // hop frames over the zero-padded signal.
            want = 1 + total_samples // cfg.hop_length
            tail = np.zeros(half + cfg.n_fft, dtype=np.float32)
            samples, n = stream.push(tail)
            emit(samples, max(0, min(n, want - n_total)))
    feats = np.memmap(path, dtype=np.float32, mode="r", shape=(n_total, rows))
    return np.asarray(feats).T

