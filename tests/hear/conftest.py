"""Fixtures for the HEAR tests: one torch thread, a tiny trained checkpoint."""

from __future__ import annotations

import pytest
import torch

from tests.transfer.conftest import tiny_checkpoint


@pytest.fixture(autouse=True, scope="package")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def hear_ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("hear") / "vgg.pt")
