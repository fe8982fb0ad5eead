"""Configuration of LEAPS: which classifier to invert, towards which class, and every weight and step of the objective.

Defaults are the ``paper`` preset's; ``released`` sets the released code's
behaviour and ``fast`` a CPU-sized run (presets beside this module).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from .objective import COHERENCES, SIMILARITIES

COHERENCE_AT = ("last", "first")  # the coherence_layer keywords: that one of the priming layers with a time axis


@dataclass
class LEAPSConfig:
    """Every setting of a run; see the LEAPS tutorial."""

    backbone: str = "r3d_18"  # the classifier to invert: any registered backbone with a ``logits`` layer
    weights: str | None = None  # its weights: a tag or a file (None: the backbone's default)
    backbone_options: dict[str, Any] = field(default_factory=dict)  # passed to the backbone's constructor
    target_class: int | str = 0  # the class to synthesise: an index or a class name of the backbone's card
    verifier: str | None = None  # the BatchNorm network whose statistics the batch matches (None: the inverted model itself)
    verifier_weights: str | None = None
    samples: int = 4  # videos synthesised together: the store's samples (the batch)
    steps: int = 1500
    lr: float = 0.135  # Adam on [0, 1] pixels (the released 0.6 in units of the models' input std, 0.225)
    beta1: float = 0.5
    beta2: float = 0.9
    warmup: int = 100  # linear warm-up steps, then a half cosine towards 0
    lr_floor: float = 0.005
    init_mean: float = 0.45  # the start: N(init_mean, init_std²) per pixel, clipped to [0, 1]
    init_std: float = 0.225  # (the reference's N(0, 1) in the models' normalised input)
    jitter: int = 30  # random roll of ±jitter pixels on y and x, each step
    flip: float = 0.5  # probability of a horizontal flip, each step
    prime_layers: list[str] | None = None  # the layers whose mean embeddings prime (None: the backbone's default layers but logits)
    prime_last_only: bool = False  # only the last of the priming layers primes (the released code's)
    priming_weights: list[float] | None = None  # λ_l, one per priming layer (None: 1 each)
    priming_weight: float = 1.0  # of L_prim in the objective
    similarity: Literal["jvs", "l1"] = "jvs"
    coherence_layer: str = "last"  # the layer of R_coh: a layer's name, or "last" (the paper's) or "first" of the priming layers with a time axis
    coherence: Literal["paper", "released"] = "paper"
    coherence_weight: float = 0.1  # r of R_coh (negative: maximised, as the released code)
    delta: float = 1.0  # the hinge's margin for time steps more than one apart
    diversity_weight: float = 0.05  # r of the BatchNorm-statistics term (0: no verifier)
    first_bn_weight: float = 10.0
    l2_weight: float = 0.0  # the released code's L2 image prior
    double_softmax: bool = False  # cross-entropy of softmax(logits), as the released code's probability outputs
    keep_best: bool = False  # the result is the samples at the lowest total loss of the run (the released code's), not the last
    checkpoint_every: int = 25

    def __post_init__(self):
        for key in ("samples", "steps", "checkpoint_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        for key in ("warmup", "jitter"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must not be negative, got {getattr(self, key)}")
        for key in ("lr", "init_std"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be a positive finite number, got {value}")
        for key in ("lr_floor", "priming_weight", "diversity_weight", "first_bn_weight", "l2_weight", "delta"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{key} must be a finite number ≥ 0, got {value}")
        if not math.isfinite(self.coherence_weight):
            raise ValueError(f"coherence_weight must be finite, got {self.coherence_weight}")
        for key in ("beta1", "beta2", "flip", "init_mean"):
            value = getattr(self, key)
            if not 0 <= value <= 1 or (key.startswith("beta") and value == 1):
                raise ValueError(f"{key} must lie in [0, 1{')' if key.startswith('beta') else ']'}, got {value}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}, got {self.similarity!r}")
        if self.coherence not in COHERENCES:
            raise ValueError(f"coherence must be one of {', '.join(COHERENCES)}, got {self.coherence!r}")
        self.target_class = str(self.target_class)
