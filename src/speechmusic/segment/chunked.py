"""Network probabilities on a fixed grid of patch chunks, started while decoding still runs.

:class:`PatchChunks` serves INA's networks (16 kHz bands, patches normalised one by one);
:class:`FeatureChunks` a checkpoint trained here (its own features, normalised band by band, or
frame by frame over a window with the context that needs).

A chunk is ``chunk_patches`` consecutive patches (patch ``p`` starts at frame ``2 p``) plus a
margin of frames on each side: :func:`~speechmusic.segment.sliding.patch_logits` normalises every
frame by the 68 frames around it, and INA's 'same' poolings reach a frame or two past a patch, so
with the margin a chunk's probabilities are those of one pass over the whole file. The grid is
fixed by the file alone, so results depend neither on the decoding block size nor on which chunks
were started early.

While pass 1 writes features, :meth:`PatchChunks.feed` hands the pool every chunk whose frames
are all there and which holds a frame louder than the activity threshold estimated so far (the
threshold is the file's mean log energy plus ``log(ratio)``, known exactly only at the end): the
network then runs beside decoding and the front-end instead of after them. Afterwards
:meth:`PatchChunks.probs` computes whatever the activity mask needs that was not started; a chunk
started but then found inactive is the only wasted work.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait

import numpy as np
import torch

from speechmusic.segment.sliding import (
    FAST_MARGIN,
    PATCH_FRAMES,
    PATCH_STEP,
    patch_count,
    patch_logits,
)

__all__ = ["PatchChunks", "FeatureChunks", "CHUNK_PATCHES", "MARGIN_FRAMES"]

CHUNK_PATCHES = 500  # 10 s of 20 ms patches per network call
# Frames each side of a chunk's patches: 34 before and 33 after for the centred normalisation
# window, plus a few for the 'same' poolings' reach; even, so patches stay on the 2-frame grid.
# (tests/segment/test_chunked.py fails below 34 for INA's networks.)
MARGIN_FRAMES = 40


class PatchChunks:
    """Probabilities of one INA network on the patches of one file, computed by chunks on ``pool``.

    ``n_bands`` is how many of the 24 INA bands the network reads (21, or 24 for gender);
    ``tail_parts`` how many pieces the file's last chunk is computed in.
    """

    def __init__(self, model: torch.nn.Module, *, n_bands: int, n_classes: int, pool: Executor,
                 mode: str = "fast", fast_margin: float = FAST_MARGIN, chunk_patches: int = CHUNK_PATCHES,
                 tail_parts: int = 2) -> None:
        self.model = model
        self.fast_margin = fast_margin
        self.n_bands = n_bands
        self.n_classes = n_classes
        self.pool = pool
        self.mode = mode
        self.size = chunk_patches
        self.tail_parts = tail_parts
        self.futures: dict[int, Future] = {}
        # Feeding state (pass 1).
        self._buffer: list[np.ndarray] = []  # bands [frames, 24] from frame _buffer_start on
        self._energy: list[np.ndarray] = []
        self._buffer_start = 0
        self._seen = 0
        self._next = 0
        self._energy_sum = 0.0
        self._energy_count = 0
        self._log_ratio = 0.0

    # ------------------------------------------------------------------ the grid
    def span(self, c: int, *, n_frames: int | None = None) -> tuple[int, int, int, int]:
        """``(first patch, stop patch, first frame, stop frame)`` of chunk ``c``; with
        ``n_frames`` (the file's length) clipped to the file, else as an interior chunk."""
        p0, p1 = c * self.size, (c + 1) * self.size
        if n_frames is not None:
            p1 = min(p1, patch_count(n_frames))
        f0, f1 = _frames_with_margins(p0, p1)
        return p0, p1, f0, f1 if n_frames is None else min(n_frames, f1)

    def _submit(self, c: int, feats: np.ndarray, p0: int, p1: int, f0: int, *, parts: int = 1) -> None:
        """Start chunk ``c`` on features ``[frames, >= n_bands]`` beginning at frame ``f0``, as
        ``parts`` pieces of consecutive patches (each with its own margins) on the pool."""
        bounds = np.linspace(p0, p1, parts + 1).round().astype(int)
        self.futures[c] = []
        for q0, q1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            g0, g1 = _frames_with_margins(q0, q1)
            g1 = min(g1, f0 + len(feats))
            image = torch.from_numpy(np.ascontiguousarray(feats[g0 - f0: g1 - f0, : self.n_bands].T))
            self.futures[c].append(self.pool.submit(self._work, image, q0, q1, g0))

    def _work(self, image: torch.Tensor, p0: int, p1: int, f0: int) -> np.ndarray:
        logits, finite = patch_logits(self.model, image, mode=self.mode, fast_margin=self.fast_margin)
        p = torch.softmax(logits, dim=-1)
        p[~finite] = 0.5  # the original's probability for patches with digital silence
        first = p0 - f0 // PATCH_STEP
        return p[first: first + p1 - p0].numpy()

    # ------------------------------------------------------------------ pass 1
    def start_feeding(self, *, energy_ratio: float) -> None:
        self._log_ratio = math.log(energy_ratio)

    def feed(self, bands: np.ndarray, log_energy: np.ndarray) -> None:
        """Take the next ``[frames, 24]`` bands and their log energies; start every chunk that
        is now complete and may be active."""
        self._buffer.append(bands)
        self._energy.append(log_energy)
        self._seen += len(bands)
        finite = log_energy[np.isfinite(log_energy)]
        self._energy_sum += float(finite.sum(dtype=np.float64))
        self._energy_count += finite.size
        while True:
            p0, p1, f0, f1 = self.span(self._next)
            if f1 > self._seen:
                return
            if len(self._buffer) > 1:
                self._buffer = [np.concatenate(self._buffer)]
                self._energy = [np.concatenate(self._energy)]
            lo, hi = f0 - self._buffer_start, f1 - self._buffer_start
            if self._energy_count:
                threshold = self._energy_sum / self._energy_count + self._log_ratio
                own = self._energy[0][PATCH_STEP * p0 - self._buffer_start:
                                      PATCH_STEP * (p1 - 1) + PATCH_FRAMES - self._buffer_start]
                if bool((own > threshold).any()):
                    self._submit(self._next, self._buffer[0][lo:hi], p0, p1, f0)
            self._next += 1
            keep_from = self.span(self._next)[2]
            drop = keep_from - self._buffer_start
            self._buffer = [self._buffer[0][drop:]]
            self._energy = [self._energy[0][drop:]]
            self._buffer_start = keep_from

    # ------------------------------------------------------------------ results
    def start(self, bands: np.ndarray, patches: np.ndarray) -> None:
        """Start the chunks holding ``patches`` that are not started yet, from the whole file's
        bands ``[frames, 24]``."""
        n_frames = len(bands)
        last = (patch_count(n_frames) - 1) // self.size
        for c in np.unique(np.asarray(patches, dtype=np.int64) // self.size).tolist():
            if c not in self.futures:
                p0, p1, f0, f1 = self.span(c, n_frames=n_frames)
                # The file's last chunk is never started early (its end is the file's), so it
                # alone may be cut, the same way every time, into pieces that keep the pool's
                # workers busy at the end instead of one of them.
                parts = self.tail_parts if c == last else 1
                self._submit(c, np.asarray(bands[f0:f1]), p0, p1, f0, parts=parts)

    def probs(self, bands: np.ndarray, patches: np.ndarray) -> np.ndarray:
        """Probabilities ``[len(patches), classes]`` of the given patch indices, starting the
        chunks not started yet (:meth:`start`) and waiting for them."""
        patches = np.asarray(patches, dtype=np.int64)
        self.start(bands, patches)
        chunk_of = patches // self.size
        out = np.empty((len(patches), self.n_classes), dtype=np.float32)
        for c in np.unique(chunk_of).tolist():
            result = np.concatenate([part.result() for part in self.futures[c]])
            sel = chunk_of == c
            out[sel] = result[patches[sel] - c * self.size]
        return out

    def computed(self) -> list[int]:
        """The chunks started so far."""
        return sorted(self.futures)


def _frames_with_margins(p0: int, p1: int) -> tuple[int, int]:
    """Frames ``[start, stop)`` that patches ``p0 .. p1 - 1`` need, margins included (the stop
    is not clipped to the file)."""
    return max(0, PATCH_STEP * p0 - MARGIN_FRAMES), PATCH_STEP * (p1 - 1) + PATCH_FRAMES + MARGIN_FRAMES


class FeatureChunks:
    """A trained model's probabilities on every patch of one file, by fixed chunks computed on
    ``pool`` while the features are still being written.

    Patch ``p`` starts at frame ``p * step`` and holds ``patch_frames`` frames; chunk ``c`` is
    patches ``c * chunk_patches`` to ``(c + 1) * chunk_patches - 1``. The model's features are
    normalised band by band (the same map for every patch), so a patch's probabilities depend
    on its own frames alone: a chunk needs no margin, and the result depends neither on the
    decoding blocks nor on the chunk size. ``evaluate(frames)`` gives the probabilities
    ``[n, classes]`` of the patches starting every ``step`` frames of ``frames``
    ``[frames, n_features]``, every one that fits. With ``context`` (a model whose features are
    standardised frame by frame over a window, :class:`~speechmusic.features.SlidingStandardizer`)
    a chunk's block also holds up to ``context`` frames on each side, fewer only at the file's
    edges, and is handed over as ``evaluate(frames, lead, trail)``: the frames before and after
    the chunk's own, which the model reads for the statistics alone.

    :meth:`feed` takes the features as they come (the frames already fed are dropped once the
    chunks holding them are started); :meth:`finish` starts the rest, the last chunk in
    ``tail_parts`` pieces; :meth:`probs` waits and gathers. Memory stays bounded whatever the
    file's length: at most ``max_pending`` chunks wait or run at a time (:meth:`feed` waits for
    one to finish before starting another, so a decoder faster than the network does not pile
    up the file's features), and finished chunks' probabilities are copied out at once into one
    array owned here (small results kept alive in the workers' malloc arenas, among their large
    temporaries, would pin those arenas and let them grow with the file's duration).
    """

    def __init__(self, evaluate: Callable[[np.ndarray], np.ndarray], *, patch_frames: int, step: int,
                 chunk_patches: int, pool: Executor, tail_parts: int = 2, max_pending: int = 4,
                 context: int = 0) -> None:
        self.evaluate = evaluate
        self.context = max(0, int(context))
        self.width, self.step, self.size = patch_frames, step, max(1, chunk_patches)
        self.pool = pool
        self.tail_parts = max(1, tail_parts)
        self.max_pending = max(1, max_pending)
        self._pending: dict[Future, int] = {}  # running or waiting chunk -> its first patch
        self._out: np.ndarray | None = None  # probabilities of the finished chunks, by patch
        self._done = 0  # patches copied out
        self.n_frames = 0  # fed so far
        self._buffer: list[np.ndarray] = []
        self._buffer_start = 0
        self._next = 0  # first patch not started
        self.finished = False

    def _frames(self, p0: int, p1: int) -> tuple[int, int]:
        return p0 * self.step, (p1 - 1) * self.step + self.width

    def _collect(self, futures) -> None:
        """Copy the results of finished ``futures`` out and forget them (raises their errors)."""
        for future in futures:
            p0 = self._pending.pop(future)
            result = future.result()
            end = p0 + len(result)
            if self._out is None or end > len(self._out) or self._out.shape[1] != result.shape[1]:
                # Doubling capacity, at least 2^20 patches (6 h at a 23 ms hop): a large array is
                # mapped, and only the pages written take memory.
                cap = max(1 << 20, 2 * end, 0 if self._out is None else 2 * len(self._out))
                grown = np.empty((cap, result.shape[1]), dtype=np.float32)
                if self._out is not None:
                    grown[: len(self._out)] = self._out
                self._out = grown
            self._out[p0:end] = result
            self._done += len(result)

    def _start(self, p0: int, p1: int) -> None:
        """Start patches ``p0 .. p1 - 1`` from the buffer."""
        f0, f1 = self._frames(p0, p1)
        g0, g1 = max(0, f0 - self.context), min(self.n_frames, f1 + self.context)
        if len(self._buffer) > 1:
            self._buffer = [np.concatenate(self._buffer)]
        block = np.ascontiguousarray(self._buffer[0][g0 - self._buffer_start: g1 - self._buffer_start])
        self._collect([f for f in self._pending if f.done()])
        while len(self._pending) >= self.max_pending:
            self._collect(wait(self._pending, return_when=FIRST_COMPLETED).done)
        args = (block, f0 - g0, g1 - f1) if self.context else (block,)
        self._pending[self.pool.submit(self.evaluate, *args)] = p0
        self._next = p1

    def _drop_before(self, frame: int) -> None:
        if frame > self._buffer_start and self._buffer:
            if len(self._buffer) > 1:
                self._buffer = [np.concatenate(self._buffer)]
            self._buffer = [self._buffer[0][frame - self._buffer_start:]]
            self._buffer_start = frame

    def feed(self, frames: np.ndarray) -> None:
        """Take the next frames ``[n, n_features]``; start every chunk now complete."""
        if len(frames) == 0:
            return
        self._buffer.append(frames)
        self.n_frames += len(frames)
        # A chunk starts once its frames and the context after them are all here.
        while self._frames(self._next, self._next + self.size)[1] + self.context <= self.n_frames:
            self._start(self._next, self._next + self.size)
            self._drop_before(max(0, self._next * self.step - self.context))

    @property
    def n_patches(self) -> int:
        return (self.n_frames - self.width) // self.step + 1 if self.n_frames >= self.width else 0

    def finish(self) -> None:
        """After the last frames: start the patches left, in ``tail_parts`` pieces."""
        if self.finished:
            return
        self.finished = True
        total = self.n_patches
        if self._next < total:
            bounds = np.linspace(self._next, total, self.tail_parts + 1).round().astype(int)
            for q0, q1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                if q1 > q0:
                    self._start(q0, q1)

    def frames(self) -> np.ndarray:
        """The frames still held: all of them when the file is shorter than one patch."""
        return np.concatenate(self._buffer) if self._buffer else np.zeros((0, 0), dtype=np.float32)

    def probs(self) -> np.ndarray:
        """Probabilities ``[n_patches, classes]`` of every patch (after :meth:`finish`)."""
        self.finish()
        self._collect(wait(self._pending).done)
        if self._out is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._out[: self._done].copy()
