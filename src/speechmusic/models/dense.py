"""The dense models of the paper: the ``dnn`` baseline and the ``mlp_head`` on embeddings.

Both are ``Flatten -> Dense units (ReLU) -> Dense n_classes`` (section 4.1): the DNN baseline reads
a flattened MelSpec patch (128 x 10 = 1280 inputs), the head reads an embedding vector
(``input_shape=(embedding_size,)``, e.g. OpenL3's 512 or a model's :meth:`embed` output). They are
two names for the same structure because the paper uses it in these two roles.

Red line: after the hidden layer (its ReLU), embedding size ``units``.
Green line: at the input (there is only one hidden layer), so ``intermediate`` trains the same
weights as ``full``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from speechmusic.errors import ModelError
from speechmusic.models.base import Body, SpeechMusicModel, make_classifier, positive_int
from speechmusic.models.registry import register

__all__ = ["DenseBaseline", "MlpHead"]


class _Dense(SpeechMusicModel):
    red_line = "after the hidden dense layer (its ReLU), before the output layer"
    green_line = "at the input: intermediate trains everything, like full"

    def __init__(self, *, n_classes: int, input_shape: Sequence[int], units: int = 128,
                 dropout: float = 0.0, head_units: int | None = None) -> None:
        super().__init__(n_classes=n_classes, input_shape=input_shape)
        units = positive_int(units, f"{self.arch}: units")
        if not 0.0 <= dropout < 1.0:
            raise ModelError(f"{self.arch}: dropout must be in [0, 1), got {dropout}")
        upper: list[nn.Module] = [nn.Linear(math.prod(self.input_shape), units), nn.ReLU()]
        if dropout > 0:
            upper.append(nn.Dropout(dropout))
        self.body = Body(nn.Flatten(), nn.Sequential(*upper))
        self.embedding_size = units
        self.classifier = make_classifier(in_features=units, n_classes=self.n_classes,
                                          head_units=head_units)
        self.params = {"units": units, "dropout": float(dropout), "head_units": head_units}


@register("dnn")
class DenseBaseline(_Dense):
    """The paper's DNN baseline: one 128-unit layer and the output layer on a flattened patch."""


@register("mlp_head")
class MlpHead(_Dense):
    """The classifier appended to embeddings: a 128-unit dense layer plus the output layer."""


@register("embedding_head")
class EmbeddingHead(MlpHead):
    """The classifier on embeddings with the paper's sigmoid output (section 4.1): a dense layer
    of ``units`` (ReLU), then one sigmoid unit per class.

    ``forward`` returns ``log(sigmoid(a))`` for the output units' activations ``a``. The fit loop
    minimises the cross-entropy of a softmax over what a model returns; over these values that
    is ``-log(sigmoid(a_y) / sum_k sigmoid(a_k))``, Keras' categorical cross-entropy on sigmoid
    outputs (which normalises them by their sum), and ``predict_proba`` (softmax) gives those
    normalised sigmoid outputs. With two classes it is one sigmoid unit in all but name.
    ``output="softmax"`` makes it ``mlp_head``.
    """

    def __init__(self, *, n_classes: int, input_shape: Sequence[int], units: int = 128,
                 dropout: float = 0.0, head_units: int | None = None, output: str = "sigmoid") -> None:
        super().__init__(n_classes=n_classes, input_shape=input_shape, units=units, dropout=dropout,
                         head_units=head_units)
        if output not in ("sigmoid", "softmax"):
            raise ModelError(f"embedding_head: output must be 'sigmoid' or 'softmax', got {output!r}")
        if output == "sigmoid":
            self.classifier = nn.Sequential(self.classifier, nn.LogSigmoid())
        self.params["output"] = output
