"""What every HEAR module here shares: the model object and the two embedding functions.

HEAR's common API (Turian et al., 2022): ``load_model(model_file_path="")`` returns a
``torch.nn.Module`` carrying ``sample_rate``, ``scene_embedding_size`` and
``timestamp_embedding_size``; ``get_timestamp_embeddings(audio, model)`` takes ``audio``
``[n_sounds, n_samples]`` (a float tensor at the model's rate, all sounds of one length) and
returns ``(embeddings [n_sounds, n_timestamps, dim], timestamps [n_sounds, n_timestamps])`` with
timestamps in milliseconds at the centres of the analysis windows; ``get_scene_embeddings``
returns ``[n_sounds, dim]``. Everything here is float32 and on the audio's device.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from speechmusic.errors import ConfigError
from speechmusic.transfer.embedders import Embedder

__all__ = ["HearModel", "timestamp_embeddings", "scene_embeddings"]


class HearModel(nn.Module):
    """An :class:`~speechmusic.transfer.Embedder` as a HEAR model.

    The embedder's torch network (if it has one) is a submodule, so ``model.to(device)`` moves it.
    """

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.embedder = embedder
        net = embedder.torch_module()
        self.net = net if net is not None else nn.Identity()
        self.sample_rate: int = int(embedder.sample_rate)
        self.scene_embedding_size: int = int(embedder.embedding_size)
        self.timestamp_embedding_size: int = int(embedder.embedding_size)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Scene embeddings ``[n_sounds, dim]`` (so that the module can be called directly)."""
        return scene_embeddings(audio, self)

    def extra_repr(self) -> str:
        return repr(self.embedder)


def _check(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    if not isinstance(model, HearModel):
        raise ConfigError(f"model must come from this module's load_model(), got {type(model).__name__}")
    if not torch.is_tensor(audio) or audio.ndim != 2:
        shape = tuple(audio.shape) if torch.is_tensor(audio) else type(audio).__name__
        raise ConfigError(f"audio must be a [n_sounds, n_samples] tensor, got {shape}")
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise ConfigError(f"audio must hold at least one sound of at least one sample, got {tuple(audio.shape)}")
    return audio


def _sync_device(model: HearModel) -> None:
    # Embedders that keep a device of their own follow the module's.
    emb = model.embedder
    if hasattr(emb, "device"):
        params = list(model.net.parameters())
        if params:
            emb.device = params[0].device


def timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """HEAR's ``get_timestamp_embeddings``: ``([n, frames, dim] float32, [n, frames] ms float32)``."""
    audio = _check(audio, model)
    _sync_device(model)
    embs, times = [], None
    for row in audio.detach().cpu().to(torch.float32).numpy():
        e, t = model.embedder.embed(row)
        embs.append(e)
        times = t
    emb = torch.from_numpy(np.stack(embs).astype(np.float32))
    ts = torch.from_numpy((np.asarray(times) * 1000.0).astype(np.float32))
    return emb.to(audio.device), ts.unsqueeze(0).expand(len(embs), -1).contiguous().to(audio.device)


def scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """HEAR's ``get_scene_embeddings``: the mean of the timestamp embeddings, ``[n, dim]``."""
    emb, _ = timestamp_embeddings(audio, model)
    return emb.mean(dim=1)
