"""The renderers of the demo corpus are optional packages: import them here, with a clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

from speechmusic.errors import SpeechMusicError

__all__ = ["DemoUnavailableError", "require", "renderer_versions", "RENDERERS", "LICENCES"]

#: Import name -> distribution name of every package the demo corpus renders with.
RENDERERS = {"pretty_midi": "pretty_midi", "tinysoundfont": "tinysoundfont",
             "espeakng_loader": "espeakng-loader"}

#: Where each ingredient of the rendered audio comes from and under which licence (checked
#: against the installed packages' metadata; the soundfont's against Debian's timgm6mb-soundfont).
LICENCES = {
    "TimGM6mb.sf2": "GPL-2.0 (Tim Brechbill 2004, David Bolton 2010; the soundfont shipped in "
                    "the pretty_midi wheel, which carries no licence file of its own for it)",
    "eSpeak NG (libespeak-ng and espeak-ng-data, via espeakng-loader)": "GPL-3.0-or-later",
    "espeakng-loader": "no licence declared for the loader's own few lines (no licence metadata "
                       "in its wheel, no licence file in its repository); what it ships is eSpeak NG",
    "pretty_midi": "MIT",
    "mido (pretty_midi's MIDI I/O)": "MIT",
    "tinysoundfont (TinySoundFont, tinysoundfont-pybind)": "MIT",
    "libsndfile and its codecs (in the soundfile wheel: LAME, mpg123, Opus, Vorbis)":
        "LGPL-2.1 (libsndfile, LAME, mpg123) / BSD (Opus, Vorbis)",
}


class DemoUnavailableError(SpeechMusicError):
    """A renderer of the demo corpus is not installed, or a codec it needs is missing."""


def require(name: str) -> ModuleType:
    """Import the renderer ``name`` or raise :class:`DemoUnavailableError` saying how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        dist = RENDERERS.get(name, name)
        raise DemoUnavailableError(
            f"the demo corpus needs the package {dist!r} ({exc}); install the extra with "
            "`pip install 'speechmusic[demo]'`") from None


def renderer_versions() -> dict[str, str]:
    """Installed versions of the renderers (``"missing"`` where absent), for provenance."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in [*RENDERERS.values(), "soundfile", "soxr", "scipy", "numpy"]:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "missing"
    return out
