"""Every patch of a long feature matrix through a model: patch by patch, or with shared convolutions.

A segmenter classifies the patch that starts at every frame (or every ``step`` frames) of a file's
features. Neighbouring patches share all but ``step`` of their frames, so running each patch
through the network on its own repeats nearly all of the convolutions' work.
:class:`PatchwiseModel` gives the logits of every patch two ways:

``mode="exact"``
    the model itself on batches of patches: what training and evaluation compute.
``mode="fast"``
    for the convolutional networks that describe their layers (:meth:`SpeechMusicModel.column_program`:
    the VGG-like and INA networks), the convolutions run once over the whole matrix, and each
    patch still gets its own zero padding and its own pooling grid, so the result *is* per-patch
    evaluation (up to the order of float additions; ``tests/models/test_patchwise.py``). Other
    models (the DNN, SwishNet: a few hundred thousand multiply-adds per patch) run patch by
    patch on batches, which is already cheap.

Patches here are normalised by a :class:`~speechmusic.features.FeatureNormalizer` (one affine map
per band, the same for every patch), so normalising the whole matrix once is exact. (INA's
published networks normalise each patch by its own statistics instead; their shared evaluation,
an approximation checked by exact recomputation, is :mod:`speechmusic.segment.sliding`.)

How the fast path stays exact: column programs
----------------------------------------------
Maps are held as ``[1, channels, bands, positions]`` (channels-last memory). A patch's activation
at some layer is a list of *columns*, one per frame position the layer still has; column ``j``
of the patch starting at frame ``s`` is ``base[..., s + offset]`` for some *base* map computed for
all patch starts at once. A column whose receptive field lies inside the patch is the same base
at a shifted offset for every ``j`` (that is the shared convolution); a column whose receptive
field reaches the patch's edge, where per-patch evaluation sees zero padding (or a pooling
window cut short), gets a base of its own, also computed for every patch start.

A convolution with ``kt`` taps over frames is the sum of ``kt`` *column products* (tap ``k`` of the
kernel applied across bands to a base), each computed once per (tap, base) and shared by every
output column that uses it. An output column whose taps all read one base (an interior column,
or an edge column cut by the padding) runs as one direct convolution with that part of the
kernel (dilated where earlier poolings spread the columns apart), unless the products it needs
are computed anyway. A pooling pools each base over bands once, then takes the maximum of the
shifted pooled bases; bias and ReLU, which commute with the maximum, wait until after it.
Output columns with the same recipe up to a uniform shift share one base. Only what the final
columns need is computed, and maps are released as soon as their last reader has run. With a
patch every ``step`` frames, a map that is only ever read at positions of one residue modulo
``step`` is computed at those positions alone: after INA's first pooling (2 frames, stride 2),
with a patch every 2 frames, every later map is read at one parity only, so that half of the
network's work is skipped (``_Program._decimate``).

The cost is one pass per distinct (tap, base): for the VGG-like network on 10-frame MelSpec
patches about 4.2 M multiply-adds per patch start against 14.5 M for the patch on its own, in
larger and better-shaped convolutions; a network whose patch is nearly all edge saves less (the
INA architecture with 'same' padding on 10 frames: about 74 M against 100 M).
"""

from __future__ import annotations

import itertools
import math
import weakref
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from speechmusic.errors import ConfigError

__all__ = ["ColumnConv", "ColumnPool", "MaxOverColumns", "PatchwiseModel", "fold_batch_norm",
           "patchwise"]

_CL = torch.channels_last


# ------------------------------------------------------------------------------------------------
# layer descriptions (what an architecture's ``column_program()`` returns)
@dataclass(frozen=True)
class ColumnConv:
    """A stride-1 convolution followed by ReLU, batch norm folded in.

    ``weight`` ``[out, in, kb, kt]`` (bands, frames); zero padding ``pad_b`` / ``pad_t``
    ``(before, after)`` on the band and frame axes of every patch, as the model pads it.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    pad_b: tuple[int, int]
    pad_t: tuple[int, int]


@dataclass(frozen=True)
class ColumnPool:
    """Max pooling with stride equal to the window (``kb`` bands, ``kt`` frames).

    Each axis has a mode: ``"floor"`` (windows from 0, the partial last one dropped), ``"ceil"``
    (kept: PyTorch's ``ceil_mode``) or ``"same"`` (Keras: ``ceil(n / k)`` windows centred by a
    padding of ``total // 2`` before). Cells outside the patch never win.
    """

    kb: int
    kt: int
    mode_b: str = "floor"
    mode_t: str = "floor"


@dataclass(frozen=True)
class MaxOverColumns:
    """The maximum over every remaining frame position (INA's last pooling)."""


def _windows(n: int, k: int, mode: str) -> tuple[int, int]:
    """``(first, count)``: the windows of ``k`` cells over ``n`` start at ``first + i * k``."""
    if mode == "floor":
        return 0, n // k
    if mode == "ceil":
        return 0, -(-n // k)
    if mode == "same":
        total = max((math.ceil(n / k) - 1) * k + k - n, 0)
        return -(total // 2), math.ceil(n / k)
    raise ConfigError(f"unknown pooling mode {mode!r}")


def fold_batch_norm(weight: torch.Tensor, bias: torch.Tensor | None,
                    bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight, bias)`` of a convolution or linear layer followed by an eval-mode batch norm."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return (weight * scale.reshape(shape)).detach(), ((b - bn.running_mean) * scale + bn.bias).detach()


# ------------------------------------------------------------------------------------------------
# the column program
class _Node:
    """A base map ``[1, C, H, L]``: column ``j`` of patch ``s`` reads position ``s + offset``."""

    __slots__ = ("kind", "args", "channels", "height", "length", "readers")

    def __init__(self, kind: str, args: tuple, channels: int, height: int, length: int) -> None:
        self.kind, self.args = kind, args
        self.channels, self.height, self.length = channels, height, length
        self.readers = 0


class _Program:
    """The column program of a layer list for patches of ``frames`` frames and ``bands`` bands,
    planned for an input of ``length`` frames (``length - frames + 1`` patch starts).

    Node kinds: ``input``; ``product`` ``(layer, tap, base)``; ``sum`` ``(layer, ((product,
    shift), ...))``; ``conv`` ``(layer, base, first tap, last tap, dilation)`` (a direct
    convolution with part of the kernel); ``bandpool`` ``(base, k, first, count)``; ``pool``
    ``(((base, shift), ...),)`` (maximum over frames).
    """

    def __init__(self, layers: list, *, bands: int, frames: int, length: int, step: int = 1) -> None:
        self.nodes: list[_Node] = []
        self._memo: dict[tuple, int] = {}
        x = self._node("input", (), 1, bands, length)
        cols: list[tuple[int, int]] = [(x, j) for j in range(frames)]
        height = bands
        self.n = length - frames + 1
        for li, layer in enumerate(layers):
            if isinstance(layer, ColumnConv):
                cols, height = self._conv(li, layer, cols, height)
            elif isinstance(layer, ColumnPool):
                cols, height = self._pool(layer, cols, height)
            elif isinstance(layer, MaxOverColumns):
                cols = [self._frame_max(cols)]
            else:
                raise ConfigError(f"unknown column layer {type(layer).__name__}")
            if not cols:
                raise ConfigError("the layers leave no frame position of a patch")
        self.columns = cols
        self._lower(layers)
        self._decimate(step)

    # -------------------------------------------------------------- planning
    def _node(self, kind: str, args: tuple, channels: int, height: int, length: int) -> int:
        key = (kind, args)
        if key not in self._memo:
            self.nodes.append(_Node(kind, args, channels, height, length))
            self._memo[key] = len(self.nodes) - 1
        return self._memo[key]

    def _conv(self, li: int, layer: ColumnConv, cols: list, height: int) -> tuple[list, int]:
        c_out, _, kb, kt = layer.weight.shape
        t0, t1 = layer.pad_t
        out_h = height + sum(layer.pad_b) - kb + 1
        out = []
        for j in range(len(cols) + t0 + t1 - kt + 1):
            # Taps over the patch's zero padding add nothing.
            terms = [(k, *cols[j + k - t0]) for k in range(kt) if 0 <= j + k - t0 < len(cols)]
            if not terms:
                raise ConfigError("a convolution output reads only padding")
            m = min(o for _, _, o in terms)
            prods = tuple((self._node("product", (li, k, b), c_out, out_h, self.nodes[b].length), o - m)
                          for k, b, o in terms)
            length = min(self.nodes[p].length - r for p, r in prods)
            out.append((self._node("sum", (li, prods), c_out, out_h, length), m))
        return out, out_h

    def _pool(self, layer: ColumnPool, cols: list, height: int) -> tuple[list, int]:
        first_t, count_t = _windows(len(cols), layer.kt, layer.mode_t)
        first_b, count_b = _windows(height, layer.kb, layer.mode_b)
        if layer.kb > 1 or first_b or count_b != height:
            # Bands first (each base once, shared by every window that reads it), then frames
            # on the smaller maps.
            pooled = {}
            for b, _ in cols:
                if b not in pooled:
                    nb = self.nodes[b]
                    pooled[b] = self._node("bandpool", (b, layer.kb, first_b, count_b), nb.channels,
                                           count_b, nb.length)
            cols = [(pooled[b], o) for b, o in cols]
        out = []
        for i in range(count_t):
            lo = first_t + i * layer.kt
            out.append(self._frame_max([cols[q] for q in range(lo, lo + layer.kt) if 0 <= q < len(cols)]))
        return out, count_b

    def _frame_max(self, cols: list) -> tuple[int, int]:
        m = min(o for _, o in cols)
        rel = tuple(sorted({(b, o - m) for b, o in cols}))
        if len(rel) == 1 and rel[0][1] == 0:
            return rel[0][0], m
        first = self.nodes[rel[0][0]]
        length = min(self.nodes[b].length - r for b, r in rel)
        return self._node("pool", (rel,), first.channels, first.height, length), m

    @staticmethod
    def _reads(node: _Node) -> list[tuple[int, int]]:
        """``(input, shift)`` for every read of ``node``: its position ``p`` reads the input's
        position ``p + shift``."""
        if node.kind in ("product", "bandpool"):
            return [(node.args[2] if node.kind == "product" else node.args[0], 0)]
        if node.kind == "conv":
            _, b, k0, k1, dil = node.args
            return [(b, k * dil) for k in range(k1 - k0 + 1)]
        if node.kind == "sum":
            return list(node.args[1])
        if node.kind == "pool":
            return list(node.args[0])
        return []

    def _decimate(self, step: int) -> None:
        """With patches starting every ``step`` frames, a map may be read at positions of one
        residue modulo ``step`` only (after a pooling over frames with that stride: INA's
        networks, patches every 2 frames): such a node is computed at those positions alone
        (``self.phase[node]`` = the residue), on maps ``step`` times shorter. A node is
        decimated when all its reads, the final gather's included, fall on one residue and every
        node reading it is decimated too."""
        self.step = step
        self.phase: dict[int, int] = {}
        if step == 1:
            return
        residues: dict[int, set[int]] = {i: set() for i in self.order}
        for b, o in self.columns:
            residues[b].add(o % step)
        for i in reversed(self.order):  # readers come after their inputs
            for j, shift in self._reads(self.nodes[i]):
                residues[j] |= {(r + shift) % step for r in residues[i]}
        for i in reversed(self.order):  # a node's readers are decided before it
            node = self.nodes[i]
            if (len(residues[i]) == 1 and not (node.kind == "conv" and node.args[4] % step)
                    and all(r in self.phase for r in self._readers.get(i, []))):
                self.phase[i] = next(iter(residues[i]))

    def decimated_length(self, i: int) -> int:
        """How many positions of node ``i`` are computed (its residue's, when decimated)."""
        n = self.nodes[i].length
        rho = self.phase.get(i)
        return n if rho is None else -(-(n - rho) // self.step)

    @classmethod
    def _inputs(cls, node: _Node) -> list[int]:
        """The maps ``node`` reads, once per read (a direct convolution reads its base once)."""
        if node.kind == "conv":
            return [node.args[1]]
        return [j for j, _ in cls._reads(node)]

    def _needed(self) -> list[bool]:
        need = [False] * len(self.nodes)
        stack = [b for b, _ in self.columns]
        while stack:
            i = stack.pop()
            if not need[i]:
                need[i] = True
                stack.extend(self._inputs(self.nodes[i]))
        return need

    def _lower(self, layers: list) -> None:
        """A sum over one base with consecutive taps at evenly spaced shifts becomes a direct
        convolution with that part of the kernel, unless the products it would use are computed
        anyway for other sums; then keep what the final columns need, count every node's readers
        and mark the maps whose bias and ReLU can wait until after a pooling."""
        need = self._needed()

        def direct(node: _Node) -> tuple | None:
            li, prods = node.args
            taps = [self.nodes[p].args[1] for p, _ in prods]
            bases = {self.nodes[p].args[2] for p, _ in prods}
            shifts = [r for _, r in prods]
            step = shifts[1] - shifts[0] if len(prods) > 1 else 1
            if (len(bases) == 1 and step >= 1 and taps == list(range(taps[0], taps[0] + len(taps)))
                    and shifts == [k * step for k in range(len(taps))]):
                return (li, bases.pop(), taps[0], taps[-1], step)
            return None

        sums = [i for i, node in enumerate(self.nodes) if need[i] and node.kind == "sum"]
        plans = {i: direct(self.nodes[i]) for i in sums}
        required = {p for i in sums if plans[i] is None for p, _ in self.nodes[i].args[1]}
        for i in sums:
            node = self.nodes[i]
            if plans[i] is not None and not all(p in required for p, _ in node.args[1]):
                node.kind, node.args = "conv", plans[i]
        need = self._needed()
        self.order = [i for i in range(len(self.nodes)) if need[i]]
        readers: dict[int, list[int]] = {}
        for i in self.order:
            for j in self._inputs(self.nodes[i]):
                self.nodes[j].readers += 1
                readers.setdefault(j, []).append(i)
        self._readers = readers
        final = {b for b, _ in self.columns}
        for b in final:
            self.nodes[b].readers += 1  # the final gather
        # Bias and ReLU commute with max pooling (max(relu(a + c), relu(b + c)) = relu(max(a, b) + c)
        # for a per-channel c): a map read only by poolings gets them after the pooling, on a
        # smaller map.
        self.deferred = {i for i in self.order if self.nodes[i].kind in ("sum", "conv") and i not in final
                         and all(self.nodes[r].kind in ("pool", "bandpool") for r in readers.get(i, []))}
        changed = True
        while changed:
            changed = False
            for i in self.order:
                if self.nodes[i].kind == "pool":
                    ins = set(self._inputs(self.nodes[i]))
                    if ins & self.deferred and not ins <= self.deferred:
                        self.deferred -= ins
                        changed = True

    def peak_floats_per_position(self) -> int:
        """The most floats held at once per input frame while the program runs (its maps are
        released after their last reader), for choosing how many patches a call takes."""
        left = [node.readers for node in self.nodes]
        live = peak = 0
        for i in self.order:
            node = self.nodes[i]
            live += node.channels * node.height
            peak = max(peak, live)
            for j in self._inputs(node):
                left[j] -= 1
                if left[j] == 0:
                    live -= self.nodes[j].channels * self.nodes[j].height
        return peak


class _Compiled:
    """A model's column program with its folded weights, channels-last."""

    def __init__(self, model: nn.Module, layers: list, flatten: str) -> None:
        self.layers = layers
        self.weights: dict[tuple[int, int, int], torch.Tensor] = {}
        self.biases = {li: layer.bias.float().contiguous() for li, layer in enumerate(layers)
                       if isinstance(layer, ColumnConv)}
        self.bands, self.frames = model.input_shape
        self.upper = model.body.upper
        self.classifier = model.classifier
        if flatten not in ("chw", "whc"):
            raise ConfigError(f"unknown flatten order {flatten!r}")
        self.flatten = flatten
        self._plans: dict[int, _Program] = {}
        probe = _Program(layers, bands=self.bands, frames=self.frames, length=self.frames + 63)
        self.floats_per_position = probe.peak_floats_per_position()

    def weight(self, li: int, k0: int, k1: int) -> torch.Tensor:
        """Taps ``k0 .. k1`` of layer ``li``'s kernel, channels-last."""
        key = (li, k0, k1)
        if key not in self.weights:
            w = self.layers[li].weight.float()[..., k0: k1 + 1]
            self.weights[key] = w.contiguous(memory_format=_CL)
        return self.weights[key]

    def plan(self, length: int, step: int = 1) -> _Program:
        plan = self._plans.get((length, step))
        if plan is None:
            if len(self._plans) > 8:
                self._plans.clear()
            plan = self._plans[(length, step)] = _Program(self.layers, bands=self.bands, frames=self.frames,
                                                          length=length, step=step)
        return plan

    def _epilogue(self, out: torch.Tensor, li: int) -> torch.Tensor:
        return torch.relu_(out.add_(self.biases[li][:, None, None]))

    def features(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """Flattened convolutional outputs ``[n, features]`` of the patches starting every
        ``step`` frames of ``x`` ``[bands, frames]``."""
        plan = self.plan(x.shape[1], step)
        nodes = plan.nodes
        values: list[torch.Tensor | None] = [None] * len(nodes)
        left = [node.readers for node in nodes]
        m = plan.step

        def take(i: int, shift: int = 0, length: int | None = None, rho: int | None = None) -> torch.Tensor:
            """Node ``i``'s map for one reader (released after its last), from ``shift`` on; for
            a reader computed at positions ``rho + step * q`` only (``rho`` not None), the
            positions ``rho + shift + step * q`` of the full map (``length`` of them)."""
            v = values[i]
            left[i] -= 1
            if left[i] == 0:
                values[i] = None
            if rho is not None:
                start = rho + shift
                if i not in plan.phase:  # a full map: every m-th position from start
                    return v[..., start::m][..., :length]
                shift = start // m  # decimated too, at residue start % m
            return v if length is None else v[..., shift: shift + length]

        for i in plan.order:
            node = nodes[i]
            kind, args = node.kind, node.args
            rho = plan.phase.get(i)
            dlen = plan.decimated_length(i)
            if kind == "input":
                out = x[None, None] if rho is None else x[None, None, :, rho::m]
                out = out.contiguous(memory_format=_CL)
            elif kind == "product":
                li, k, b = args
                out = _conv_bands(take(b, 0, dlen, rho), self.weight(li, k, k), None, self.layers[li].pad_b)
            elif kind == "conv":
                li, b, k0, k1, dil = args
                deferred = i in plan.deferred
                src = take(b) if rho is None else take(b, 0, dlen + (k1 - k0) * (dil // m), rho)
                out = _conv_bands(src, self.weight(li, k0, k1), None if deferred else self.biases[li],
                                  self.layers[li].pad_b, dilation=dil if rho is None else dil // m)
                if not deferred:
                    out = torch.relu_(out)
            elif kind == "sum":
                li, prods = args
                (p0, r0), rest = prods[0], prods[1:]
                first = take(p0, r0, dlen, rho)
                if rest:
                    out = torch.add(first, take(rest[0][0], rest[0][1], dlen, rho))
                    for p, r in rest[1:]:
                        out.add_(take(p, r, dlen, rho))
                else:
                    out = first.clone()
                if i not in plan.deferred:
                    out = self._epilogue(out, li)
            elif kind == "bandpool":
                b, kb, first_b, count_b = args
                out = _window_max_bands(take(b, 0, dlen, rho), kb, first_b, count_b)
                if b in plan.deferred:
                    out = self._epilogue(out, nodes[b].args[0])
            else:  # frame max
                rel = args[0]
                out = torch.maximum(take(rel[0][0], rel[0][1], dlen, rho),
                                    take(rel[1][0], rel[1][1], dlen, rho))
                for b, r in rel[2:]:
                    torch.maximum(out, take(b, r, dlen, rho), out=out)
                if rel[0][0] in plan.deferred:
                    out = self._epilogue(out, nodes[rel[0][0]].args[0])
            values[i] = out

        n = plan.n
        count = (n - 1) // step + 1
        parts = [values[b][0, :, :, o: o + (count - 1) * step + 1: step] if b not in plan.phase
                 else values[b][0, :, :, o // m: o // m + count] for b, o in plan.columns]
        maps = torch.stack(parts)  # [columns, C, H, patches]
        if self.flatten == "chw":  # torch's Flatten of [C, bands, frames]
            return maps.permute(3, 1, 2, 0).reshape(count, -1)
        return maps.permute(3, 0, 2, 1).reshape(count, -1)  # Keras' Flatten of [frames, bands, C]

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.upper(h))


def _conv_bands(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, pad_b: tuple[int, int],
                *, dilation: int = 1) -> torch.Tensor:
    """Convolution of ``x`` ``[1, C, H, L]`` with ``w`` ``[out, C, kb, kt]`` (frames dilated by
    ``dilation``, no frame padding), bands zero-padded by ``pad_b``; channels-last output."""
    before, after = pad_b
    c_out, c_in, kb, kt = w.shape
    if c_in * kb * kt <= 32:
        # Few inputs per output (a first layer): one matrix product on the gathered windows is
        # several times faster than the convolution library here.
        xp = x[0].permute(1, 2, 0)  # [H, L, C]
        if before or after:
            xp = F.pad(xp, (0, 0, 0, 0, before, after))
        h_out, l_out = xp.shape[0] - kb + 1, xp.shape[1] - (kt - 1) * dilation
        cols = torch.stack([xp[i: i + h_out, j * dilation: j * dilation + l_out]
                            for i in range(kb) for j in range(kt)], dim=-1).view(h_out * l_out, -1)
        out = cols @ w.reshape(c_out, -1).t() if bias is None else torch.addmm(bias, cols, w.reshape(c_out, -1).t())
        return out.view(h_out, l_out, c_out).permute(2, 0, 1)[None]
    sym = max(before, after)
    x = x.contiguous(memory_format=_CL)
    out = F.conv2d(x, w, bias, padding=(sym, 0), dilation=(1, dilation))
    if before != after:
        out = out[:, :, sym - before: sym - before + x.shape[2] + before + after - kb + 1]
    return out


def _window_max_bands(x: torch.Tensor, k: int, first: int, count: int) -> torch.Tensor:
    """Maxima over ``count`` windows of ``k`` bands (dim 2), window ``i`` starting at band
    ``first + i * k``; bands outside the map are ignored (every window holds at least one)."""
    n = x.shape[2]
    out, is_view = None, False
    for j in range(k):
        lo = max(0, -((first + j) // k))  # the first window whose j-th band is inside
        hi = min(count, (n - 1 - first - j) // k + 1)
        if hi <= lo:
            continue
        start = first + j + k * lo
        view = x[:, :, start: start + k * (hi - lo - 1) + 1: k]
        if lo == 0 and hi == count:
            if out is None:
                out, is_view = view, True
            else:
                out, is_view = torch.maximum(out, view), False
            continue
        if out is None:
            out = x.new_full((x.shape[0], x.shape[1], count, x.shape[3]), float("-inf"))
        elif is_view:
            out = out.clone()
        is_view = False
        target = out[:, :, lo:hi]
        torch.maximum(target, view, out=target)
    return out.clone() if is_view else out


# ------------------------------------------------------------------------------------------------
class PatchwiseModel:
    """Logits of every patch of a feature matrix, patch by patch or shared (see the module
    docstring). Build with :func:`patchwise` (cached per model, rebuilt when its weights change).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.n_classes = model.n_classes
        self.bands, self.frames = model.input_shape
        program = model.column_program() if hasattr(model, "column_program") else None
        self._compiled = _Compiled(model, *program) if program else None

    @property
    def shared(self) -> bool:
        """Whether ``mode="fast"`` shares convolutions (else both modes run patch by patch)."""
        return self._compiled is not None

    def block_patches(self, *, max_bytes: int = 24 * 2**20) -> int:
        """How many patch starts one call of the shared evaluation should take for its maps to
        stay within about ``max_bytes`` (at least 64)."""
        if self._compiled is None:
            return 1024
        per = 4 * self._compiled.floats_per_position
        return int(min(2000, max(64, max_bytes // max(per, 1))))

    @torch.inference_mode()
    def logits(self, feats: torch.Tensor | np.ndarray, *, step: int = 1, mode: str = "fast",
               per_patch: bool = False, batch_size: int = 256) -> torch.Tensor:
        """Logits ``[n, classes]`` of the patches starting at frames ``0, step, 2 step, ...`` of
        ``feats`` ``[bands, frames]``, every patch that fits.

        ``feats`` are normalised already, unless ``per_patch``: then each patch is standardised
        on its own first (minus its mean, over its population standard deviation, at least
        1e-6: INA's normalisation) and evaluated patch by patch in either mode.
        """
        if mode not in ("fast", "exact"):
            raise ConfigError(f"mode must be 'fast' or 'exact', got {mode!r}")
        if step < 1:
            raise ConfigError(f"step must be >= 1, got {step}")
        x = torch.as_tensor(feats).float()
        if x.ndim != 2 or x.shape[0] != self.bands:
            raise ConfigError(f"expected features [{self.bands}, frames], got {list(x.shape)}")
        if x.shape[1] < self.frames:
            raise ConfigError(f"need at least {self.frames} frames, got {x.shape[1]}")
        self.model.eval()
        if mode == "fast" and self._compiled is not None and not per_patch:
            c = self._compiled
            return c.head(c.features(x, step))
        patches = x.unfold(1, self.frames, step).permute(1, 0, 2)  # [n, bands, frames], a view
        out = []
        for i in range(0, patches.shape[0], batch_size):
            batch = patches[i: i + batch_size].contiguous()
            if per_patch:
                mean = batch.mean(dim=(1, 2), keepdim=True)
                std = batch.std(dim=(1, 2), keepdim=True, unbiased=False).clamp_min(1e-6)
                batch = (batch - mean) / std
            out.append(self.model(batch))
        return torch.cat(out)


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stamp(model: nn.Module) -> tuple:
    return tuple((id(t), t._version) for t in itertools.chain(model.parameters(), model.buffers()))


def patchwise(model: nn.Module) -> PatchwiseModel:
    """The :class:`PatchwiseModel` of ``model``, cached with it and rebuilt when any of its
    parameters or buffers is replaced or changed in place."""
    stamp = _stamp(model)
    cached = _CACHE.get(model)
    if cached is None or cached[0] != stamp:
        cached = (stamp, PatchwiseModel(model))
        _CACHE[model] = cached
    return cached[1]
