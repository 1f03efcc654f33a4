"""The one exception hierarchy of speechmusic.

Every error raised on bad user input is a :class:`SpeechMusicError`. Errors about a file carry its
path and say what is wrong with it, so that a batch job can report the file and go on.
"""

from __future__ import annotations

import os

__all__ = [
    "SpeechMusicError",
    "ConfigError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioDecodeError",
    "EmptyAudioError",
    "AudioTooShortError",
    "NonFiniteAudioError",
    "UnsupportedAudioError",
    "ModelError",
    "CheckpointError",
    "WeightsUnavailableError",
]


class SpeechMusicError(Exception):
    """Base class of every error speechmusic raises on purpose."""


class ConfigError(SpeechMusicError, ValueError):
    """A configuration value or argument is invalid."""


class AudioError(SpeechMusicError):
    """A problem with one audio input; ``path`` names it (or is ``None`` for arrays)."""

    def __init__(self, path: str | os.PathLike | None, reason: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        where = "<array>" if self.path is None else self.path
        super().__init__(f"{where}: {reason}")


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The input file does not exist."""


class AudioDecodeError(AudioError):
    """The file exists but cannot be decoded (corrupt, truncated, unknown format)."""


class EmptyAudioError(AudioError):
    """The file decodes to zero samples."""


class AudioTooShortError(AudioError):
    """The audio is shorter than the analysis needs."""


class NonFiniteAudioError(AudioError):
    """The audio contains NaN or infinite samples."""


class UnsupportedAudioError(AudioError):
    """The audio is readable but outside what is supported (e.g. too many channels)."""


class ModelError(SpeechMusicError):
    """A model name, shape or argument is invalid."""


class CheckpointError(SpeechMusicError):
    """A checkpoint file is missing, corrupt or incompatible."""


class WeightsUnavailableError(SpeechMusicError):
    """Pretrained weights are needed but cannot be found or fetched; the message says what to do."""
