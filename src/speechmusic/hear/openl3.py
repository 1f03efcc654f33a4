"""OpenL3 as a HEAR module: 512-d (or 6144-d) embeddings of 1 s windows every 0.1 s, 48 kHz.

    from speechmusic.hear import openl3
    model = openl3.load_model("openl3_audio_mel256_music.h5")
    model = openl3.load_model()   # $SPEECHMUSIC_OPENL3_WEIGHTS or <cache>/openl3/openl3_audio_mel256_music.h5

The official weights cannot be fetched automatically; without them ``load_model`` raises
:class:`~speechmusic.errors.WeightsUnavailableError` naming the files and where to put them.
"""

from __future__ import annotations

import torch

from speechmusic.hear.api import HearModel, scene_embeddings, timestamp_embeddings
from speechmusic.transfer.openl3 import OpenL3Embedder

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings"]


def load_model(model_file_path: str = "", *, input_repr: str = "mel256", content_type: str = "music",
               embedding_size: int = 512, hop_seconds: float = 0.1) -> HearModel:
    """``model_file_path``: an official ``.h5`` file or a folder holding one (see
    :func:`speechmusic.transfer.openl3.openl3_weights_path`)."""
    return HearModel(OpenL3Embedder(weights=model_file_path or None, input_repr=input_repr,
                                    content_type=content_type, embedding_size=embedding_size,
                                    hop_seconds=hop_seconds))


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    return timestamp_embeddings(audio, model)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    return scene_embeddings(audio, model)
