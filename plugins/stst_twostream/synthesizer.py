"""Two-stream dynamic texture synthesis (Tesfaldet, Brubaker & Derpanis 2018).

The whole clip is optimised at once. Every generated frame's appearance-stream
Gram matrices are matched to the *time-averaged* Gram matrices of the
appearance target's frames, and every generated frame pair's dynamics-stream
Gram matrices to the time-averaged ones of the dynamics target's pairs:

    L = w_a · mean_t mean_l ‖G_l(x_t) − Ḡ_l(appearance)‖²
      + w_d · mean_t mean_l ‖G_l(x_t, x_t+1) − Ḡ_l(dynamics)‖²

(sums of squared Gram differences, Gram matrices normalised by C·H·W, as the
reference). Variants:

``standard``
    every frame is free.
``incremental``
    the first frame is given (by default the target's first frame, or any
    image or video frame as ``first_frame``) and stays fixed: the clip
    continues it.
``infinite``
    the pair (last, first) counts too, so the clip loops without a seam; the
    target average excludes that pair.

Dynamics style transfer is the standard variant with an ``appearance``
target other than the input: a still image or another video.

Deliberate differences from the reference implementation, each a setting
that the ``reference`` preset turns back: pixels are optimised in [0, 1] by a
projected L-BFGS (``bounds``; the reference optimises unbounded VGG inputs
and clips afterwards) for ``steps`` iterations (``budget``; the reference
gives SciPy's L-BFGS-B 6,000 evaluations and its tolerances) from uniform
noise (``init``; the reference starts at the ImageNet mean colour). The
spatial network is timm's VGG-19 with ImageNet weights and normalisation (the
reference uses the normalised Caffe VGG-19 of Gatys et al., which a user can
give as a file). The line search is a backtracking one, not SciPy's
Moré–Thuente, so even the reference preset's trajectory is not the
reference's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from stst_core import LBFGS, Array, ConfigError, Normalization, OptimizedSynthesizer, Stream, Video, WeightsError, make_stepper

from .config import TwoStreamConfig

PRESETS = Path(__file__).parent / "presets"
GATYS_FILE = "vgg_conv.pth"  # the reference preset's appearance weights: a file the user gives


def per_sample(activation: torch.Tensor) -> torch.Tensor:
    """``(1, C, T, h, w)`` → ``(T, C, h, w)``: each time step its own sample, for per-frame Gram matrices."""
    return activation[0].transpose(0, 1)


class TwoStreamSynthesizer(OptimizedSynthesizer):
    """Dynamic textures from whole-clip two-stream Gram matching (Tesfaldet et al. 2018)."""

    name = "two-stream"
    config_class = TwoStreamConfig
    presets = {name: PRESETS / f"{name}.toml" for name in ("paper", "reference", "offline")}
    default_preset = "paper"
    target_roles = ("appearance", "first_frame")
    quick_preset = "offline"
    quick_overrides = ("steps=4", "checkpoint_every=2", "appearance.options={levels=1, channels=8}", "appearance.style_layers=['level0']")

    def __init__(self, targets: Mapping[str, Video], config: TwoStreamConfig | None = None, *, seed: int = 0, device="cpu"):
        super().__init__(targets, config, seed=seed, device=device)
        content = self.targets["content"]
        if content.num_frames < 2:
            raise ConfigError(f"the dynamics target {content.source} has {content.num_frames} frame; dynamics need at least 2")
        self.shape = (content.num_frames, 3, content.height, content.width)
        self.dynamics_frames = content.frames.transpose(0, 1).contiguous().to(self.device)
        appearance = self.targets.get("appearance", content)
        self.appearance_frames = appearance.frames.transpose(0, 1).contiguous().to(self.device)
        first = self.targets.get("first_frame")
        if first is not None:
            if self.config.variant != "incremental":
                raise ConfigError("a first frame is only used by variant='incremental' (--set variant=incremental)")
            if (first.height, first.width) != (content.height, content.width):
                raise ConfigError(
                    f"the first frame {first.source} is {first.height}x{first.width} but the clip is "
                    f"{content.height}x{content.width}; give a frame of the clip's size"
                )
        self.first_frame = (first or content).frames[:, 0].to(self.device)
        self.fixed_first = self.config.variant == "incremental"
        self.weights = torch.tensor([self.config.weights[t] for t in self.terms()], device=self.device)
        self._streams = None
        self.prepared = None  # the targets' time-averaged statistics, once the streams exist

    def terms(self) -> list[str]:
        return self.config.active_terms()

    def streams(self) -> dict[str, Stream]:
        """The appearance and dynamics streams, built once."""
        if self._streams is None:
            try:
                self._streams = {
                    term: Stream.from_config(term, getattr(self.config, term), max_window=1 if term == "appearance" else 2, device=self.device, seed=self.seed)
                    for term in self.terms()
                }
            except WeightsError as exc:
                if self.config.appearance.weights != GATYS_FILE or Path(GATYS_FILE).is_file():
                    raise
                raise WeightsError(
                    f"{exc}. The reference preset's appearance network is Gatys et al.'s normalised VGG-19, which is not published "
                    f"with a checksum: put its PyTorch file {GATYS_FILE} (leongatys/PytorchNeuralStyleTransfer) in this folder or give "
                    "it with --set appearance.weights=PATH; --set appearance.weights=keras takes the Caffe VGG-19 it was normalised from."
                ) from None
        return self._streams

    def prepare(self) -> None:
        self.streams()

    # -- statistics ---------------------------------------------------------------------

    def _activations(self, term: str, frames: torch.Tensor, loop: bool = False) -> dict[str, torch.Tensor]:
        """Per-frame (appearance) or per-pair (dynamics) activations of ``frames`` ``(T, 3, H, W)``."""
        stream = self.streams()[term]
        if term == "dynamics" and stream.window == 2 and loop:
            frames = torch.cat([frames, frames[:1]])
        return {layer: per_sample(a) for layer, a in stream(frames.transpose(0, 1)[None]).items()}

    @torch.no_grad()
    def targets_prepared(self) -> dict[str, dict[str, torch.Tensor]]:
        """Time-averaged target Gram matrices (or whatever each loss prepares), batch of one."""
        prepared = {}
        for term, stream in self.streams().items():
            frames = self.appearance_frames if term == "appearance" else self.dynamics_frames
            per_frame = stream.prepare(self._activations(term, frames))
            prepared[term] = {layer: value.mean(dim=0, keepdim=True) for layer, value in per_frame.items()}
        return prepared

    def layer_terms(self) -> list[tuple[str, str]]:
        return [(term, layer) for term in self.terms() for layer in getattr(self.config, term).style_layers]

    def loss_terms(self, clip: torch.Tensor, prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """Unweighted appearance and dynamics terms of a clip ``(T, 3, H, W)``, and each of their layers (``layer_terms()`` order)."""
        loop = self.config.variant == "infinite"
        layers = [stream.compare_layers(self._activations(term, clip, loop), prepared[term]) for term, stream in self.streams().items()]
        return torch.stack([values.mean() for values in layers]), torch.cat(layers)

    @torch.no_grad()
    def evaluate(self, clip: torch.Tensor) -> np.ndarray:
        """Each term per frame ``(T, terms)``: appearance of frame t, dynamics of the pair (t−1, t).

        Frame 0's dynamics is the pair (last, first) for the infinite variant, NaN otherwise.
        """
        values = np.full((len(clip), len(self.terms())), np.nan, np.float32)
        for i, (term, stream) in enumerate(self.streams().items()):
            acts = self._activations(term, clip, loop=self.config.variant == "infinite")
            for step in range(acts[stream.layers[0]].shape[0]):
                value = float(stream.compare({layer: a[step : step + 1] for layer, a in acts.items()}, self.prepared[term]))
                time_index = step if term == "appearance" else (step + 1) % len(clip)
                values[time_index, i] = value
        return values

    # -- the optimisation ----------------------------------------------------------------

    def initial(self) -> torch.Tensor:
        """The start (``init``); the incremental variant optimises every frame but the given first one."""
        clip = self._start(self.rng)
        return clip[1:] if self.fixed_first else clip

    def _start(self, generator: torch.Generator) -> torch.Tensor:
        if self.config.init == "uniform":
            return torch.rand(self.shape, generator=generator).to(self.device)
        # the reference's tf.random_normal in its VGG input space (BGR, 0-255, mean subtracted), in [0, 1] RGB
        mean = torch.tensor(Normalization.CAFFE.mean).flip(0).view(1, 3, 1, 1)  # as RGB
        return ((mean + torch.randn(self.shape, generator=generator)) / 255).to(self.device)

    def noise_start(self, like: torch.Tensor) -> torch.Tensor:
        return self._start(torch.Generator().manual_seed(self.seed))

    @property
    def start_description(self) -> str:
        return "the uniform noise it started from" if self.config.init == "uniform" else "the mean colour it started from (init = 'reference')"

    def make_stepper(self, x: torch.Tensor):
        cfg = self.config
        if cfg.optimizer != "lbfgs":
            return make_stepper(cfg.optimizer, x, lr=cfg.lr)
        if cfg.budget == "iterations":
            return make_stepper("lbfgs", x, lr=cfg.lr, bounded=cfg.bounds)
        # SciPy's maxfun and tolerances; its gtol is meant for the reference's 0-255 variable, whose gradient is ours / 255
        return make_stepper(
            "lbfgs", x, lr=cfg.lr, bounded=cfg.bounds, max_evaluations=cfg.steps, ftol=LBFGS.SCIPY_FTOL, gtol=LBFGS.SCIPY_GTOL, gradient_scale=1 / 255
        )

    def start_state(self):
        state = super().start_state()
        if self.config.equalize > 0:  # the weights that make every term start at its weight × equalize
            self.prepared = self.prepared or self.targets_prepared()
            with torch.no_grad():
                start = self.loss_terms(self.full(state["optimizer"]["x"]), self.prepared)[0]
            state["weights"] = self.weights * self.config.equalize / start.clamp_min(1e-30)
        return state

    def full(self, free: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.first_frame[None], free]) if self.fixed_first else free

    def start(self, state) -> None:
        super().start(state)
        self.prepared = self.prepared or self.targets_prepared()  # computed once, whether by start_state or here
        if "weights" in state:
            self.weights = state["weights"].to(self.device)

    def histories(self):
        arrays = super().histories()
        if self.config.optimizer == "lbfgs":  # the objective's evaluations so far, at each step: the reference's budget
            arrays["evaluations"] = Array(("step",), (self.units_total,), chunks=(max(1, self.commit_every),))
        return arrays

    def advance(self, unit: int):
        rows = super().advance(unit)
        if self.config.optimizer == "lbfgs":
            rows.append(("evaluations", unit, torch.tensor(float(self.stepper.evaluations))))
        return rows

    def objective(self, free: torch.Tensor):
        terms, layers = self.loss_terms(self.full(free), self.prepared)
        return (self.weights * terms).sum(), torch.cat([terms, layers])

    def result(self) -> torch.Tensor:
        return self.full(self.stepper.x.detach().clamp(0, 1))  # clipped, for an unbounded optimisation

    def unit_label(self, unit: int) -> str:
        return f"{self.name}, {self.shape[0]} frames: step {unit + 1}/{self.units_total}"

    def term_weights(self) -> list[float]:
        return [self.config.weights[t] for t in self.terms()]

    def objective_weights(self, noise: np.ndarray) -> np.ndarray:
        return self.weights.cpu().double().numpy()  # after loss equalisation, if any

    def step_weights(self, unit: int, rows) -> np.ndarray:
        return self.weights.cpu().float().numpy()

    def nan_advice(self, term: str | None = None) -> str:
        weight = f"weights.{term}" if term else "the weights"
        if self.config.optimizer == "lbfgs":  # L-BFGS has no learning rate
            return f"Lower {weight}"
        return f"Lower lr or {weight}, or use optimizer='lbfgs'"
