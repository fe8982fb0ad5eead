"""Configuration of two-stream dynamic texture synthesis (Tesfaldet, Brubaker & Derpanis 2018).

Defaults are the published settings; the ``paper`` and ``offline`` presets
beside this module set every key explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stst_core import StreamConfig, complete_weights

TERMS = ("appearance", "dynamics")
TESFALDET_GRAM = {"normalization": "chw", "reduction": "sum"}


def _appearance_default() -> StreamConfig:
    return StreamConfig(
        backbone="vgg19",
        weights="imagenet",
        options={"pooling": "avg"},
        style_layers=["relu1_1", "pool1", "pool2", "pool3", "pool4"],
        style_loss_options=dict(TESFALDET_GRAM),
    )


def _dynamics_default() -> StreamConfig:
    return StreamConfig(backbone="msoe", weights="tesfaldet", options={"grey": "luma"}, style_layers=["concat"], style_loss_options=dict(TESFALDET_GRAM))


@dataclass
class TwoStreamConfig:
    """Every setting of a two-stream run; see the two-stream tutorial."""

    appearance: StreamConfig = field(default_factory=_appearance_default)
    dynamics: StreamConfig = field(default_factory=_dynamics_default)
    weights: dict[str, float] = field(default_factory=lambda: {"appearance": 1e9, "dynamics": 1e15})
    # standard: the clip is free; incremental: its first frame is given and fixed;
    # infinite: the last→first transition counts too, so the clip loops seamlessly
    variant: Literal["standard", "incremental", "infinite"] = "standard"
    optimizer: Literal["lbfgs", "adam", "ngd"] = "lbfgs"
    steps: int = 6000
    lr: float = 0.01
    checkpoint_every: int = 50
    # the start: uniform noise, or the reference's N(0, 1) in its VGG input space (0-255, mean
    # subtracted), i.e. the ImageNet mean colour with noise of σ = 1/255
    init: Literal["uniform", "reference"] = "uniform"
    bounds: bool = True  # L-BFGS on the box [0, 1]; False: unbounded, as the reference, and the result clipped
    # what `steps` counts: L-BFGS iterations, or (the reference's maxfun) evaluations of the objective,
    # with SciPy's L-BFGS-B tolerances stopping it earlier
    budget: Literal["iterations", "evaluations"] = "iterations"
    # loss equalisation (as STST): each term's weight becomes weight · equalize / (its value at the start);
    # 0: the weights as they are (the paper's 1e9 : 1e15 was set for Gatys et al.'s normalised VGG-19)
    equalize: float = 0.0

    def __post_init__(self):
        self.weights = complete_weights(self.weights, TERMS)
        if not any(self.weights.values()):
            raise ValueError("at least one of the loss weights must be positive")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.equalize < 0:
            raise ValueError(f"equalize must be 0 (off) or positive, got {self.equalize}")
        if self.optimizer != "lbfgs" and (not self.bounds or self.budget != "iterations"):
            raise ValueError(f"bounds=false and budget='evaluations' are L-BFGS's; optimizer is {self.optimizer!r}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, got {self.checkpoint_every}")
        for term, stream in (("appearance", self.appearance), ("dynamics", self.dynamics)):
            if self.weights[term] > 0 and not stream.style_layers:
                raise ValueError(f"{term}.style_layers is empty but {term} has a weight")

    def active_terms(self) -> list[str]:
        return [t for t in TERMS if self.weights[t] > 0]
