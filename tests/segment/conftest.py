"""Fixtures for segmenter tests: INA's weights (fetched once per session, or skip with reason)."""

from __future__ import annotations

import pytest

from speechmusic.errors import WeightsUnavailableError


@pytest.fixture(scope="session")
def ina_weights():
    from speechmusic.models import import_ina

    try:
        return import_ina()
    except WeightsUnavailableError as exc:
        pytest.skip(f"INA's published weights are not available here: {exc}")
