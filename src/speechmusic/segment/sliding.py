"""Classifying every 68-frame patch of a long feature matrix, exactly or fast.

inaSpeechSegmenter classifies one patch every 2 frames (every 20 ms), each patch normalised by its
own mean and standard deviation, and runs the whole network on each: about 42 M multiply-adds per
patch for 'sm'. Neighbouring patches share 66 of their 68 frames, so nearly all that work repeats.

``mode="exact"`` does what the original does (per-patch normalisation, one network pass per
patch), on a compiled copy of the network: batch norms folded, patches batched in channels-last
memory, pooling as elementwise maxima (about 3x the plain module's speed).

``mode="fast"`` runs the convolutional part once over the whole matrix. Two things make that
differ from per-patch evaluation:

* pooling grids: a patch starting at frame ``s`` pools on a grid anchored at ``s``; with a total
  pooling stride ``R`` the patches fall into ``R / step`` phases, and each phase gets its own pass
  over the matrix shifted to its anchor, so every pooling window is exactly the patch's;
* normalisation: each frame is normalised by the statistics of the patch centred on it, instead of
  by those of every patch it belongs to (and a patch's 'same' padding at its own edges is replaced
  by the real neighbouring frames). Past the first ReLU this is an approximation, and not a
  close one: on real recordings it changes 1-2 % of the patches' decisions, some of them
  confidently. So the fast path then recomputes exactly every patch whose class margin is small
  (``fast_margin``), and the segmenter recomputes every smoothed run whose evidence is close
  (:meth:`speechmusic.segment.Segmenter` fast mode), so that its labels are the exact path's on
  real recordings (``bench/segment_fast_exact.py``, ``tests/segment/test_fast_equals_exact.py``).
"""

from __future__ import annotations

import itertools
import math
import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from speechmusic.errors import ConfigError

__all__ = ["CompiledIna", "FAST_MARGIN", "PROBE_TOLERANCE", "PatchGrid", "compiled_ina", "exact_patch_probs",
           "finite_patches", "patch_count", "patch_logits", "standardize"]

PATCH_FRAMES = 68
PATCH_STEP = 2


def patch_count(n_frames: int, *, patch_frames: int = PATCH_FRAMES, step: int = PATCH_STEP) -> int:
    """How many whole patches a matrix of ``n_frames`` frames holds."""
    return max(0, (n_frames - patch_frames) // step + 1)


class PatchGrid:
    """Where inaSpeechSegmenter's patches sit for a matrix of ``n_frames`` frames.

    The 20 ms grid has ``ceil(n_frames / 2)`` points; point ``i`` is classified by the patch
    starting at frame ``2 * clip(i - 17, 0, n_patches - 1)`` (the original repeats the first patch
    17 times and the last one 16 or 17 times to cover the file's ends).
    """

    def __init__(self, n_frames: int, *, patch_frames: int = PATCH_FRAMES, step: int = PATCH_STEP):
        self.n_frames = n_frames
        self.patch_frames = patch_frames
        self.step = step
        self.n_points = math.ceil(n_frames / step)
        self.n_patches = patch_count(n_frames, patch_frames=patch_frames, step=step)
        lead = patch_frames // (2 * step)
        self.patch_of_point = np.clip(np.arange(self.n_points) - lead, 0,
                                      max(self.n_patches - 1, 0)).astype(np.int64)


def standardize(patches: torch.Tensor) -> torch.Tensor:
    """Per-patch normalisation ``[..., F, T]``: minus the mean, over the population std."""
    mean = patches.mean(dim=(-2, -1), keepdim=True)
    std = patches.std(dim=(-2, -1), keepdim=True, unbiased=False)
    return (patches - mean) / std


def _fold_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode batch norm into the preceding convolution or linear layer."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return (weight * scale.reshape(shape)).contiguous(), (b - bn.running_mean) * scale + bn.bias


class CompiledIna:
    """An INA network compiled for inference: batch norms folded into the layers before them,
    feature maps in channels-last memory, pooling as elementwise maxima of strided views.

    Two evaluations share these weights: :meth:`sliding` runs the convolutions once over a whole
    normalised matrix (once per pooling phase: a tree where a phase splits only at the pooling
    that needs it) and :meth:`patches` runs the network on a batch of patches, each normalised
    by its own statistics, exactly as the original does.

    The maps are held transposed, ``[1, C, bands, frames]``, in channels-last memory: with the
    long frame axis as the convolutions' width, oneDNN blocks over it instead of over a handful
    of bands (about 30 % less time for the same arithmetic), and pooling runs over contiguous
    channel vectors.
    """

    def __init__(self, model: nn.Module, *, bands: int, patch_frames: int = PATCH_FRAMES) -> None:
        layers = list(model.body.lower)
        names = [type(m).__name__ for m in layers]
        if not names or names[0] != "_ToImage" or "_MaxOverFrames" not in names:
            raise ConfigError("fast patch evaluation needs an INA network (speechmusic.models.InaNet)")
        self.n_classes = model.n_classes
        self.ops: list[tuple] = []
        x = torch.zeros(1, 1, patch_frames, bands)  # the model's own orientation, for shapes
        i = 1
        with torch.no_grad():
            while names[i] != "_MaxOverFrames":
                layer = layers[i]
                if isinstance(layer, nn.Conv2d):
                    if isinstance(layer.padding, str) and layer.padding != "valid":
                        raise ConfigError("fast patch evaluation needs 'valid' convolutions")
                    bn = layers[i + 1]
                    w, b = _fold_bn(layer.weight, layer.bias, bn)
                    w = w.transpose(-1, -2).contiguous(memory_format=torch.channels_last)
                    self.ops.append(("conv", w, b))
                    x = layers[i + 2](bn(layer(x)))
                    i += 3
                    continue
                if hasattr(layer, "pool"):
                    kf, kb = layer.pool  # frames, bands
                    if layer.padding == "same":
                        top, _ = _keras_same_pads(x.shape[-2], kf)
                        left, right = _keras_same_pads(x.shape[-1], kb)
                    else:
                        top = left = right = 0
                    self.ops.append(("pool", kf, kb, top, left, right))
                    x = layer(x)
                    i += 1
                    continue
                raise ConfigError(f"fast patch evaluation cannot handle layer {names[i]}")
        self.final_frames = x.shape[-2]
        dense: list[tuple[torch.Tensor, torch.Tensor]] = []
        upper = [m for m in model.body.upper if not isinstance(m, (nn.Dropout, nn.ReLU))]
        for lin, bn in zip(upper[::2], upper[1::2], strict=True):
            dense.append(_fold_bn(lin.weight, lin.bias, bn))
        self.dense = dense
        self.classifier = model.classifier

    def _maps(self, x: torch.Tensor) -> tuple[torch.Tensor, list[int], int, int]:
        """Run the convolutional part; returns ``(maps, bases, mult, q)``: column ``r`` of
        ``maps[i]`` is the patch starting at frame ``bases[i] + mult * r``, and columns
        ``0, q, 2q, ...`` are patches of interest.

        Pooling phases go along the batch axis: each phase's map is padded on the right (with
        zeros, to the widest phase's width) and stacked, so that every later layer is one call on
        a batch instead of one per phase. A padded column only feeds outputs that lie past the
        end of the phase's own map, which no patch of interest uses.
        """
        bases, mult, q = [0], 1, PATCH_STEP
        for op in self.ops:
            if op[0] == "conv":
                # A channels-last weight gives a channels-last output whatever the input.
                x = torch.relu_(F.conv2d(x, op[1], op[2]))
                continue
            _, kf, kb, top, left, right = op
            phases = [0] if q % kf == 0 else list(range(0, kf, math.gcd(q, kf)))
            new_q = q // kf if q % kf == 0 else (q * kf // math.gcd(q, kf)) // kf
            pooled = []
            for o in phases:
                first = o - top
                if left:  # never the case for INA's published networks; keep the general path
                    part = F.pad(x[..., max(first, 0):], (max(0, -first), 0, left, right),
                                 value=float("-inf"))
                    pooled.append(F.max_pool2d(part, (kb, kf), (kb, kf), ceil_mode=True))
                else:
                    # Frames before this phase's first one and the partial last windows (frames
                    # after, bands below) count as -inf, like max_pool2d's padding with ceil_mode.
                    pooled.append(_window_max(_window_max(x, dim=-1, k=kf, first=first),
                                              dim=-2, k=kb, first=0))
            if len(pooled) == 1:
                x = pooled[0]
            else:
                n, c, h = x.shape[0], pooled[0].shape[1], pooled[0].shape[2]
                width = max(part.shape[-1] for part in pooled)
                x = torch.empty(n * len(pooled), c, h, width, memory_format=torch.channels_last).zero_()
                for i, part in enumerate(pooled):
                    x[i * n: (i + 1) * n, ..., : part.shape[-1]] = part
            bases = [b + mult * o for o in phases for b in bases]
            mult, q = mult * kf, new_q
        return x, bases, mult, q

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        """Dense blocks and classifier on flattened convolutional outputs ``[n, features]``."""
        for w, b in self.dense:
            h = torch.relu_(F.linear(h, w, b))
        return self.classifier(h)

    def patches(self, patches: torch.Tensor) -> torch.Tensor:
        """Logits ``[n, classes]`` of standardised patches ``[n, bands, frames]``, one network
        pass each (the maps of a batch are ``[n, C, bands, frames]``, channels last)."""
        x = patches[:, None].contiguous(memory_format=torch.channels_last)
        for op in self.ops:
            if op[0] == "conv":
                x = torch.relu_(F.conv2d(x, op[1], op[2]))
                continue
            _, kf, kb, top, left, right = op
            if left:
                x = F.max_pool2d(F.pad(x, (top, 0, left, right), value=float("-inf")), (kb, kf), (kb, kf),
                                 ceil_mode=True)
            else:
                x = _window_max(_window_max(x, dim=-1, k=kf, first=-top), dim=-2, k=kb, first=0)
        # The last pooling takes every remaining frame; Keras' NHWC flatten: [n, bands, C].
        return self._head(x.amax(dim=-1).permute(0, 2, 1).flatten(1))

    def sliding(self, z: torch.Tensor, n_patches: int) -> torch.Tensor:
        """Logits ``[n_patches, classes]`` of the patches starting every 2 frames of the
        normalised image ``z`` ``[bands, frames]``, with convolutions shared by overlapping
        patches."""
        maps, bases, mult, q = self._maps(z[None, None])
        pooled = _sliding_max(maps, self.final_frames)  # [phases, C, bands, columns]
        cols = torch.arange(0, pooled.shape[-1], q)
        starts = torch.tensor(bases)[:, None] + mult * cols[None, :]  # [phases, columns]
        keep = (starts % PATCH_STEP == 0) & (starts >= 0) & (starts // PATCH_STEP < n_patches)
        which, col = keep.nonzero(as_tuple=True)
        # Keras' NHWC flatten: [patch, bands, C].
        h = pooled.permute(0, 3, 2, 1)[which, cols[col]].flatten(1)
        logits = torch.empty(n_patches, self.n_classes)
        logits[starts[which, col] // PATCH_STEP] = self._head(h)
        return logits


def _window_max(x: torch.Tensor, *, dim: int, k: int, first: int) -> torch.Tensor:
    """Maxima over consecutive windows of ``k`` along ``dim``, the first starting at index
    ``first`` (negative: it starts before the data), the last one partial where the data ends;
    indices outside the data are ignored, as -inf padding would be.

    The same numbers as ``F.max_pool2d(..., ceil_mode=True)`` with implicit padding, but as ``k``
    elementwise maxima of strided views: NCHW max pooling with few columns is far slower on CPU
    (about 20 ms against 3 ms for INA's first map of a minute of audio).
    """
    n = x.shape[dim]
    if k == 1 and first == 0:
        return x
    n_out = -(-(n - first) // k)
    out = None
    first_full = False  # out is still a view of x
    for j in range(k):
        lo = max(0, -(-(-first - j) // k))  # first window whose j-th element is inside the data
        hi = min(n_out, (n - 1 - first - j) // k + 1)
        if hi <= lo:
            continue
        start = first + j + k * lo
        view = x.narrow(dim, start, k * (hi - lo) - k + 1)
        idx = [slice(None)] * x.ndim
        idx[dim] = slice(None, None, k)
        view = view[tuple(idx)]
        if lo == 0 and hi == n_out and (out is None or first_full):
            # Whole-coverage views: the first two make the output in one pass.
            if out is None:
                out, first_full = view, True
            else:
                out, first_full = torch.maximum(out, view), False
            continue
        if out is not None and first_full:
            out, first_full = out.clone(), False
        if out is None:
            shape = list(x.shape)
            shape[dim] = n_out
            out = x.new_full(shape, float("-inf"))
        target = out.narrow(dim, lo, hi - lo)
        torch.maximum(target, view, out=target)
    return out.clone() if first_full else out


def _sliding_max(x: torch.Tensor, width: int) -> torch.Tensor:
    """Maximum over ``width`` consecutive columns (dim -1), stride 1, by doubling: a few
    elementwise maxima instead of ``width`` comparisons per output."""
    out_cols = x.shape[-1] - width + 1
    span, acc = 1, x
    result = None
    offset = 0
    remaining = width
    while remaining:
        if remaining & 1:
            part = acc[..., offset: offset + out_cols]
            result = part if result is None else torch.maximum(result, part)
            offset += span
        remaining >>= 1
        if remaining:
            acc = torch.maximum(acc[..., :-span], acc[..., span:])
            span *= 2
    return result


def _keras_same_pads(n: int, k: int) -> tuple[int, int]:
    total = max((math.ceil(n / k) - 1) * k + k - n, 0)
    return total // 2, total - total // 2


#: Default of ``fast_margin``: the fast path recomputes exactly every patch whose class margin
#: (top probability minus the next one) under its shared evaluation is below this. Chosen by
#: measurement on real recordings (``bench/segment_fast_exact.py``): the smallest margin at which
#: the labels after smoothing equal the exact path's.
FAST_MARGIN = 0.5

#: Probabilities that move by more than this when recomputed exactly mark the shared
#: approximation as unreliable there (the segmenter's check of smoothed runs).
PROBE_TOLERANCE = 0.2

# Compiled evaluators live as long as their model; a compiled copy is rebuilt when any of the
# model's parameters or buffers is replaced or changed in place (tensor version counters).
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights_stamp(model: nn.Module) -> tuple:
    return tuple((id(t), t._version) for t in itertools.chain(model.parameters(), model.buffers()))


def compiled_ina(model: nn.Module, *, bands: int) -> CompiledIna:
    """The :class:`CompiledIna` of ``model`` for inputs of ``bands`` bands, cached with the model
    and rebuilt when its weights change."""
    stamp = (bands, _weights_stamp(model))
    cached = _COMPILED.get(model)
    if cached is None or cached[0] != stamp:
        cached = (stamp, CompiledIna(model, bands=bands))
        _COMPILED[model] = cached
    return cached[1]


def _class_margin(logits: torch.Tensor) -> torch.Tensor:
    """Top softmax probability minus the next one, per row of ``logits`` ``[n, classes]``."""
    if logits.shape[1] < 2:
        return torch.ones(logits.shape[0])
    top2 = torch.softmax(logits, dim=-1).topk(2, dim=-1).values
    return top2[:, 0] - top2[:, 1]


def prepare_patches(model: nn.Module, feats: torch.Tensor
                    ) -> tuple[CompiledIna, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """What evaluating every patch (68 frames, every 2) of ``feats`` ``[bands, frames]`` needs:
    ``(compiled network, float features, finite values, finite patches, number of patches)``.
    Raises :class:`ConfigError` below one patch."""
    bands, n_frames = feats.shape
    n_patches = PatchGrid(n_frames).n_patches
    if n_patches == 0:
        raise ConfigError(f"need at least {PATCH_FRAMES} frames, got {n_frames}")
    feats = feats.float()
    ok = torch.isfinite(feats)
    finite_frame = ok.all(dim=0)
    finite = F.max_pool1d((~finite_frame).float()[None, None], PATCH_FRAMES, PATCH_STEP)[0, 0] == 0
    model.eval()
    return compiled_ina(model, bands=bands), feats, ok, finite, n_patches


@torch.inference_mode()
def patch_logits(model: nn.Module, feats: torch.Tensor, *, mode: str = "fast",
                 fast_margin: float = FAST_MARGIN, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of every patch (68 frames, every 2 frames) of ``feats`` ``[bands, frames]``.

    ``mode="exact"`` evaluates every patch on its own, normalised by its own statistics, as the
    original. ``mode="fast"`` evaluates the whole matrix with shared convolutions (frames
    normalised by the statistics of the patch centred on them), then recomputes exactly the
    patches whose class margin is below ``fast_margin`` (close decisions). ``fast_margin=0`` gives the shared evaluation alone (for embeddings, whose
    outputs are not class scores); ``1`` recomputes every patch.

    Returns ``(logits [n_patches, n_classes], finite [n_patches])``; ``finite`` is False for a
    patch holding a non-finite value (digital silence), whose logits are meaningless (the original
    gives such patches probability 0.5). ``frames`` must be at least 68.
    """
    if mode not in ("fast", "exact"):
        raise ConfigError(f"mode must be 'fast' or 'exact', got {mode!r}")
    if not 0.0 <= fast_margin <= 1.0:
        raise ConfigError(f"fast_margin must be within [0, 1], got {fast_margin}")
    net, feats, ok, finite, n_patches = prepare_patches(model, feats)
    if mode == "exact" or fast_margin >= 1.0:
        return _exact_logits(net, feats, ok, torch.arange(n_patches), batch_size), finite

    logits = _shared_logits(net, feats, ok, n_patches)
    if fast_margin > 0:
        close = ((_class_margin(logits) < fast_margin) & finite).nonzero()[:, 0]
        if len(close):
            logits[close] = _exact_logits(net, feats, ok, close, batch_size)
    return logits, finite


def _shared_logits(net: CompiledIna, feats: torch.Tensor, ok: torch.Tensor, n_patches: int) -> torch.Tensor:
    """Logits of every patch from convolutions shared over the whole matrix, each frame
    normalised like the patch centred on it.

    Statistics over the finite values only (the original never normalises a classified patch
    over silence), so that the result at a frame depends on its neighbours alone and not on the
    rest of the matrix. (Normalising blocks of consecutive patches by their middle patch's
    statistics instead was measured: no fewer changed decisions at equal speed.)
    """
    values = torch.where(ok, feats, 0.0).double()
    per_frame = torch.stack([ok.sum(0).double(), values.sum(0), values.square().sum(0)])
    half = PATCH_FRAMES // 2
    padded = F.pad(per_frame[None], (half, PATCH_FRAMES - half - 1), mode="replicate")
    count, s1, s2 = F.avg_pool1d(padded, PATCH_FRAMES, 1)[0]
    count = count.clamp_min(1e-12)
    mean = s1 / count
    std = (s2 / count - mean.square()).clamp_min(1e-12).sqrt()
    # Non-finite values become 0 (the mean): only patches already marked non-finite see them,
    # apart from the rare reach of a 'same' pooling past a patch's edge.
    z = torch.where(ok, (feats - mean.float()) / std.float(), 0.0)  # [bands, frames]
    return net.sliding(z, n_patches)


def _exact_logits(net: CompiledIna, feats: torch.Tensor, ok: torch.Tensor, which: torch.Tensor,
                  batch_size: int) -> torch.Tensor:
    """Logits of the patches ``which`` of ``feats`` ``[bands, frames]``, each standardised by its
    own statistics (non-finite values, only in patches that get 0.5 anyway, replaced by the
    matrix's finite minimum to keep the numbers finite)."""
    if not bool(ok.all()):
        feats = torch.where(ok, feats, feats[ok].min() if bool(ok.any()) else 0.0)
    patches = feats.unfold(1, PATCH_FRAMES, PATCH_STEP).permute(1, 0, 2)  # [n, bands, 68] (a view)
    out = [net.patches(standardize(patches[which[i: i + batch_size]]))
           for i in range(0, len(which), batch_size)]
    return torch.cat(out) if out else torch.empty(0, net.n_classes)


def _windows(bands: np.ndarray) -> np.ndarray:
    """Every patch of ``bands`` ``[frames, n]`` as a view ``[n_patches, 68, n]``."""
    view = np.lib.stride_tricks.sliding_window_view(bands, (PATCH_FRAMES, bands.shape[1]))
    return view[::PATCH_STEP, 0]


def finite_patches(bands: np.ndarray, patches: np.ndarray, *, n_bands: int) -> np.ndarray:
    """Whether each of the given patches of ``bands`` ``[frames, >= n_bands]`` holds only finite
    values (reads those patches' frames alone)."""
    return np.isfinite(_windows(bands)[patches][:, :, :n_bands]).all(axis=(1, 2))


def exact_patch_probs(model: nn.Module, bands: np.ndarray, patches: np.ndarray, *, n_bands: int,
                      pool=None, batch_size: int = 256) -> np.ndarray:
    """Exact probabilities ``[len(patches), classes]`` of the given (finite) patches of
    ``bands`` ``[frames, >= n_bands]``, each normalised by its own statistics; batches run on
    ``pool`` when given."""
    net = compiled_ina(model, bands=n_bands)
    windows = _windows(bands)

    def run(part: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(windows[part][:, :, :n_bands])).transpose(1, 2)
        with torch.inference_mode():  # per thread: the pool's workers need their own
            return torch.softmax(net.patches(standardize(x.float())), dim=-1).numpy()

    parts = [patches[i: i + batch_size] for i in range(0, len(patches), batch_size)]
    results = list(pool.map(run, parts)) if pool is not None else [run(p) for p in parts]
    return np.concatenate(results) if results else np.zeros((0, net.n_classes), dtype=np.float32)
