"""An INA network's probabilities on a fixed grid of patch chunks, started while decoding still runs.

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
from concurrent.futures import Executor, Future

import numpy as np
import torch

from speechmusic.segment.sliding import (
    FAST_MARGIN,
    PATCH_FRAMES,
    PATCH_STEP,
    patch_count,
    patch_logits,
)

__all__ = ["PatchChunks", "CHUNK_PATCHES", "MARGIN_FRAMES"]

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
