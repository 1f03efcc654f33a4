"""The HEAR modules against the validator (odd lengths, even timestamps, batch == one by one,
float32), and the validator against broken modules."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from speechmusic.errors import ConfigError, WeightsUnavailableError
from speechmusic.hear import HearValidationError, validate
from tests.transfer.openl3_fixture import write_openl3_h5


def test_checkpoint_module_validates(hear_ckpt):
    report = validate("speechmusic.hear.checkpoint", model_file_path=str(hear_ckpt))
    assert report.shapes["scene"][0] == 4
    # With a 1-frame hop the timestamps come every 16 ms and still cover every length.
    report = validate("speechmusic.hear.checkpoint", model_file_path=str(hear_ckpt),
                      load_kwargs={"hop_frames": 1})
    assert not report.warnings


def test_checkpoint_module_api(hear_ckpt):
    from speechmusic.hear import checkpoint

    model = checkpoint.load_model(str(hear_ckpt))
    assert isinstance(model, torch.nn.Module) and model.sample_rate == 16000
    audio = torch.rand(3, 17120) * 2 - 1  # 1.07 s
    emb, ts = checkpoint.get_timestamp_embeddings(audio, model)
    assert emb.shape[:2] == ts.shape and emb.shape[0] == 3 and emb.dtype == torch.float32
    assert emb.shape[2] == model.timestamp_embedding_size
    np.testing.assert_allclose(np.diff(ts[0].numpy()), np.diff(ts[0].numpy())[0], atol=1e-3)
    scene = checkpoint.get_scene_embeddings(audio, model)
    torch.testing.assert_close(scene, emb.mean(dim=1))
    with pytest.raises(ConfigError):
        checkpoint.get_timestamp_embeddings(audio[0], model)  # [samples] instead of [n, samples]
    with pytest.raises(ConfigError, match="no default"):
        checkpoint.load_model()


def test_ina_module_validates():
    try:
        report = validate("speechmusic.hear.ina", lengths=(1.07, 1.98))
    except WeightsUnavailableError as exc:
        pytest.skip(f"INA weights unavailable: {exc}")
    assert report.shapes["timestamp_1.07s"] == ([2, 53, 512], [2, 53])


def test_yamnet_module_validates():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    try:
        report = validate("speechmusic.hear.yamnet")
    except WeightsUnavailableError as exc:
        pytest.skip(str(exc))
    assert report.shapes["scene"] == [4, 1024]
    assert any("480 ms" in w for w in report.warnings)


def test_openl3_module(tmp_path, monkeypatch):
    from speechmusic.hear import openl3

    monkeypatch.setenv("SPEECHMUSIC_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("SPEECHMUSIC_OPENL3_WEIGHTS", raising=False)
    with pytest.raises(WeightsUnavailableError, match="openl3_audio_mel256_music.h5"):
        openl3.load_model()  # no default weights here: a clear message
    path = write_openl3_h5(tmp_path / "openl3_audio_mel128_music.h5", input_repr="mel128")
    model = openl3.load_model(str(path), input_repr="mel128", hop_seconds=0.5)
    assert model.sample_rate == 48000 and model.scene_embedding_size == 512
    audio = torch.rand(1, int(1.07 * 48000)) * 2 - 1
    emb, ts = openl3.get_timestamp_embeddings(audio, model)
    assert emb.shape == (1, 3, 512) and emb.dtype == torch.float32
    torch.testing.assert_close(ts[0], torch.tensor([0.0, 500.0, 1000.0]))


@pytest.mark.slow
def test_openl3_module_validates(tmp_path):
    path = write_openl3_h5(tmp_path / "openl3_audio_mel128_music.h5", input_repr="mel128")
    validate("speechmusic.hear.openl3", model_file_path=str(path),
             load_kwargs={"input_repr": "mel128", "hop_seconds": 0.25})


def _fake_module(name: str, *, uneven: bool = False, leak: bool = False, rate: int = 16000):
    mod = types.ModuleType(name)

    class M(torch.nn.Module):
        sample_rate = rate
        scene_embedding_size = 4
        timestamp_embedding_size = 4

    def ts_emb(audio, model):
        n, s = audio.shape
        t = torch.arange(0, s / model.sample_rate * 1000, 25.0)
        if uneven:  # a 5 ms jump half-way
            t = torch.where(t >= t[len(t) // 2], t + 5.0, t)
        e = torch.ones(n, len(t), 4)
        if leak:  # depends on the rest of the batch
            e = e * audio.mean()
        return e, t.expand(n, -1)

    mod.load_model = lambda *a, **k: M()
    mod.get_timestamp_embeddings = ts_emb
    mod.get_scene_embeddings = lambda audio, model: ts_emb(audio, model)[0].mean(dim=1)
    sys.modules[name] = mod
    return name


@pytest.mark.parametrize("kwargs, match", [({"uneven": True}, "evenly spaced"),
                                           ({"leak": True}, "alone differs"),
                                           ({"rate": 8000}, "sample_rate")])
def test_validator_catches_broken_modules(kwargs, match):
    name = _fake_module(f"fake_hear_{'_'.join(kwargs)}", **kwargs)
    try:
        with pytest.raises(HearValidationError, match=match):
            validate(name, lengths=(1.07,))
    finally:
        sys.modules.pop(name, None)


def test_validator_accepts_a_correct_fake():
    name = _fake_module("fake_hear_ok")
    try:
        assert validate(name).checks
    finally:
        sys.modules.pop(name, None)
