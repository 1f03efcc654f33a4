"""HEAR-compatible modules for every embedder: ``speechmusic.hear.ina``, ``.yamnet``, ``.openl3``
and ``.checkpoint`` (models trained here), each with ``load_model``, ``get_timestamp_embeddings``
and ``get_scene_embeddings`` as the HEAR API specifies; :func:`validate` checks a module."""

from speechmusic.hear.api import HearModel
from speechmusic.hear.validate import (
    ACCEPTABLE_SAMPLE_RATES,
    HearValidationError,
    ValidationReport,
    validate,
)

__all__ = ["ACCEPTABLE_SAMPLE_RATES", "HearModel", "HearValidationError", "ValidationReport", "validate"]
