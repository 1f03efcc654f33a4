"""A validator for HEAR modules, in the style of HEAR's own ``hear-validator``.

``validate("speechmusic.hear.ina")`` imports the module, loads the model and checks what HEAR's
validator checks (the three functions exist; ``load_model`` gives a ``torch.nn.Module`` with an
accepted ``sample_rate`` and integer embedding sizes; timestamp embeddings of white noise of odd
lengths (1.07 s, 1.98 s, 4.0 s) have shapes ``[n, frames, dim]`` / ``[n, frames]``, float32,
timestamps evenly spaced within 1 ms and covering the sound; scene embeddings of 4 sounds of
2.74 s are ``[4, dim]`` float32), plus what it leaves out: finite values, and a batch giving the
same embeddings as its sounds one by one.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from speechmusic.errors import SpeechMusicError

__all__ = ["HearValidationError", "ValidationReport", "validate", "ACCEPTABLE_SAMPLE_RATES"]

#: Sample rates HEAR 2021 accepts.
ACCEPTABLE_SAMPLE_RATES = (16000, 22050, 44100, 48000)


class HearValidationError(SpeechMusicError):
    """A module does not follow the HEAR API; the message says which check failed."""


@dataclass
class ValidationReport:
    """What was checked (``checks``), what merely looks odd (``warnings``) and the shapes seen."""

    module: str
    checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shapes: dict[str, Any] = field(default_factory=dict)


def _noise(n: int, seconds: float, sr: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, int(seconds * sr)), generator=g) * 2 - 1


def _fail(msg: str) -> HearValidationError:
    return HearValidationError(msg)


def validate(module_name: str, *, model_file_path: str = "", load_kwargs: dict[str, Any] | None = None,
             lengths: Sequence[float] = (1.07, 1.98, 4.0), scene_length: float = 2.74,
             seed: int = 0, atol: float = 1e-4) -> ValidationReport:
    """Check module ``module_name`` against the HEAR API; raises :class:`HearValidationError`.

    ``model_file_path`` and ``load_kwargs`` go to ``load_model``.
    """
    report = ValidationReport(module=module_name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _fail(f"cannot import {module_name}: {exc}") from None
    for fn in ("load_model", "get_timestamp_embeddings", "get_scene_embeddings"):
        if not callable(getattr(module, fn, None)):
            raise _fail(f"{module_name} has no function {fn}")
    report.checks.append("API functions present")
    args = (model_file_path,) if model_file_path else ()
    model = module.load_model(*args, **(load_kwargs or {}))
    if not isinstance(model, torch.nn.Module):
        raise _fail(f"load_model returned {type(model).__name__}, not a torch.nn.Module")
    model.to("cpu")
    sr = getattr(model, "sample_rate", None)
    if sr not in ACCEPTABLE_SAMPLE_RATES:
        raise _fail(f"model.sample_rate is {sr!r}; HEAR accepts {list(ACCEPTABLE_SAMPLE_RATES)}")
    for attr in ("scene_embedding_size", "timestamp_embedding_size"):
        value = getattr(model, attr, None)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise _fail(f"model.{attr} must be a positive int, got {value!r}")
    report.checks.append("model attributes")

    for i, length in enumerate(lengths):
        audio = _noise(2, length, sr, seed + i)
        emb, ts = module.get_timestamp_embeddings(audio, model)
        _check_timestamps(emb, ts, model, length, report)
        # Batch == one by one: nothing may leak between the sounds of a batch.
        singles = [module.get_timestamp_embeddings(audio[k:k + 1], model) for k in range(2)]
        for k, (e1, t1) in enumerate(singles):
            if e1.shape[1:] != emb.shape[1:] or not torch.allclose(e1[0], emb[k], atol=atol, rtol=atol):
                raise _fail(f"{length} s: sound {k} embedded alone differs from the batch")
            if not torch.equal(t1[0], ts[k]):
                raise _fail(f"{length} s: sound {k}'s timestamps alone differ from the batch")
        report.shapes[f"timestamp_{length}s"] = (list(emb.shape), list(ts.shape))
    report.checks.append(f"timestamp embeddings at {list(lengths)} s, batch == one by one")

    audio = _noise(4, scene_length, sr, seed + 100)
    scene = module.get_scene_embeddings(audio, model)
    if not torch.is_tensor(scene) or scene.dtype != torch.float32:
        raise _fail(f"scene embeddings must be a float32 tensor, got {getattr(scene, 'dtype', type(scene))}")
    if scene.ndim != 2 or scene.shape[0] != 4 or scene.shape[1] != model.scene_embedding_size:
        raise _fail(f"scene embeddings have shape {list(scene.shape)}, expected "
                    f"[4, {model.scene_embedding_size}]")
    if not torch.isfinite(scene).all():
        raise _fail("scene embeddings hold NaN or infinite values")
    again = module.get_scene_embeddings(audio, model)
    if not torch.allclose(scene, again, atol=atol, rtol=atol):
        raise _fail("scene embeddings differ between two calls on the same audio")
    report.shapes["scene"] = list(scene.shape)
    report.checks.append("scene embeddings")
    return report


def _check_timestamps(emb: Any, ts: Any, model: Any, length: float, report: ValidationReport) -> None:
    if not torch.is_tensor(emb) or not torch.is_tensor(ts):
        raise _fail("get_timestamp_embeddings must return two tensors")
    if emb.dtype != torch.float32:
        raise _fail(f"timestamp embeddings must be float32, got {emb.dtype}")
    if emb.ndim != 3 or ts.ndim != 2:
        raise _fail(f"expected embeddings [n, frames, dim] and timestamps [n, frames], got "
                    f"{list(emb.shape)} and {list(ts.shape)}")
    if emb.shape[0] != 2 or tuple(emb.shape[:2]) != tuple(ts.shape):
        raise _fail(f"{length} s: embeddings {list(emb.shape)} do not match timestamps {list(ts.shape)}")
    if emb.shape[2] != model.timestamp_embedding_size:
        raise _fail(f"embedding size {emb.shape[2]} != model.timestamp_embedding_size "
                    f"{model.timestamp_embedding_size}")
    if not torch.isfinite(emb).all():
        raise _fail(f"{length} s: timestamp embeddings hold NaN or infinite values")
    t = ts.detach().cpu().numpy().astype(np.float64)
    total = 1000.0 * length
    if t.shape[1] > 1:
        diff = np.diff(t, axis=1)
        avg = float(diff.mean())
        if np.max(np.abs(diff - avg)) > 1.0:
            raise _fail(f"{length} s: timestamps are not evenly spaced (deviation "
                        f"{np.max(np.abs(diff - avg)):.3f} ms > 1 ms)")
        note = f"timestamps {avg:.0f} ms apart (HEAR suggests <= 50 ms)"
        if avg > 50.0 and note not in report.warnings:
            report.warnings.append(note)
        if t.min() > avg:
            report.warnings.append(f"{length} s: first timestamp at {t.min():.1f} ms")
        if t.max() < total - 2 * avg:
            raise _fail(f"{length} s: timestamps end at {t.max():.1f} ms; the sound lasts {total:.0f} ms")
    if t.max() > total:
        raise _fail(f"{length} s: timestamps end at {t.max():.1f} ms, after the sound ({total:.0f} ms)")
