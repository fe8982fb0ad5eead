"""Configuration of STGConvNet learning and sampling (Xie, Zhu & Wu 2017).

Defaults are the reference code's (zilongzheng/STGConvNet ``main.py``): the
``paper`` preset beside this module sets every key explicitly, ``fast`` is a
CPU-sized schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .energy import ARCHITECTURES
from .masks import MASK_TYPES


@dataclass
class STGConvNetConfig:
    """Every setting of a run; see the STGConvNet tutorial."""

    architecture: Literal["ST", "ST_small", "FC_S", "FC_S_large"] = "FC_S_large"
    iterations: int = 500  # learning iterations (the reference's epochs), the units of progress
    chains: int = 3  # persistent Langevin chains: the store's samples
    langevin_steps: int = 20  # per iteration
    step_size: float = 0.3  # δ, in the model's units (0..255 minus the mean)
    sigma: float = 1.0  # σ of the Gaussian reference q (the reference's refsig)
    lr: float = 0.001  # Adam
    beta1: float = 0.5  # Adam's β1 (β2 = 0.999)
    init_std: float = 0.001  # weights ~ N(0, init_std²), biases 0
    snapshot_every: int = 10  # iterations between the kept frames of the chains
    checkpoint_every: int = 10
    model: str | None = None  # a learned model (model.safetensors of an earlier run) to sample from: the weights stay fixed
    # recovery from a generated mask (a mask file is the "mask" target instead); the input is then its own truth
    mask_type: Literal["salt-and-pepper", "region", "missing-frames"] | None = None
    mask_ratio: float = 0.5  # of the pixels, of each frame's area, or of the frames
    mask_seed: int = 0

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")
        for key in ("iterations", "chains", "langevin_steps", "snapshot_every", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        for key in ("step_size", "sigma", "lr", "init_std"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be a positive finite number, got {value}")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"beta1 must lie in [0, 1), got {self.beta1}")
        if self.mask_type is not None and self.mask_type not in MASK_TYPES:
            raise ValueError(f"mask_type must be one of {', '.join(MASK_TYPES)}, got {self.mask_type!r}")
        if not (math.isfinite(self.mask_ratio) and 0 < self.mask_ratio < 1):
            raise ValueError(f"mask_ratio must lie strictly between 0 and 1, got {self.mask_ratio}")
