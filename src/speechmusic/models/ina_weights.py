"""INA's published weights without TensorFlow: fetch the 0.6.8 wheel, convert, cache.

inaSpeechSegmenter 0.6.8 (MIT licence, by INA) ships its three Keras networks inside its wheel.
:func:`ina_wheel_path` finds that wheel (``SPEECHMUSIC_INA_WHEEL``, then the cache) or downloads it
with ``python -m pip download --no-deps inaSpeechSegmenter==0.6.8`` and checks its SHA-256;
:func:`import_ina` converts the networks into speechmusic checkpoints (``ina-sm.pt``,
``ina-smn.pt``, ``ina-gender.pt``) and :func:`load_ina_pretrained` returns a ready model.

The cache is ``$SPEECHMUSIC_CACHE`` or ``~/.cache/speechmusic``; files live under its ``ina/``.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from speechmusic.errors import CheckpointError, ConfigError, WeightsUnavailableError
from speechmusic.features.config import FeatureConfig
from speechmusic.models.checkpoint import load_checkpoint, save_checkpoint
from speechmusic.models.ina import INA_LABELS, InaNet, ina_from_keras

__all__ = ["INA_NETWORKS", "INA_WHEEL_SHA256", "cache_dir", "ina_wheel_path", "import_ina",
           "ina_checkpoint_path", "load_ina_pretrained"]

INA_PACKAGE = "inaSpeechSegmenter==0.6.8"
INA_WHEEL_NAME = "inaSpeechSegmenter-0.6.8-py3-none-any.whl"
#: SHA-256 of the wheel on PyPI (checked 2026-11-25).
INA_WHEEL_SHA256 = "16303a0b4f7e71b823b7f281e620ab399f9c1b26526e0f0c9e135bc70d313250"
PIP_COMMAND = f"python -m pip download --no-deps {INA_PACKAGE} -d <directory>"

#: name -> (Keras file in the wheel, feature preset, segmenter settings from segmenter.py)
INA_NETWORKS: dict[str, dict] = {
    "sm": {"file": "keras_speech_music_cnn.hdf5", "features": "ina_sm",
           "segmenter": {"inlabel": "energy", "viterbi_arg": 150, "nmel": 21}},
    "smn": {"file": "keras_speech_music_noise_cnn.hdf5", "features": "ina_sm",
            "segmenter": {"inlabel": "energy", "viterbi_arg": 80, "nmel": 21}},
    "gender": {"file": "keras_male_female_cnn.hdf5", "features": "ina_gender",
               "segmenter": {"inlabel": "speech", "viterbi_arg": 80, "nmel": 24}},
}


def cache_dir() -> Path:
    """``$SPEECHMUSIC_CACHE``, else ``~/.cache/speechmusic`` (not created here)."""
    env = os.environ.get("SPEECHMUSIC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "speechmusic"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _how_to_fix(extra: str = "") -> str:
    return (f"{extra}To provide the weights by hand, on a machine with internet access run\n"
            f"    {PIP_COMMAND}\n"
            f"and either copy {INA_WHEEL_NAME} to {cache_dir() / 'ina'}/ or set "
            f"SPEECHMUSIC_INA_WHEEL=/path/to/{INA_WHEEL_NAME}.")


def _check_wheel(path: Path, *, origin: str) -> Path:
    if not path.is_file():
        raise WeightsUnavailableError(_how_to_fix(f"{origin} {path} does not exist. "))
    digest = _sha256(path)
    if digest != INA_WHEEL_SHA256:
        raise WeightsUnavailableError(_how_to_fix(
            f"{origin} {path} is not the inaSpeechSegmenter 0.6.8 wheel (sha256 {digest}, expected "
            f"{INA_WHEEL_SHA256}). "))
    return path


def _run_pip_download(dest: Path) -> subprocess.CompletedProcess:
    # Only a wheel (never build an sdist); pip of this interpreter, so proxies/indexes configured
    # for it apply.
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", INA_PACKAGE, "-d", str(dest)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


def ina_wheel_path(*, download: bool = True) -> Path:
    """Path of the verified inaSpeechSegmenter 0.6.8 wheel.

    Looks at ``$SPEECHMUSIC_INA_WHEEL``, then ``<cache>/ina/``; otherwise (if ``download``) runs
    ``pip download`` into the cache. Raises :class:`WeightsUnavailableError`, saying what to do,
    when none of that gives the right file.
    """
    env = os.environ.get("SPEECHMUSIC_INA_WHEEL")
    if env:
        return _check_wheel(Path(env).expanduser(), origin="SPEECHMUSIC_INA_WHEEL points to")
    target = cache_dir() / "ina" / INA_WHEEL_NAME
    if target.is_file():
        if _sha256(target) == INA_WHEEL_SHA256:
            return target
        target.unlink()  # a damaged or foreign file; fetch a fresh one
    if not download:
        raise WeightsUnavailableError(_how_to_fix(f"The INA weights are not in {target.parent}. "))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            try:
                result = _run_pip_download(Path(tmp))
            except (OSError, subprocess.SubprocessError) as exc:
                raise WeightsUnavailableError(_how_to_fix(f"Running pip failed: {exc}. ")) from None
            got = Path(tmp) / INA_WHEEL_NAME
            if result.returncode != 0 or not got.is_file():
                tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-3:])
                raise WeightsUnavailableError(_how_to_fix(
                    f"Downloading {INA_PACKAGE} with pip failed (exit {result.returncode}): {tail}\n"))
            _check_wheel(got, origin="the downloaded file")
            os.replace(got, target)
    except OSError as exc:
        raise WeightsUnavailableError(_how_to_fix(f"Cannot write to the cache: {exc}. ")) from None
    return target


def _check_names(names: Sequence[str] | str) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in INA_NETWORKS]
    if unknown or not names:
        raise ConfigError(f"unknown INA network(s) {unknown or names}; choose from {sorted(INA_NETWORKS)}")
    return names


def _convert(wheel: Path, name: str) -> InaNet:
    member = f"inaSpeechSegmenter/{INA_NETWORKS[name]['file']}"
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = zf.read(member)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise WeightsUnavailableError(_how_to_fix(f"{wheel}: cannot read {member} ({exc}). ")) from None
    model = ina_from_keras(io.BytesIO(raw), name=f"{wheel}!{member}", variant=name)
    model.labels = list(INA_LABELS[name])
    return model


def import_ina(*, names: Sequence[str] | str = ("sm", "smn", "gender"), wheel: str | os.PathLike | None = None,
               out_dir: str | os.PathLike | None = None, force: bool = False) -> list[Path]:
    """Convert INA's networks to speechmusic checkpoints; returns the written (or existing) paths.

    ``wheel`` defaults to :func:`ina_wheel_path` (may download); ``out_dir`` to ``<cache>/ina``.
    Existing checkpoints are kept unless ``force``. Each checkpoint holds the model, the labels in
    inaSpeechSegmenter's order, the matching feature preset (``ina_sm`` / ``ina_gender``) and, in
    ``extra``, the source file, the per-patch normalisation and the segmenter's settings.
    """
    names = _check_names(names)
    out = Path(out_dir) if out_dir is not None else cache_dir() / "ina"
    wheel_path = None if wheel is None else _check_wheel(Path(wheel), origin="the wheel")
    written = []
    for name in names:
        target = out / f"ina-{name}.pt"
        if target.is_file() and not force:
            written.append(target)
            continue
        if wheel_path is None:
            wheel_path = ina_wheel_path()
        model = _convert(wheel_path, name)
        info = INA_NETWORKS[name]
        extra = {"source": f"{INA_WHEEL_NAME}/inaSpeechSegmenter/{info['file']}",
                 "source_sha256": INA_WHEEL_SHA256, "license": "MIT (c) 2018 Ina",
                 "input_normalization": "per_patch",  # speechmusic.models.ina.standardize_patches
                 "keras_layout": "[batch, frames, bands]", **info["segmenter"]}
        written.append(save_checkpoint(target, model=model,
                                       feature_config=FeatureConfig.preset(info["features"]),
                                       extra=extra))
    return written


def ina_checkpoint_path(name: str) -> Path:
    """``<cache>/ina/ina-<name>.pt``, converted from the wheel first if absent."""
    (name,) = _check_names(name)
    return import_ina(names=[name])[0]


def load_ina_pretrained(name: str) -> InaNet:
    """INA's published network ``sm``, ``smn`` or ``gender`` with its weights, in eval mode.

    ``model(x)`` takes our layout ``[batch, n_features, 68]``; ``model.forward_keras(x)`` takes
    inaSpeechSegmenter's ``[batch, 68, bands]`` (21 bands for ``sm``/``smn``, 24 for ``gender``),
    each patch normalised by :func:`~speechmusic.models.ina.standardize_patches`. Both return
    logits; ``predict_proba`` / ``forward_keras(x, probs=True)`` give probabilities in the order of
    ``model.labels``. Raises :class:`WeightsUnavailableError` when the wheel cannot be had.
    """
    path = ina_checkpoint_path(name)
    try:
        model = load_checkpoint(path).model
    except CheckpointError:
        # A damaged cache entry: convert again rather than fail.
        path = import_ina(names=[name], force=True)[0]
        model = load_checkpoint(path).model
    if not isinstance(model, InaNet):
        raise CheckpointError(f"{path}: holds a {model.arch!r} model, not an INA network")
    return model
