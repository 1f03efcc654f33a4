"""Finding, downloading and checking the INA wheel, offline (pip and the checksum are stubbed)."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from speechmusic.errors import ConfigError, WeightsUnavailableError
from speechmusic.models import ina_weights
from speechmusic.models.ina_weights import INA_WHEEL_NAME, cache_dir, import_ina, ina_wheel_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHMUSIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPEECHMUSIC_INA_WHEEL", raising=False)
    return tmp_path / "cache"


def _fake_wheel(path, monkeypatch, content: bytes = b"pretend wheel"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    monkeypatch.setattr(ina_weights, "INA_WHEEL_SHA256", hashlib.sha256(content).hexdigest())
    return path


def _no_pip(dest):
    raise AssertionError("pip must not run here")


def test_cache_dir_honours_env(cache):
    assert cache_dir() == cache


def test_env_wheel_with_wrong_checksum(cache, tmp_path, monkeypatch):
    bad = tmp_path / "other.whl"
    bad.write_bytes(b"something else")
    monkeypatch.setenv("SPEECHMUSIC_INA_WHEEL", str(bad))
    monkeypatch.setattr(ina_weights, "_run_pip_download", _no_pip)
    with pytest.raises(WeightsUnavailableError, match="sha256") as info:
        ina_wheel_path()
    assert "pip download --no-deps inaSpeechSegmenter==0.6.8" in str(info.value)


def test_env_wheel_missing(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHMUSIC_INA_WHEEL", str(tmp_path / "nope.whl"))
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        ina_wheel_path()


def test_env_wheel_is_used(cache, tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path / "given.whl", monkeypatch)
    monkeypatch.setenv("SPEECHMUSIC_INA_WHEEL", str(wheel))
    monkeypatch.setattr(ina_weights, "_run_pip_download", _no_pip)
    assert ina_wheel_path() == wheel


def test_cached_wheel_is_used(cache, monkeypatch):
    wheel = _fake_wheel(cache / "ina" / INA_WHEEL_NAME, monkeypatch)
    monkeypatch.setattr(ina_weights, "_run_pip_download", _no_pip)
    assert ina_wheel_path() == wheel


def test_offline_failure_says_what_to_do(cache, monkeypatch):
    def failing(dest):
        return subprocess.CompletedProcess([], 1, "", "ERROR: Could not find a version (offline)")

    monkeypatch.setattr(ina_weights, "_run_pip_download", failing)
    with pytest.raises(WeightsUnavailableError) as info:
        ina_wheel_path()
    message = str(info.value)
    assert "offline" in message and "SPEECHMUSIC_INA_WHEEL" in message
    assert "pip download --no-deps inaSpeechSegmenter==0.6.8" in message
    assert str(cache / "ina") in message
    with pytest.raises(WeightsUnavailableError, match="not in"):
        ina_wheel_path(download=False)


def test_download_is_verified_and_cached(cache, monkeypatch):
    content = b"downloaded wheel"
    monkeypatch.setattr(ina_weights, "INA_WHEEL_SHA256", hashlib.sha256(content).hexdigest())
    calls = []

    def fake_pip(dest):
        calls.append(dest)
        (dest / INA_WHEEL_NAME).write_bytes(content)
        return subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr(ina_weights, "_run_pip_download", fake_pip)
    path = ina_wheel_path()
    assert path == cache / "ina" / INA_WHEEL_NAME and path.read_bytes() == content
    assert ina_wheel_path() == path and len(calls) == 1  # second call: from the cache
    assert [p.name for p in (cache / "ina").iterdir()] == [INA_WHEEL_NAME]  # no leftovers


def test_download_with_wrong_checksum_is_rejected(cache, monkeypatch):
    def fake_pip(dest):
        (dest / INA_WHEEL_NAME).write_bytes(b"tampered")
        return subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr(ina_weights, "_run_pip_download", fake_pip)
    with pytest.raises(WeightsUnavailableError, match="sha256"):
        ina_wheel_path()
    assert not (cache / "ina" / INA_WHEEL_NAME).exists()


def test_import_ina_rejects_unknown_names(cache):
    with pytest.raises(ConfigError, match="gender"):
        import_ina(names=["speech"])


def test_broken_wheel_zip(cache, tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path / "broken.whl", monkeypatch, b"not a zip")
    with pytest.raises(WeightsUnavailableError, match="broken.whl"):
        import_ina(names=["sm"], wheel=wheel, out_dir=tmp_path / "out")
