"""What every speechmusic model is: a ``body`` up to the paper's red line plus a ``classifier``.

The paper (section 4.4) removes the output layer of a trained network (its figures mark that point
with a red line), uses what is left as an embedding, appends a new classifier (a 128-unit dense
layer and an output layer) and fine-tunes with one of three strategies:

``frozen``
    only the appended classifier trains;
``intermediate``
    the network is unfrozen from its green line on (``body.upper``) along with the classifier;
``full``
    every weight trains.

So every model here is ``classifier(body.upper(body.lower(x)))``: ``body.lower`` ends at the green
line, ``body.upper`` ends at the red line, ``classifier`` maps the embedding to logits. Frozen parts
are held in eval mode even while the model trains, so their batch-norm running statistics stay put
and their dropout is off: a frozen part is a fixed feature extractor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from speechmusic.errors import ModelError

__all__ = ["TRAINABLE_STRATEGIES", "Body", "SpeechMusicModel", "make_classifier"]

TRAINABLE_STRATEGIES = ("frozen", "intermediate", "full")


class Body(nn.Module):
    """``upper(lower(x))``: ``lower`` ends at the green line, ``upper`` at the red line."""

    def __init__(self, lower: nn.Module, upper: nn.Module) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upper(self.lower(x))


def make_classifier(*, in_features: int, n_classes: int, head_units: int | None) -> nn.Module:
    """The output layer: one ``Linear`` (original networks) or, with ``head_units``, the paper's
    appended classifier ``Linear(in, head_units) -> ReLU -> Linear(head_units, n_classes)``."""
    if head_units is None:
        return nn.Linear(in_features, n_classes)
    return nn.Sequential(nn.Linear(in_features, head_units), nn.ReLU(),
                         nn.Linear(head_units, n_classes))


def positive_int(value: Any, what: str) -> int:
    """``value`` as an int > 0, or a :class:`ModelError` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ModelError(f"{what} must be a positive integer, got {value!r}")
    return value


def int_tuple(value: Any, what: str, *, length: int | None = None) -> tuple[int, ...]:
    """A sequence of positive ints as a tuple (lists from JSON or YAML are fine)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ModelError(f"{what} must be a sequence of positive integers, got {value!r}")
    out = tuple(positive_int(v, what) for v in value)
    if length is not None and len(out) != length:
        raise ModelError(f"{what} must have {length} entries, got {len(out)}: {value!r}")
    if not out:
        raise ModelError(f"{what} must not be empty")
    return out


def plain(value: Any) -> Any:
    """A JSON round trip: tuples become lists, so the value is safe for ``weights_only`` loading."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model arguments must be plain JSON-like values: {exc}") from None


class SpeechMusicModel(nn.Module):
    """Base class of the registered architectures.

    Subclasses build ``self.body`` (a :class:`Body`) and ``self.classifier``, set
    ``self.embedding_size`` and record every constructor argument, defaults resolved, in
    ``self.params`` (plain JSON values) so that ``build_model(arch, n_classes=..., input_shape=...,
    **params)`` rebuilds the same network; checkpoints rely on that.

    Input: ``x`` ``[batch, *input_shape]``, normally ``[batch, n_features, patch_frames]`` as given by
    ``FeatureConfig.patch_shape``. ``forward`` returns logits ``[batch, n_classes]``.
    """

    #: Registry name, set by :func:`speechmusic.models.registry.register`.
    arch: ClassVar[str] = ""
    #: Where the paper's red line (embedding output) and green line (intermediate unfreezing) are.
    red_line: ClassVar[str] = ""
    green_line: ClassVar[str] = ""

    body: Body
    classifier: nn.Module

    def __init__(self, *, n_classes: int, input_shape: Sequence[int]) -> None:
        super().__init__()
        self.n_classes = positive_int(n_classes, "n_classes")
        if self.n_classes < 2:
            raise ModelError(f"n_classes must be at least 2 for a softmax classifier, got {n_classes}")
        self.input_shape: tuple[int, ...] = int_tuple(input_shape, "input_shape")
        self.params: dict[str, Any] = {}
        self.embedding_size: int = 0
        self.labels: list[str] | None = None  # set by load_checkpoint; saved by save_checkpoint
        self.trainable_strategy = "full"
        self._frozen: list[nn.Module] = []

    # ------------------------------------------------------------------ inference
    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`ModelError` unless ``x`` is ``[batch, *input_shape]``."""
        if not torch.is_tensor(x):
            raise ModelError(f"{self.arch}: expected a torch.Tensor, got {type(x).__name__}")
        if x.ndim != len(self.input_shape) + 1 or tuple(x.shape[1:]) != self.input_shape:
            want = ", ".join(str(d) for d in self.input_shape)
            raise ModelError(f"{self.arch}: expected input [batch, {want}], got {list(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[batch, n_classes]`` for ``x`` ``[batch, *input_shape]``."""
        self.check_input(x)
        return self.classifier(self.body(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding at the red line (output layer removed): ``[batch, embedding_size]``."""
        self.check_input(x)
        return self.body(x)

    def column_program(self) -> tuple[list, str] | None:
        """The convolutional part (up to flatten) as layers of a column program, and the flatten
        order (``"chw"`` or ``"whc"``), for evaluating every patch of a long matrix with shared
        convolutions (:mod:`speechmusic.models.patchwise`); batch norms folded, eval-mode
        statistics. ``None`` (the default): such a model is evaluated patch by patch."""
        return None

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``[batch, n_classes]`` (softmax of the logits).

        Uses the current mode; call ``model.eval()`` first for inference.
        """
        return torch.softmax(self(x), dim=-1)

    # ------------------------------------------------------------------ transfer learning
    def replace_classifier(self, *, n_classes: int, head_units: int | None = 128) -> SpeechMusicModel:
        """Swap the output layer for a new, freshly initialised classifier (paper section 4.4).

        The default is the paper's appended classifier, a 128-unit dense layer and an output
        layer for ``n_classes``. The recorded arguments change with it, so checkpoints of the
        transferred model rebuild correctly. Returns ``self``.
        """
        n_classes = positive_int(n_classes, "n_classes")
        if n_classes < 2:
            raise ModelError(f"n_classes must be at least 2, got {n_classes}")
        if head_units is not None:
            head_units = positive_int(head_units, "head_units")
        device = next(self.parameters()).device
        self.classifier = make_classifier(in_features=self.embedding_size, n_classes=n_classes,
                                          head_units=head_units).to(device)
        self.n_classes = n_classes
        self.params["head_units"] = head_units
        self.labels = None
        self.set_trainable(self.trainable_strategy)
        return self

    def set_trainable(self, strategy: str) -> SpeechMusicModel:
        """Choose what trains: ``frozen``, ``intermediate`` or ``full`` (see the module docstring).

        Frozen parts get ``requires_grad=False`` and are kept in eval mode from now on, also
        across later ``model.train()`` calls. Returns ``self``.
        """
        if strategy not in TRAINABLE_STRATEGIES:
            raise ModelError(f"unknown trainable strategy {strategy!r}; choose one of {TRAINABLE_STRATEGIES}")
        frozen = {"frozen": [self.body.lower, self.body.upper],
                  "intermediate": [self.body.lower],
                  "full": []}[strategy]
        for p in self.parameters():
            p.requires_grad_(True)
        for part in frozen:
            for p in part.parameters():
                p.requires_grad_(False)
        self._frozen = frozen
        self.trainable_strategy = strategy
        return self.train(self.training)

    def train(self, mode: bool = True) -> SpeechMusicModel:
        super().train(mode)
        for part in self._frozen:
            part.eval()  # keeps batch-norm statistics and dropout of frozen parts fixed
        return self

    def frozen_split(self) -> tuple[nn.Module, nn.Module] | None:
        """``(prefix, rest)`` with ``rest(prefix(x)) == self(x)`` (shape checks aside), where
        ``prefix`` is everything the current strategy freezes: ``body`` under ``frozen``,
        ``body.lower`` under ``intermediate``; ``None`` under ``full``.

        A frozen prefix has no trainable weight and stays in eval mode, so it is a fixed function
        of its input: a fit loop may compute it once per patch instead of once per epoch.
        """
        if self.trainable_strategy == "frozen":
            return self.body, self.classifier
        if self.trainable_strategy == "intermediate":
            return self.body.lower, nn.Sequential(self.body.upper, self.classifier)
        return None

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters that train under the current strategy (for the optimiser)."""
        return (p for p in self.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ description
    def spec(self) -> dict[str, Any]:
        """Name and arguments that rebuild this network with :func:`build_model`."""
        return {"name": self.arch, "n_classes": self.n_classes,
                "input_shape": list(self.input_shape), "params": plain(self.params)}

    def n_parameters(self, *, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def extra_repr(self) -> str:
        return (f"arch={self.arch!r}, n_classes={self.n_classes}, input_shape={self.input_shape}, "
                f"embedding_size={self.embedding_size}, trainable={self.trainable_strategy!r}")
