"""SwishNet (Hussain & Haque 2018, arXiv:1812.00149): a small 1-D CNN on MFCC frames.

The input patch ``[batch, n_features, frames]`` is read as ``n_features`` channels over time
(SwishNet's own input: 22 MFCCs x 16 frames per second of audio, preset ``mfcc_swishnet``). Every
convolution is a *causal gated* unit: two causal 1-D convolutions with ``filters // 2`` outputs each,
``sigmoid(a) * tanh(b)``. With ``w = width``::

    block 1: gated(16w, k=3) | gated(16w, k=6)  concatenated          -> 16w channels
    block 2: gated(8w, k=3)  | gated(8w, k=6)   concatenated          ->  8w
    block 3: gated(8w, k=3)  | gated(8w, k=6)   concatenated, + residual
    ------------------------------------------------------------- green line
    block 4: x += gated(16w, k=3, dilation 3)                 (residual)
    block 5: x += s5 = gated(16w, k=3, dilation 2)            (residual, skip)
    block 6: x += s6 = gated(16w, k=3, dilation 2)            (residual, skip)
    block 7: s7 = gated(16w, k=3, dilation 2)                 (skip)
    block 8: s8 = gated(32w, k=3, dilation 2)                 (skip)
    concat(s5, s6, s7, s8) -> 40w channels; global average pooling over time
    ------------------------------------------------------------- red line (embedding, 40w)
    output: Dense n_classes (softmax outside: the model returns logits)

The published network ends in a 1x1 convolution to the classes followed by global average pooling;
both are linear, so pooling first and applying a dense layer is the same function and gives the
embedding the paper takes at its red line. Dilations keep every layer's output as long as its input
(what the residual additions need); the authors' public Keras code does the same.

Red line: after the global average pooling, before the output layer (embedding 40 x width).
Green line: after the three multi-scale blocks; ``intermediate`` fine-tunes the dilated
residual/skip blocks and the classifier. (Our reading of the paper's Figure 2, whose text does not
say where the lines are.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from speechmusic.errors import ModelError
from speechmusic.models.base import Body, SpeechMusicModel, make_classifier, positive_int
from speechmusic.models.registry import register

__all__ = ["SwishNet"]


class CausalGatedConv1d(nn.Module):
    """``sigmoid(conv_a(x)) * tanh(conv_b(x))`` with causal (left-only) padding.

    ``[batch, in_channels, frames]`` -> ``[batch, filters // 2, frames]``.
    """

    def __init__(self, in_channels: int, filters: int, *, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation  # output frame t sees inputs t - pad .. t only
        self.gate = nn.Conv1d(in_channels, filters // 2, kernel, dilation=dilation)
        self.signal = nn.Conv1d(in_channels, filters // 2, kernel, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (self.pad, 0))
        return torch.sigmoid(self.gate(x)) * torch.tanh(self.signal(x))


class _MultiScale(nn.Module):
    """Two gated units with kernels 3 and 6 side by side, optionally plus the input."""

    def __init__(self, in_channels: int, filters: int, *, residual: bool) -> None:
        super().__init__()
        self.short = CausalGatedConv1d(in_channels, filters, kernel=3)
        self.long = CausalGatedConv1d(in_channels, filters, kernel=6)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.short(x), self.long(x)], dim=1)
        return x + y if self.residual else y


class _Dilated(nn.Module):
    """Blocks 4-8: residual chain with skip outputs, global average pooling at the end."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.block4 = CausalGatedConv1d(channels, 16 * width, kernel=3, dilation=3)
        self.block5 = CausalGatedConv1d(channels, 16 * width, kernel=3, dilation=2)
        self.block6 = CausalGatedConv1d(channels, 16 * width, kernel=3, dilation=2)
        self.block7 = CausalGatedConv1d(channels, 16 * width, kernel=3, dilation=2)
        self.block8 = CausalGatedConv1d(channels, 32 * width, kernel=3, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.block4(x)
        s5 = self.block5(x)
        x = x + s5
        s6 = self.block6(x)
        x = x + s6
        skips = torch.cat([s5, s6, self.block7(x), self.block8(x)], dim=1)
        return skips.mean(dim=-1)  # global average pooling over frames


@register("swishnet")
class SwishNet(SpeechMusicModel):
    """SwishNet; see the module docstring for the layers, red and green lines.

    ``width`` is the paper's width multiplier (1: SwishNet-slim, 2: SwishNet-wide);
    ``head_units`` as for every model (``None``: single output layer).
    """

    red_line = "after global average pooling of the concatenated skip outputs (40 x width)"
    green_line = "after the three multi-scale blocks: the dilated residual/skip blocks fine-tune"

    def __init__(self, *, n_classes: int, input_shape: Sequence[int], width: int = 1,
                 head_units: int | None = None) -> None:
        super().__init__(n_classes=n_classes, input_shape=input_shape)
        if len(self.input_shape) != 2:
            raise ModelError(f"swishnet: input_shape must be (n_features, frames), got {self.input_shape}")
        width = positive_int(width, "swishnet: width")
        n_features = self.input_shape[0]
        lower = nn.Sequential(
            _MultiScale(n_features, 16 * width, residual=False),
            _MultiScale(16 * width, 8 * width, residual=False),
            _MultiScale(8 * width, 8 * width, residual=True),
        )
        self.body = Body(lower, _Dilated(8 * width, width))
        self.embedding_size = 40 * width
        self.classifier = make_classifier(in_features=self.embedding_size, n_classes=self.n_classes,
                                          head_units=head_units)
        self.params = {"width": width, "head_units": head_units}
