"""The model registry: ``build_model(name, *, n_classes, input_shape, **params)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from speechmusic.errors import ModelError
from speechmusic.features.config import FeatureConfig
from speechmusic.models.base import SpeechMusicModel

__all__ = ["register", "build_model", "list_models", "model_class"]

_REGISTRY: dict[str, type[SpeechMusicModel]] = {}
M = TypeVar("M", bound=type[SpeechMusicModel])


def register(name: str) -> Callable[[M], M]:
    """Class decorator adding an architecture under ``name``."""

    def decorate(cls: M) -> M:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ModelError(f"model name {name!r} is registered twice")
        cls.arch = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_builtin() -> None:
    # The architecture modules register themselves on import.
    from speechmusic.models import dense, ina, swishnet, vgg  # noqa: F401


def list_models() -> list[str]:
    """Names of the registered architectures, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def model_class(name: str) -> type[SpeechMusicModel]:
    """The class registered as ``name``; :class:`ModelError` listing the valid names otherwise."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ModelError(f"unknown model {name!r}; valid models: {', '.join(sorted(_REGISTRY))}") from None


def build_model(name: str, *, n_classes: int, input_shape: Sequence[int] | FeatureConfig,
                **params: Any) -> SpeechMusicModel:
    """A fresh, randomly initialised model in training mode.

    ``input_shape`` is ``FeatureConfig.patch_shape`` (``(n_features, patch_frames)``; a
    :class:`FeatureConfig` itself is accepted) for the audio models, ``(embedding_size,)`` for
    ``mlp_head`` on embeddings. ``params`` are the architecture's own keyword arguments (see each
    class); unknown ones raise :class:`ModelError`.
    """
    if isinstance(input_shape, FeatureConfig):
        input_shape = input_shape.patch_shape
    cls = model_class(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters
                if p not in ("self", "n_classes", "input_shape")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ModelError(f"model {name!r} has no parameter(s) {unknown}; valid: {sorted(accepted)}")
    return cls(n_classes=n_classes, input_shape=input_shape, **params)
