"""INA's published speech/music network as a HEAR module (512-d, a frame every 20 ms, 16 kHz).

    from speechmusic.hear import ina
    model = ina.load_model()                       # INA's 'sm' weights (cached after the first use)
    emb, ts = ina.get_timestamp_embeddings(audio, model)   # audio [n, samples] at 16 kHz

``model_file_path`` may name a speechmusic checkpoint of an INA network (e.g. ``ina-smn.pt``).
"""

from __future__ import annotations

import torch

from speechmusic.hear.api import HearModel, scene_embeddings, timestamp_embeddings
from speechmusic.transfer.embedders import InaEmbedder

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings"]


def load_model(model_file_path: str = "", *, variant: str = "sm", mode: str = "auto") -> HearModel:
    """The INA embedder; ``mode="exact"`` normalises every patch by its own statistics."""
    return HearModel(InaEmbedder(variant, model_file=model_file_path or None, mode=mode))


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    return timestamp_embeddings(audio, model)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    return scene_embeddings(audio, model)
