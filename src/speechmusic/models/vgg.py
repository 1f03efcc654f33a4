"""The paper's VGG-like network (inspired by Sakashita & Aono, DCASE 2018), on MelSpec patches.

The patch ``[batch, n_features, frames]`` is an image of one channel with bands as height and
frames as width (the paper's input: 128 bands x 10 frames)::

    Conv2D 32 3x3 (same)  BN ReLU
    Conv2D 32 3x3 (same)  BN ReLU  MaxPool 3x3        [128,10] -> [42,3]
    Conv2D 32 3x3 (same)  BN ReLU
    Conv2D 32 3x3 (same)  BN ReLU  MaxPool 3x3        -> [14,1]
    Flatten                                            -> 448
    ------------------------------------------------------------- green line
    Dense fc_units[0] ReLU
    Dense fc_units[1] ReLU
    ------------------------------------------------------------- red line (embedding)
    output: Dense n_classes (softmax outside: the model returns logits)

Pooling is Keras' default ('valid', rounding down); where an axis is shorter than 3 at a pooling
the pooling rounds up instead (ceil mode), so any input size works. The paper does not give the widths
of the two fully connected layers; ``fc_units`` defaults to 128 and 128, like every other dense
layer of the paper.

Red line: after the second fully connected layer, before the output layer (embedding
``fc_units[-1]``). Green line: after flatten; ``intermediate`` fine-tunes the two fully connected
layers and the classifier. (Our reading of the paper's Figure 3, whose text does not say where the
lines are.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from speechmusic.errors import ModelError
from speechmusic.models.base import Body, SpeechMusicModel, int_tuple, make_classifier, positive_int
from speechmusic.models.registry import register

__all__ = ["VggLike"]


class _Image(nn.Module):
    """``[batch, n_features, frames]`` -> ``[batch, 1, n_features, frames]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


@register("vgg")
class VggLike(SpeechMusicModel):
    """The VGG-like network; see the module docstring for the layers, red and green lines.

    channels
        Kernels per convolution (32). ``n_conv`` convolutions (4), pooling after every second.
    pool
        Max-pooling window and stride (3).
    fc_units
        Widths of the two fully connected layers ((128, 128)); ``dropout`` after each (0).
    bn_momentum
        PyTorch batch-norm momentum (0.01 = Keras' default 0.99).
    head_units
        ``None``: a single output layer; an int: the paper's appended classifier with that width.
    """

    red_line = "after the second fully connected layer (its ReLU), before the output layer"
    green_line = "after flatten: convolutions frozen, the fully connected layers fine-tune"

    def __init__(self, *, n_classes: int, input_shape: Sequence[int], channels: int = 32,
                 n_conv: int = 4, pool: int = 3, fc_units: Sequence[int] = (128, 128),
                 dropout: float = 0.0, bn_momentum: float = 0.01,
                 head_units: int | None = None) -> None:
        super().__init__(n_classes=n_classes, input_shape=input_shape)
        if len(self.input_shape) != 2:
            raise ModelError(f"vgg: input_shape must be (n_features, frames), got {self.input_shape}")
        channels = positive_int(channels, "vgg: channels")
        n_conv = positive_int(n_conv, "vgg: n_conv")
        pool = positive_int(pool, "vgg: pool")
        fc_units = list(int_tuple(fc_units, "vgg: fc_units"))
        if not 0.0 <= dropout < 1.0 or not 0.0 <= bn_momentum <= 1.0:
            raise ModelError(f"vgg: need dropout in [0, 1) and bn_momentum in [0, 1], got {dropout}, {bn_momentum}")

        h, w = self.input_shape
        lower: list[nn.Module] = [_Image()]
        in_ch = 1
        for i in range(n_conv):
            lower += [nn.Conv2d(in_ch, channels, 3, padding="same"),
                      nn.BatchNorm2d(channels, momentum=bn_momentum), nn.ReLU()]
            in_ch = channels
            if i % 2 == 1:
                # Round down like Keras unless an axis would vanish; decided here, from the shape.
                ceil = h < pool or w < pool
                lower.append(nn.MaxPool2d(pool, pool, ceil_mode=ceil))
                h, w = (-(-h // pool), -(-w // pool)) if ceil else (h // pool, w // pool)
        lower.append(nn.Flatten())
        width = channels * h * w
        upper: list[nn.Module] = []
        for units in fc_units:
            upper += [nn.Linear(width, units), nn.ReLU()]
            if dropout > 0:
                upper.append(nn.Dropout(dropout))
            width = units

        self.body = Body(nn.Sequential(*lower), nn.Sequential(*upper))
        self.embedding_size = width
        self.classifier = make_classifier(in_features=width, n_classes=self.n_classes,
                                          head_units=head_units)
        self.params = {"channels": channels, "n_conv": n_conv, "pool": pool, "fc_units": fc_units,
                       "dropout": float(dropout), "bn_momentum": float(bn_momentum),
                       "head_units": head_units}

    def column_program(self) -> tuple[list, str] | None:
        """The convolutions and poolings for shared evaluation (see
        :mod:`speechmusic.models.patchwise`): bands are the image's height, frames its width."""
        from speechmusic.models.patchwise import ColumnConv, ColumnPool, fold_batch_norm

        mods = list(self.body.lower)
        layers: list = []
        i = 1
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.Conv2d):
                if (m.stride != (1, 1) or m.dilation != (1, 1) or m.groups != 1
                        or not isinstance(mods[i + 1], nn.BatchNorm2d) or not isinstance(mods[i + 2], nn.ReLU)):
                    return None
                w, b = fold_batch_norm(m.weight, m.bias, mods[i + 1])
                kb, kt = m.kernel_size
                if m.padding == "same":
                    pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in (kb, kt)]
                elif isinstance(m.padding, tuple):
                    pads = [(p, p) for p in m.padding]
                else:
                    return None
                layers.append(ColumnConv(w, b, pad_b=pads[0], pad_t=pads[1]))
                i += 3
            elif isinstance(m, nn.MaxPool2d):
                k, s = m.kernel_size, m.stride
                if k != s or m.padding != 0 or m.dilation != 1 or not isinstance(k, int):
                    return None
                mode = "ceil" if m.ceil_mode else "floor"
                layers.append(ColumnPool(kb=k, kt=k, mode_b=mode, mode_t=mode))
                i += 1
            elif isinstance(m, nn.Flatten) and i == len(mods) - 1:
                return layers, "chw"
            else:
                return None
        return None
