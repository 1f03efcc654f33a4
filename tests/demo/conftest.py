"""Fixtures for the demo corpus: the renderers (or a skip naming the missing one) and one quick
corpus built once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def renderers() -> None:
    """Skip, with the reason, where a renderer of the demo extra is not installed."""
    for module in ("pretty_midi", "tinysoundfont", "espeakng_loader"):
        pytest.importorskip(module, reason=f"{module} is missing: pip install 'speechmusic[demo]'")


@pytest.fixture(scope="session")
def quick_corpus(renderers, tmp_path_factory):
    """A quick corpus (seed 0) rendered in this process: its manifest path."""
    from speechmusic.demo import build_corpus

    return build_corpus(tmp_path_factory.mktemp("demo-a"), seed=0, size="quick", progress=False,
                        workers=1)
