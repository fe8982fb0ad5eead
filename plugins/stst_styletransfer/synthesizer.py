"""Spatiotemporal style transfer (Greco & Siegel 2024), frame transition by frame transition.

For each transition from frame t−1 to frame t the current generated frame is
optimised, with the previous generated frame fixed, so that

- the spatial stream's Gram matrices of the current frame match those of the
  spatial-style target frame t (``spatial_style``), and optionally its
  activations match the content frame (``spatial_content``);
- the temporal stream's Gram matrices of the (previous, current) pair match
  those of the temporal-style target pair (t−1, t) (``temporal_style``), and
  optionally its activations (``temporal_content``);
- total variation stays low (``tv``).

Every octave of every transition first rescales each term's weight to
``weight · equalize / value_at_start`` (loss equalisation), then takes its
steps. The schedule runs coarse to fine; the result of one octave is upsampled
to start the next. After the last octave the frame is colour-transferred to the
target frame and becomes the fixed previous frame of the next transition,
whose current frame starts as ``blend · previous + (1 − blend) · noise``.

Generation starts from uniform noise standing for target frame ``burn_in`` of a
true mirror ``t_b, …, t_1, t_0, t_1, …``: the transitions before ``t_0`` are
burn-in and are not kept.

Deliberate differences from the reference implementation: the mirror padding
is a true mirror (the reference prepends ``t_1 … t_b`` in forward order); the
fixed previous frame is resized for each octave from its full-resolution
original (the reference resizes it from the previous octave, so at the last
octave it is a blurred copy); target frames are downsampled with antialiasing;
the ETA is estimated from a calibrated per-octave step cost, so it is right
from the first frame on.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from stst_core import create_loss
from stst_core.errors import ConfigError, STSTError
from stst_core.losses import compare, prepare_target
from stst_core.optim import minimize
from stst_core.store import StimulusStore
from stst_core.synthesis import RunProgress, Synthesizer, build_stream
from stst_core.video import Video

from .color import color_transfer
from .config import TERMS, STSTConfig

PRESETS = Path(__file__).parent / "presets"


def mirror_sequence(num_frames: int, burn_in: int) -> list[int]:
    """Target frame index of every generated frame: ``b, …, 1, 0, 1, …, T−1`` (a true mirror).

    Clips shorter than the burn-in are mirrored back and forth.
    """

    def reflect(k: int) -> int:
        if num_frames == 1:
            return 0
        period = 2 * (num_frames - 1)
        k %= period
        return k if k < num_frames else period - k

    return [reflect(k) for k in range(burn_in, 0, -1)] + list(range(num_frames))


def resize(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(..., 3, H, W)``, antialiased when shrinking."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:])
    shrinking = size[0] < flat.shape[-2] or size[1] < flat.shape[-1]
    out = F.interpolate(flat, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return out.reshape(*lead, *out.shape[-3:])


class STSTSynthesizer(Synthesizer):
    """Spatiotemporal style transfer: a model metamer of a video, frame by frame (Greco & Siegel 2024)."""

    name = "stst"
    config_class = STSTConfig
    presets = {"paper": PRESETS / "paper.toml", "offline": PRESETS / "offline.toml"}
    default_preset = "paper"
    target_roles = ("spatial_style", "temporal_style")

    def __init__(self, targets: Mapping[str, Video], config: STSTConfig | None = None, *, seed: int = 0, device="cpu"):
        super().__init__(targets, config, seed=seed, device=device)
        content = self.targets["content"]
        self.num_frames = content.num_frames
        self.size = (content.height, content.width)
        for role in self.target_roles:
            video = self.targets.get(role)
            if video is None:
                continue
            if (video.height, video.width) != self.size:
                raise ConfigError(
                    f"the {role.replace('_', ' ')} video {video.source} is {video.height}x{video.width} but the input is "
                    f"{self.size[0]}x{self.size[1]} (height x width); give videos of one aspect ratio, or crop them first"
                )
            if not math.isclose(video.fps, content.fps, rel_tol=1e-3):
                raise ConfigError(
                    f"the {role.replace('_', ' ')} video {video.source} runs at {video.fps:g} fps but the input at "
                    f"{content.fps:g} fps; motion per frame would not match. Resample one of them (e.g. --stride)"
                )
            if video.num_frames < self.num_frames:
                raise ConfigError(
                    f"the {role.replace('_', ' ')} video {video.source} has {video.num_frames} frames but the input has "
                    f"{self.num_frames}; give a longer style video or fewer frames (--frames)"
                )
        # frames per role as (T, 3, H, W) on the device; styles default to the input
        self.frames = {
            role: self.targets.get(role, content).frames[:, : self.num_frames].transpose(0, 1).contiguous().to(self.device)
            for role in ("content", *self.target_roles)
        }
        self.sequence = mirror_sequence(self.num_frames, self.config.burn_in)
        self.terms = self.config.active_terms()
        self._networks = None
        self._total_variation = create_loss("tv")

    # -- plumbing ----------------------------------------------------------------------

    @property
    def transitions(self) -> list[int]:
        """Output frame index of each transition (negative: burn-in, not kept)."""
        return [f - self.config.burn_in for f in range(1, len(self.sequence))]

    def octave_size(self, octave) -> tuple[int, int]:
        factor = self.config.octave_scale**octave.scale
        return (max(16, int(self.size[0] * factor)), max(16, int(self.size[1] * factor)))

    def networks(self):
        """The two streams and the losses, built once (weights may download on first use)."""
        if self._networks is None:
            cfg = self.config
            wants = {t: cfg.weights[t] > 0 for t in TERMS}
            streams = {}
            for stream, stream_cfg in (("spatial", cfg.spatial), ("temporal", cfg.temporal)):
                if not (wants[f"{stream}_style"] or wants[f"{stream}_content"]):
                    continue
                layers = (stream_cfg.style_layers if wants[f"{stream}_style"] else []) + (stream_cfg.content_layers if wants[f"{stream}_content"] else [])
                window = 1 if stream == "spatial" else 2
                net = build_stream(stream_cfg, layers, name=stream, max_window=window, device=self.device, seed=self.seed)
                streams[stream] = {
                    "net": net,
                    "style_layers": stream_cfg.style_layers if wants[f"{stream}_style"] else [],
                    "content_layers": stream_cfg.content_layers if wants[f"{stream}_content"] else [],
                    "style_loss": create_loss(stream_cfg.style_loss, **stream_cfg.style_loss_options),
                    "content_loss": create_loss(stream_cfg.content_loss),
                }
            self._networks = streams
        return self._networks

    def prepare(self) -> None:
        self.networks()

    def _stream_input(self, stream: str, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """``(1, 3, T, h, w)``: the current frame alone (spatial) or the pair (temporal)."""
        if stream == "spatial":
            return current[None, :, None]
        return torch.stack([previous, current], dim=1)[None]

    @torch.no_grad()
    def target_statistics(self, index: int, size: tuple[int, int]) -> dict[str, dict[str, Any]]:
        """Prepared targets of every active term for transition ``index`` at ``size``."""
        prev_t, cur_t = self.sequence[index - 1], self.sequence[index]
        prepared: dict[str, dict[str, Any]] = {}
        for stream, parts in self.networks().items():
            for kind in ("style", "content"):
                layers = parts[f"{kind}_layers"]
                if not layers:
                    continue
                role = f"{stream}_style" if kind == "style" else "content"
                frames = resize(self.frames[role][[prev_t, cur_t]], size)
                acts = parts["net"](self._stream_input(stream, frames[0], frames[1]), layers)
                loss = parts[f"{kind}_loss"]
                prepared[f"{stream}_{kind}"] = {layer: prepare_target(loss, acts[layer]) for layer in layers}
        return prepared

    def loss_terms(self, previous: torch.Tensor, current: torch.Tensor, prepared) -> torch.Tensor:
        """Unweighted value of each active term, in ``self.terms`` order."""
        values = {}
        for stream, parts in self.networks().items():
            layers = list(dict.fromkeys(parts["style_layers"] + parts["content_layers"]))
            acts = parts["net"](self._stream_input(stream, previous, current), layers)
            for kind in ("style", "content"):
                term = f"{stream}_{kind}"
                if term in prepared:
                    loss = parts[f"{kind}_loss"]
                    values[term] = torch.stack([compare(loss, acts[l], prepared[term][l]) for l in parts[f"{kind}_layers"]]).mean()
        if "tv" in self.terms:
            values["tv"] = self._total_variation(current[None], None)
        return torch.stack([values[t] for t in self.terms])

    # -- store -------------------------------------------------------------------------

    def initial_checkpoint(self) -> dict[str, np.ndarray]:
        generator = torch.Generator().manual_seed(self.seed)
        previous = torch.rand(3, *self.size, generator=generator)
        current = torch.rand(3, *self.size, generator=generator)
        return self._checkpoint(previous, current, generator)

    @staticmethod
    def _checkpoint(previous, current, generator) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
        frame = ("channel", "y", "x")
        return {
            "previous": (frame, previous.cpu().numpy()),
            "current": (frame, current.cpu().numpy()),
            "rng": (("rng_state",), generator.get_state().numpy()),
        }

    def create_store(self, output: Path, *, overwrite: bool) -> StimulusStore:
        octaves = self.config.octaves
        return self.new_store(
            output,
            transitions=self.transitions,
            steps=sum(o.steps for o in octaves),
            step_octave=[i for i, o in enumerate(octaves) for _ in range(o.steps)],
            octaves=len(octaves),
            terms=self.terms,
            checkpoint=self.initial_checkpoint(),
            overwrite=overwrite,
        )

    # -- the run -----------------------------------------------------------------------

    def run(self, store: StimulusStore, *, started: float, progress: bool) -> None:
        state = store.checkpoint()
        previous = torch.from_numpy(state["previous"]).to(self.device)
        current = torch.from_numpy(state["current"]).to(self.device)
        generator = torch.Generator()
        generator.set_state(torch.from_numpy(state["rng"]))
        first = store.transitions_done + 1
        indices = range(first, len(self.sequence))
        costs = self.calibrate(previous) if progress else [0.0] * len(self.config.octaves)
        per_transition = sum(o.steps * c for o, c in zip(self.config.octaves, costs))
        bar = RunProgress(per_transition * len(indices), enabled=progress)
        try:
            for index in indices:
                time_index = index - self.config.burn_in
                label = f"frame {time_index + 1}/{self.num_frames}" if time_index >= 0 else f"burn-in {index}/{self.config.burn_in - 1}"
                bar.start(label, sum(o.steps for o in self.config.octaves))
                current, losses, weights = self.optimize_transition(index, previous, current, costs, bar)
                current = self.finish_frame(index, current)
                previous = current
                noise = torch.rand(3, *self.size, generator=generator).to(self.device)
                next_current = self.config.blend * previous + (1 - self.config.blend) * noise
                store.commit_transition(
                    index - 1,
                    frame=previous.cpu().numpy() if time_index >= 0 else None,
                    time=time_index,
                    losses=losses,
                    weights=weights,
                    checkpoint={k: v for k, (_, v) in self._checkpoint(previous, next_current, generator).items()},
                    elapsed=time.perf_counter() - started,
                )
                current = next_current
        finally:
            bar.close()
        result = torch.from_numpy(store.video().frames.numpy()).transpose(0, 1).to(self.device)
        noise = torch.rand(result.shape, generator=torch.Generator().manual_seed(self.seed)).to(self.device)
        store.write_evaluation(self.evaluate(noise), self.evaluate(result))

    @torch.no_grad()
    def evaluate(self, frames: torch.Tensor) -> np.ndarray:
        """Every active term at full resolution for each frame ``(T, 3, H, W)`` of a finished video.

        Frame t is compared with target frame t, and the pair (t−1, t) with the
        target pair; frame 0 has no previous frame, so its temporal terms are NaN.
        """
        values = np.full((len(frames), len(self.terms)), np.nan, np.float32)
        for t in range(len(frames)):
            index = self.config.burn_in + t
            prepared = self.target_statistics(index, self.size)
            previous = frames[t - 1] if t else frames[t]
            values[t] = self.loss_terms(previous, frames[t], prepared).cpu().numpy()
            if t == 0:
                values[t, [i for i, term in enumerate(self.terms) if term.startswith("temporal")]] = np.nan
        return values

    def calibrate(self, previous: torch.Tensor) -> list[float]:
        """Seconds per optimiser step at each octave, measured on a few throwaway steps."""
        costs = []
        for octave in self.config.octaves:
            size = self.octave_size(octave)
            prepared = self.target_statistics(1, size)
            prev = resize(previous[None], size)[0]
            trial = prev.clone().requires_grad_(True)
            timings = []
            for _ in range(3):
                begin = time.perf_counter()
                self.loss_terms(prev, trial, prepared).sum().backward()
                timings.append(time.perf_counter() - begin)
            costs.append(min(timings[1:]))
        return costs

    def optimize_transition(self, index, previous, current, costs, bar):
        """All octaves of one transition; returns the frame and the loss and weight histories."""
        cfg = self.config
        losses = np.full((sum(o.steps for o in cfg.octaves), len(self.terms)), np.nan, np.float32)
        weights = np.full((len(cfg.octaves), len(self.terms)), np.nan, np.float32)
        user = torch.tensor([cfg.weights[t] for t in self.terms], device=self.device)
        offset = 0
        for o, (octave, cost) in enumerate(zip(cfg.octaves, costs)):
            size = self.octave_size(octave)
            prepared = self.target_statistics(index, size)
            prev = resize(previous[None], size)[0]
            current = resize(current[None].detach(), size)[0].clamp(0, 1)
            with torch.no_grad():
                start = self.loss_terms(prev, current, prepared)
            w = user * cfg.equalize / start.clamp_min(1e-30) if cfg.equalize > 0 else user
            weights[o] = w.cpu().numpy()
            history = torch.empty(octave.steps, len(self.terms), device=self.device)

            def objective(frame):
                terms = self.loss_terms(prev, frame, prepared)
                return (w * terms).sum(), terms

            def on_step(step, total, terms, frame):
                history[step] = terms  # stays on the device: no host round trip per step
                bar.step(cost, total.item() if bar.wants_loss() else None)

            current = minimize(current, objective, method=cfg.optimizer, steps=octave.steps, lr=octave.lr, on_step=on_step)
            values = history.cpu().numpy()
            if not np.isfinite(values).all():
                step, term = np.argwhere(~np.isfinite(values))[0]
                raise STSTError(
                    f"the {self.terms[term]} loss became {values[step, term]} at transition {index - cfg.burn_in} "
                    f"(octave {o}, step {step}); the frames done so far are kept. Lower the learning rates "
                    f"(octaves.{o}.lr) or the weight of {self.terms[term]}"
                )
            losses[offset : offset + octave.steps] = values
            offset += octave.steps
        return current, losses, weights

    def finish_frame(self, index: int, current: torch.Tensor) -> torch.Tensor:
        """Back to full size, then colour transfer to the target frame."""
        frame = resize(current[None], self.size)[0].clamp(0, 1)
        role = self.config.color_transfer
        if role != "none":
            frame = color_transfer(frame, self.frames[role][self.sequence[index]], bins=self.config.color_bins)
        return frame.contiguous()
