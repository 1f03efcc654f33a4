"""Fixtures for the model tests: seeding, the INA wheel (skipped with the reason when it cannot be
had) and the golden Keras outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from speechmusic.errors import WeightsUnavailableError

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def ina_wheel() -> Path:
    """The verified inaSpeechSegmenter 0.6.8 wheel (cache, $SPEECHMUSIC_INA_WHEEL or a download)."""
    from speechmusic.models.ina_weights import ina_wheel_path

    try:
        return ina_wheel_path()
    except WeightsUnavailableError as exc:
        pytest.skip(f"INA weights unavailable: {exc}")


@pytest.fixture
def golden():
    """``golden(name)``: Keras outputs of INA network ``name`` on fixed inputs (keys ``x``
    ``[n, 68, bands]``, ``probs``, maybe ``logits``...), skipping when the file is absent."""

    def load(name: str) -> dict[str, np.ndarray]:
        path = GOLDEN / f"ina_net_{name}.npz"
        if not path.is_file():
            pytest.skip(f"golden Keras outputs not present: {path}")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    return load
