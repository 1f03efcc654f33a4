"""Generated data and tiny configs shared by the training tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from ..conftest import music_like, speech_like

SR = 16000

#: Small but real front-end: 24 mel bands, 8-frame patches (0.13 s) at 16 kHz.
TINY_FEATURES = {"preset": "melspec", "sample_rate": SR, "n_fft": 512, "hop_length": 256,
                 "n_mels": 24, "patch_frames": 8}

#: Every architecture, shrunk so that one epoch takes a fraction of a second.
TINY_MODELS: dict[str, dict[str, Any]] = {
    "ina": {"layers": [{"conv": 4, "kernel": [3, 3]}, {"pool": "frames"}], "dense_units": [8],
            "dropouts": [0.1]},
    "swishnet": {"width": 1},
    "vgg": {"channels": 4, "fc_units": [8, 8]},
    "dnn": {"units": 8},
}


def write_toy_dataset(root: Path, *, per_class: int = 8, seconds: float = 1.5) -> Path:
    """``root/{music,speech}/*.wav``: generated music-like and speech-like clips."""
    for label, make in (("music", music_like), ("speech", speech_like)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            sf.write(root / label / f"{label}{i:02d}.wav", make(SR, seconds, seed=i), SR)
    return root


def tiny_config(data_root: Path, cache_dir: Path | None, *, models: list[str] | None = None,
                **sections: Any) -> dict[str, Any]:
    """A run config (as a mapping) of tiny models on the toy dataset: 2 folds, 1 epoch."""
    models = models or list(TINY_MODELS)
    cfg: dict[str, Any] = {
        "name": "toy",
        "seed": 0,
        "cache_dir": None if cache_dir is None else str(cache_dir),
        "datasets": {"toy": {"layout": "folders", "root": str(data_root)}},
        "tasks": {"binary": {"classes": ["music", "speech"]}},
        "features": {"mel": TINY_FEATURES},
        "models": {m: {"name": m, "params": TINY_MODELS[m], "features": ["mel"]} for m in models},
        "protocol": {"n_folds": 2, "test_fraction": 0.25, "val_fraction": 0.25},
        "training": {"max_epochs": 1, "batch_size": 32, "num_threads": 1},
        "experiments": [{"datasets": ["toy"], "task": "binary", "models": models}],
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return copy.deepcopy(cfg)


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One feature cache for the session: the toy clips are decoded once."""
    return tmp_path_factory.mktemp("feature-cache")
