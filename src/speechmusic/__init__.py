"""speechmusic: speech / music / noise classification, transfer learning and segmentation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("speechmusic")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
