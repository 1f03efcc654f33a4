"""Any checkpoint trained with speechmusic as a HEAR module (its red line; the checkpoint's own
features, normaliser and sample rate).

    from speechmusic.hear import checkpoint
    model = checkpoint.load_model("runs/paper/experiments/.../fold_0/model.pt", hop_frames=2)
"""

from __future__ import annotations

import torch

from speechmusic.errors import ConfigError
from speechmusic.hear.api import HearModel, scene_embeddings, timestamp_embeddings
from speechmusic.transfer.embedders import CheckpointEmbedder

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings"]


def load_model(model_file_path: str = "", *, hop_frames: int | None = None, mode: str = "auto") -> HearModel:
    """``hop_frames``: feature frames between embeddings (default: the config's patch hop)."""
    if not model_file_path:
        raise ConfigError("speechmusic.hear.checkpoint has no default weights: pass the path of a "
                          "checkpoint trained with speechmusic (a fold's model.pt)")
    return HearModel(CheckpointEmbedder(model_file_path, hop_frames=hop_frames, mode=mode))


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    return timestamp_embeddings(audio, model)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    return scene_embeddings(audio, model)
