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

Deliberate differences from the reference implementation: pixels are
optimised directly in [0, 1] with L-BFGS-B's bounds (the reference optimises
unbounded VGG inputs and clips afterwards), and the spatial network uses timm's
VGG-19 with ImageNet weights and normalisation (the reference uses the
normalised Caffe VGG-19 of Gatys et al.).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from stst_core import create_loss
from stst_core.errors import ConfigError, STSTError
from stst_core.losses import compare, prepare_target
from stst_core.optim import minimize
from stst_core.store import StimulusStore
from stst_core.synthesis import RunProgress, Synthesizer, build_stream
from stst_core.video import Video

from .config import TwoStreamConfig

PRESETS = Path(__file__).parent / "presets"


def per_sample(activation: torch.Tensor) -> torch.Tensor:
    """``(1, C, T, h, w)`` → ``(T, C, h, w)``: each time step its own sample, for per-frame Gram matrices."""
    return activation[0].transpose(0, 1)


class TwoStreamSynthesizer(Synthesizer):
    """Dynamic textures from whole-clip two-stream Gram matching (Tesfaldet et al. 2018)."""

    name = "two-stream"
    config_class = TwoStreamConfig
    presets = {"paper": PRESETS / "paper.toml", "offline": PRESETS / "offline.toml"}
    default_preset = "paper"
    target_roles = ("appearance", "first_frame")

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
        self.terms = self.config.active_terms()
        self._streams = None

    def streams(self):
        """The two networks, their layers and losses, built once."""
        if self._streams is None:
            streams = {}
            for term in self.terms:
                cfg = getattr(self.config, term)
                window = 1 if term == "appearance" else 2
                net = build_stream(cfg, cfg.style_layers, name=term, max_window=window, device=self.device, seed=self.seed)
                streams[term] = (net, cfg.style_layers, create_loss(cfg.style_loss, **cfg.style_loss_options))
            self._streams = streams
        return self._streams

    def prepare(self) -> None:
        self.streams()

    # -- statistics ---------------------------------------------------------------------

    def _activations(self, term: str, frames: torch.Tensor, loop: bool = False) -> dict[str, torch.Tensor]:
        """Per-frame (appearance) or per-pair (dynamics) activations of ``frames`` ``(T, 3, H, W)``."""
        net, layers, _ = self.streams()[term]
        if term == "dynamics" and net.temporal_window == 2 and loop:
            frames = torch.cat([frames, frames[:1]])
        acts = net(frames.transpose(0, 1)[None], layers)
        return {layer: per_sample(a) for layer, a in acts.items()}

    @torch.no_grad()
    def targets_prepared(self) -> dict[str, dict[str, torch.Tensor]]:
        """Time-averaged target Gram matrices (or whatever each loss prepares), batch of one."""
        prepared = {}
        for term in self.terms:
            _, layers, loss = self.streams()[term]
            frames = self.appearance_frames if term == "appearance" else self.dynamics_frames
            acts = self._activations(term, frames)
            prepared[term] = {layer: prepare_target(loss, acts[layer]).mean(dim=0, keepdim=True) for layer in layers}
        return prepared

    def loss_terms(self, clip: torch.Tensor, prepared) -> torch.Tensor:
        """Unweighted appearance and dynamics terms of a clip ``(T, 3, H, W)``."""
        values = []
        for term in self.terms:
            _, layers, loss = self.streams()[term]
            acts = self._activations(term, clip, loop=self.config.variant == "infinite")
            values.append(torch.stack([compare(loss, acts[layer], prepared[term][layer]) for layer in layers]).mean())
        return torch.stack(values)

    @torch.no_grad()
    def evaluate(self, clip: torch.Tensor, prepared) -> np.ndarray:
        """Each term per frame ``(T, terms)``: appearance of frame t, dynamics of the pair (t−1, t).

        Frame 0's dynamics is the pair (last, first) for the infinite variant, NaN otherwise.
        """
        values = np.full((len(clip), len(self.terms)), np.nan, np.float32)
        for i, term in enumerate(self.terms):
            _, layers, loss = self.streams()[term]
            acts = self._activations(term, clip, loop=self.config.variant == "infinite")
            for step in range(acts[layers[0]].shape[0]):
                value = np.mean([float(compare(loss, acts[l][step : step + 1], prepared[term][l])) for l in layers])
                time_index = step if term == "appearance" else (step + 1) % len(clip)
                values[time_index, i] = value
        return values

    # -- store and run -----------------------------------------------------------------

    def initial_clip(self) -> torch.Tensor:
        clip = torch.rand(self.shape, generator=torch.Generator().manual_seed(self.seed))
        if self.config.variant == "incremental":
            clip[0] = self.first_frame.cpu()
        return clip

    def create_store(self, output: Path, *, overwrite: bool) -> StimulusStore:
        return self.new_store(
            output,
            transitions=[0],
            steps=self.config.steps,
            step_octave=[0] * self.config.steps,
            octaves=1,
            terms=self.terms,
            checkpoint={"clip": (("time", "channel", "y", "x"), self.initial_clip().numpy())},
            overwrite=overwrite,
        )

    def run(self, store: StimulusStore, *, started: float, progress: bool) -> None:
        cfg = self.config
        done = store.steps_done
        clip = torch.from_numpy(store.checkpoint()["clip"]).to(self.device)
        prepared = self.targets_prepared()
        weights = torch.tensor([cfg.weights[t] for t in self.terms], device=self.device)
        fixed_first = cfg.variant == "incremental"
        first = clip[:1]

        def full(free):
            return torch.cat([first, free]) if fixed_first else free

        def objective(free):
            terms = self.loss_terms(full(free), prepared)
            return (weights * terms).sum(), terms

        history = torch.empty(cfg.steps, len(self.terms), device=self.device)
        remaining = cfg.steps - done
        bar = RunProgress(remaining, enabled=progress, unit_name="step")
        bar.start(f"{self.name}: {self.shape[0]} frames", remaining)
        state = {"committed": done}

        def commit(step, free):
            values = history[state["committed"] : step + 1].cpu().numpy()
            if not np.isfinite(values).all():
                bad_step, term = np.argwhere(~np.isfinite(values))[0]
                raise STSTError(
                    f"the {self.terms[term]} loss became {values[bad_step, term]} at step {state['committed'] + bad_step}; "
                    "the last checkpoint is kept. Lower the weights or use optimizer='lbfgs'"
                )
            store.commit_steps(
                state["committed"],
                losses=values,
                weights=weights.cpu().numpy()[None],
                checkpoint={"clip": full(free).cpu().numpy()},
                elapsed=time.perf_counter() - started,
            )
            state["committed"] = step + 1

        def on_step(step, total, terms, free):
            step += done
            history[step] = terms
            bar.step(1.0, total.item() if bar.wants_loss() else None)
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                commit(step, free)

        try:
            free = clip[1:] if fixed_first else clip
            if remaining > 0:
                free = minimize(free, objective, method=cfg.optimizer, steps=remaining, lr=cfg.lr, on_step=on_step)
        finally:
            bar.close()
        result = full(free)
        store.write_video(result.cpu().numpy())
        noise = torch.rand(self.shape, generator=torch.Generator().manual_seed(self.seed)).to(self.device)
        store.write_evaluation(self.evaluate(noise, prepared), self.evaluate(result, prepared))
