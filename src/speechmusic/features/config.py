"""`FeatureConfig`: one dataclass that identifies an input representation exactly.

It round-trips through YAML, is stored in checkpoints and gives the feature cache its key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import yaml

from speechmusic.errors import ConfigError

__all__ = ["FeatureConfig", "FEATURE_KINDS", "PRESETS"]

FEATURE_KINDS = ("logmel", "mfcc", "ina_bands")
# Bumped whenever the numbers a config produces change, so that stale caches are never reused.
FEATURE_CODE_VERSION = 1


@dataclass(frozen=True)
class FeatureConfig:
    """An input representation: front-end parameters plus how frames are cut into patches.

    ``kind`` is ``"logmel"`` (the paper's MelSpec), ``"mfcc"`` (SwishNet's and INA's paper input)
    or ``"ina_bands"`` (inaSpeechSegmenter's 24-band front-end, needed by its published weights).
    Features are ``[n_features, frames]`` per clip; a model sees patches
    ``[n_features, patch_frames]`` taken every ``patch_hop`` frames.

    ``precision`` is the FFT's: ``"float32"`` (fast) agrees with librosa to well under 0.01 dB
    wherever a band lies within 100 dB of its frame's loudest band; ``"float64"`` also matches in
    bands down at float32's round-off floor (about 120 dB below the frame's peak).
    """

    kind: str = "logmel"
    sample_rate: int = 22050
    n_fft: int = 2048
    win_length: int | None = None
    hop_length: int = 512
    center: bool = True
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    n_mfcc: int = 20
    amin: float = 1e-10
    top_db: float | None = None
    keep_bands: int | None = None
    patch_frames: int = 10
    patch_hop: int | None = None
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ConfigError(f"feature kind {self.kind!r} unknown; choose one of {FEATURE_KINDS}")
        positive = {"sample_rate": self.sample_rate, "n_fft": self.n_fft,
                    "hop_length": self.hop_length, "n_mels": self.n_mels,
                    "patch_frames": self.patch_frames}
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"FeatureConfig.{name} must be a positive integer, got {value!r}")
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise ConfigError(f"win_length must be in (0, n_fft={self.n_fft}], got {self.win_length}")
        nyquist = self.sample_rate / 2
        if self.fmin < 0 or (self.fmax is not None and not self.fmin < self.fmax <= nyquist):
            raise ConfigError(
                f"need 0 <= fmin < fmax <= {nyquist:g} Hz, got fmin={self.fmin}, fmax={self.fmax}")
        if self.kind == "mfcc" and not 0 < self.n_mfcc <= self.n_mels:
            raise ConfigError(f"n_mfcc must be in (0, n_mels={self.n_mels}], got {self.n_mfcc}")
        if self.keep_bands is not None and not 0 < self.keep_bands <= self.n_mels:
            raise ConfigError(f"keep_bands must be in (0, n_mels={self.n_mels}], got {self.keep_bands}")
        if self.patch_hop is not None and self.patch_hop <= 0:
            raise ConfigError(f"patch_hop must be positive, got {self.patch_hop}")
        if self.precision not in ("float32", "float64"):
            raise ConfigError(f"precision must be 'float32' or 'float64', got {self.precision!r}")
        if self.top_db is not None and self.top_db <= 0:
            raise ConfigError(f"top_db must be positive or None, got {self.top_db}")

    # ------------------------------------------------------------------ derived facts
    @property
    def n_features(self) -> int:
        """Rows of the feature matrix: bands or coefficients."""
        if self.kind == "mfcc":
            return self.n_mfcc
        return self.keep_bands if self.keep_bands is not None else self.n_mels

    @property
    def hop(self) -> int:
        """Frames between consecutive patches (``patch_hop``, or ``patch_frames`` if unset)."""
        return self.patch_hop if self.patch_hop is not None else self.patch_frames

    @property
    def frame_rate(self) -> float:
        """Feature frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def patch_shape(self) -> tuple[int, int]:
        """``(n_features, patch_frames)``: the input shape a model sees."""
        return (self.n_features, self.patch_frames)

    @property
    def frame_length(self) -> int:
        """Samples one analysis frame reads: INA's front-end frames by its window, an STFT by
        ``n_fft`` (a shorter window is zero-padded to it)."""
        return (self.win_length or self.n_fft) if self.kind == "ina_bands" else self.n_fft

    def n_frames(self, n_samples: int) -> int:
        """Frames the front-end gives for ``n_samples`` samples."""
        if self.center and self.kind != "ina_bands":
            return 1 + n_samples // self.hop_length
        win = self.frame_length
        return 1 + (n_samples - win) // self.hop_length if n_samples >= win else 0

    # ------------------------------------------------------------------ identity and I/O
    def key(self) -> str:
        """A stable hash of every field: equal keys mean identical features."""
        payload = json.dumps({"v": FEATURE_CODE_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        """Build from a mapping; a ``preset`` key starts from that preset. Unknown keys are errors."""
        if not isinstance(data, dict):
            raise ConfigError(f"a feature config must be a mapping, got {type(data).__name__}")
        data = dict(data)
        base = cls.preset(data.pop("preset")) if "preset" in data else cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown feature config key(s) {unknown}; valid keys: {sorted(known)}")
        return replace(base, **data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> FeatureConfig:
        return cls.from_dict(yaml.safe_load(text))

    @classmethod
    def preset(cls, name: str) -> FeatureConfig:
        """A named configuration from :data:`PRESETS`."""
        try:
            return cls(**PRESETS[name])
        except KeyError:
            raise ConfigError(f"unknown feature preset {name!r}; choose one of {sorted(PRESETS)}") from None


#: Named input representations of the paper and of inaSpeechSegmenter.
PRESETS: dict[str, dict[str, Any]] = {
    # The paper's MelSpec (section 4.1/4.2): 22050 Hz, 2048/512, 128 bands, patches of 10 frames.
    "melspec": dict(kind="logmel", sample_rate=22050, n_fft=2048, hop_length=512, n_mels=128,
                    patch_frames=10),
    # SwishNet's input: 22 MFCCs, 16 frames per 1 s snippet (hop = 22050 / 16).
    "mfcc_swishnet": dict(kind="mfcc", sample_rate=22050, n_fft=2048, hop_length=1378,
                          n_mels=128, n_mfcc=22, patch_frames=16),
    # INA's paper input: 68 frames of 21 MFCCs below 4 kHz at a 10 ms hop.
    "mfcc_ina": dict(kind="mfcc", sample_rate=22050, n_fft=1024, hop_length=220, n_mels=40,
                     fmax=4000.0, n_mfcc=21, patch_frames=68),
    # inaSpeechSegmenter's own front-end (16 kHz, 25 ms Hann, 10 ms hop, 24 bands), first 21
    # bands for the speech/music networks, patches of 68 frames every 2 frames.
    "ina_sm": dict(kind="ina_bands", sample_rate=16000, n_fft=512, win_length=400, hop_length=160,
                   center=False, n_mels=24, fmin=100.0, fmax=8000.0, keep_bands=21, patch_frames=68,
                   patch_hop=2),
    "ina_gender": dict(kind="ina_bands", sample_rate=16000, n_fft=512, win_length=400,
                       hop_length=160, center=False, n_mels=24, fmin=100.0, fmax=8000.0,
                       keep_bands=24,
                       patch_frames=68, patch_hop=2),
}
