"""speechmusic: speech / music / noise classification, transfer learning and segmentation."""

import os
from importlib.metadata import PackageNotFoundError, version

# Transparent huge pages for PyTorch's large CPU buffers (c10 reads this once, at torch's first
# allocation, so it only takes effect when speechmusic is imported before torch has allocated).
# The segmenter's per-chunk feature maps are mapped afresh for every chunk to keep memory bounded;
# faulting them in 2 MiB pages instead of 4 KiB ones made its network pass ~20 % faster. An
# explicit setting in the environment (e.g. THP_MEM_ALLOC_ENABLE=0) wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

try:
    __version__ = version("speechmusic")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
