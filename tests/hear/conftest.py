"""Fixtures for the HEAR tests: a tiny trained checkpoint."""

from __future__ import annotations

import pytest

from tests.transfer.conftest import tiny_checkpoint


@pytest.fixture(scope="session")
def hear_ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("hear") / "vgg.pt")
