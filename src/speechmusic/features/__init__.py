"""Input representations: `FeatureConfig`, LogMel, MFCC, InaBands, normalisation, patching."""

from speechmusic.features.config import FEATURE_KINDS, PRESETS, FeatureConfig
from speechmusic.features.modules import MFCC, LogMel, build_frontend, compute_features
from speechmusic.features.normalize import FeatureNormalizer, PatchStandardizer, SlidingStandardizer
from speechmusic.features.patches import make_patches, patch_starts

__all__ = [
    "FEATURE_KINDS",
    "PRESETS",
    "FeatureConfig",
    "FeatureNormalizer",
    "PatchStandardizer",
    "SlidingStandardizer",
    "InaBands",
    "LogMel",
    "MFCC",
    "build_frontend",
    "compute_features",
    "make_patches",
    "patch_starts",
]


def __getattr__(name: str):
    # InaBands lives in its own module; imported lazily so the common path stays light.
    if name == "InaBands":
        from speechmusic.features.ina import InaBands

        return InaBands
    raise AttributeError(name)
