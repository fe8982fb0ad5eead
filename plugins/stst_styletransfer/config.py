"""Configuration of spatiotemporal style transfer (STST).

Defaults are the published settings (Greco & Siegel 2024, the reference
implementation's ``synthetize.py``); the ``paper`` and ``offline`` presets
(TOML files beside this module) set every key explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stst_core import StreamConfig, complete_weights

TERMS = ("spatial_style", "spatial_content", "temporal_style", "temporal_content", "tv")


@dataclass
class OctaveConfig:
    """One octave of the coarse-to-fine schedule: frames scaled by ``octave_scale ** scale``."""

    scale: int = 0
    steps: int = 500
    lr: float = 0.005

    def __post_init__(self):
        if self.scale > 0:
            raise ValueError(f"octave scale must be 0 or negative (coarser than the input), got {self.scale}")
        if self.steps < 1:
            raise ValueError(f"octave steps must be at least 1, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"octave lr must be positive, got {self.lr}")


def _spatial_default() -> StreamConfig:
    return StreamConfig(
        backbone="vgg19",
        weights="imagenet",
        style_layers=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
        content_layers=["relu5_2"],
    )


def _temporal_default() -> StreamConfig:
    return StreamConfig(backbone="msoe", weights="tesfaldet", style_layers=["concat"], content_layers=["concat"])


def _paper_octaves() -> list[OctaveConfig]:
    return [OctaveConfig(-2, 2000, 0.001), OctaveConfig(-1, 1000, 0.002), OctaveConfig(0, 500, 0.005)]


@dataclass
class STSTConfig:
    """Every setting of an STST run; see the STST tutorial for what each does."""

    spatial: StreamConfig = field(default_factory=_spatial_default)
    temporal: StreamConfig = field(default_factory=_temporal_default)
    # user weight of each term; each octave of each transition rescales it to
    # weight · equalize / (value at the octave's start) when equalize > 0
    weights: dict[str, float] = field(
        default_factory=lambda: {"spatial_style": 1.0, "temporal_style": 1.0, "spatial_content": 0.0, "temporal_content": 0.0, "tv": 0.1}
    )
    equalize: float = 1e4
    optimizer: Literal["ngd", "adam", "lbfgs"] = "ngd"
    octave_scale: float = 1.5
    octaves: list[OctaveConfig] = field(default_factory=_paper_octaves)
    burn_in: int = 5
    # the target frames of the burn-in: a true mirror t_b … t_1, t_0, t_1 …, or the reference's
    # forward copy t_1 … t_b, t_0, t_1 … (an index bug of its pad_frames_tar, kept to reproduce it)
    burn_in_padding: Literal["mirror", "reference"] = "mirror"
    # each octave's targets and fixed previous frame: resized from the full-resolution frames
    # ("direct"), or from the previous octave's copies ("chained", the reference's: blurred at the last octave)
    octave_resize: Literal["direct", "chained"] = "direct"
    antialias: bool = True  # downsample with antialiasing (False: plain bilinear, as TF2's tf.image.resize)
    blend: float = 1.0
    color_transfer: Literal["spatial_style", "content", "none"] = "spatial_style"
    color_bins: int = 300
    color_mapping: Literal["exact", "reference"] = "exact"  # the 1-D transfers of the colour transfer (see color.distribution_transfer)

    def __post_init__(self):
        self.weights = complete_weights(self.weights, TERMS)
        if not any(self.weights[t] > 0 for t in TERMS if t != "tv"):
            raise ValueError("at least one of spatial_style, spatial_content, temporal_style, temporal_content needs a weight > 0")
        if not self.octaves:
            raise ValueError("octaves must list at least one octave")
        if self.burn_in < 1:
            raise ValueError(f"burn_in must be at least 1 (the transition from the noise frame), got {self.burn_in}")
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError(f"blend must lie in [0, 1], got {self.blend}")
        if self.octave_scale <= 1.0:
            raise ValueError(f"octave_scale must be greater than 1, got {self.octave_scale}")
        if self.color_bins < 2:
            raise ValueError(f"color_bins must be at least 2 (histogram bins of the colour transfer), got {self.color_bins}")
        if self.equalize < 0:
            raise ValueError(f"equalize must be 0 (off) or positive, got {self.equalize}")
        if self.weights["spatial_style"] > 0 and not self.spatial.style_layers:
            raise ValueError("spatial.style_layers is empty but spatial_style has a weight")
        if self.weights["temporal_style"] > 0 and not self.temporal.style_layers:
            raise ValueError("temporal.style_layers is empty but temporal_style has a weight")
        if self.weights["spatial_content"] > 0 and not self.spatial.content_layers:
            raise ValueError("spatial.content_layers is empty but spatial_content has a weight")
        if self.weights["temporal_content"] > 0 and not self.temporal.content_layers:
            raise ValueError("temporal.content_layers is empty but temporal_content has a weight")

    def active_terms(self) -> list[str]:
        return [t for t in TERMS if self.weights[t] > 0]
