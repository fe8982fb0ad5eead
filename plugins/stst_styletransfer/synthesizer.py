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

Deliberate differences from the reference implementation, each a setting
that the ``reference`` preset turns back: the mirror padding is a true mirror
(``burn_in_padding``; the reference prepends ``t_1 … t_b`` in forward order);
the fixed previous frame and the targets are resized for each octave from
their full-resolution originals (``octave_resize``; the reference resizes
them from the previous octave, so at the last octave they are blurred
copies); frames are downsampled with antialiasing (``antialias``). The ETA
is estimated from a calibrated per-octave step cost, so it is right from the
first frame on.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from stst_core import Array, ConfigError, OptimizedSynthesizer, Stream, Video, create_loss, make_stepper

from .color import color_transfer
from .config import TERMS, STSTConfig

PRESETS = Path(__file__).parent / "presets"


def mirror_sequence(num_frames: int, burn_in: int, padding: str = "mirror") -> list[int]:
    """Target frame index of every generated frame: ``b, …, 1, 0, 1, …, T−1`` (a true mirror).

    ``padding="reference"``: the STST reference's ``1, 2, …, b, 0, 1, …, T−1``
    (its ``pad_frames_tar`` copies in forward order what it meant to mirror),
    so that the first kept frame's motion target is the jump ``t_b → t_0``.
    Clips shorter than the burn-in are mirrored back and forth (the reference
    fails on them).

    >>> mirror_sequence(4, 3), mirror_sequence(4, 3, "reference")
    ([3, 2, 1, 0, 1, 2, 3], [1, 2, 3, 0, 1, 2, 3])
    """

    def reflect(k: int) -> int:
        if num_frames == 1:
            return 0
        period = 2 * (num_frames - 1)
        k %= period
        return k if k < num_frames else period - k

    padded = range(burn_in, 0, -1) if padding == "mirror" else range(1, burn_in + 1)
    return [reflect(k) for k in padded] + list(range(num_frames))


def resize(frames: torch.Tensor, size: tuple[int, int], *, antialias: bool = True) -> torch.Tensor:
    """Bilinear resize of ``(..., 3, H, W)`` (half-pixel centres), antialiased when shrinking unless ``antialias=False``.

    Without antialiasing it is TF2's ``tf.image.resize`` (bilinear, no antialias), the reference's.
    """
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:])
    shrinking = size[0] < flat.shape[-2] or size[1] < flat.shape[-1]
    out = F.interpolate(flat, size=size, mode="bilinear", align_corners=False, antialias=antialias and shrinking)
    return out.reshape(*lead, *out.shape[-3:])


class STSTSynthesizer(OptimizedSynthesizer):
    """Spatiotemporal style transfer: a model metamer of a video, frame by frame (Greco & Siegel 2024)."""

    name = "stst"
    config_class = STSTConfig
    presets = {name: PRESETS / f"{name}.toml" for name in ("paper", "reference", "offline")}
    default_preset = "paper"
    target_roles = ("spatial_style", "temporal_style")
    unit = "transition"
    quick_preset = "offline"
    quick_overrides = ("octaves=[{scale=0, steps=2, lr=0.02}]", "burn_in=1", "spatial.options={levels=1, channels=8}", "spatial.style_layers=['level0']")

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
        self.sequence = mirror_sequence(self.num_frames, self.config.burn_in, self.config.burn_in_padding)
        self._terms = self.config.active_terms()
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

    def terms(self) -> list[str]:
        return self._terms

    def networks(self) -> dict[str, Stream]:
        """The spatial and temporal streams that some active term uses, built once (weights may download on first use)."""
        if self._networks is None:
            cfg = self.config
            wants = {t: cfg.weights[t] > 0 for t in TERMS}
            self._networks = {
                stream: Stream.from_config(
                    stream,
                    stream_cfg,
                    max_window=1 if stream == "spatial" else 2,
                    device=self.device,
                    seed=self.seed,
                    style=wants[f"{stream}_style"],
                    content=wants[f"{stream}_content"],
                )
                for stream, stream_cfg in (("spatial", cfg.spatial), ("temporal", cfg.temporal))
                if wants[f"{stream}_style"] or wants[f"{stream}_content"]
            }
        return self._networks

    def prepare(self) -> None:
        self.networks()

    def _stream_input(self, stream: str, previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """``(1, 3, T, h, w)``: the current frame alone (spatial) or the pair (temporal)."""
        if stream == "spatial":
            return current[None, :, None]
        return torch.stack([previous, current], dim=1)[None]

    def resized(self, frames: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """``frames`` at each of ``sizes`` in turn: each from ``frames`` (``octave_resize = "direct"``) or from the previous size's copy (``"chained"``)."""
        out, source = [], frames
        for size in sizes:
            out.append(resize(source, size, antialias=self.config.antialias))
            if self.config.octave_resize == "chained":
                source = out[-1]
        return out

    @torch.no_grad()
    def target_statistics(self, index: int, sizes: list[tuple[int, int]]) -> list[dict[str, dict[str, Any]]]:
        """Prepared targets of every active term for transition ``index``, at each of ``sizes`` (the octaves')."""
        prev_t, cur_t = self.sequence[index - 1], self.sequence[index]
        prepared: list[dict[str, dict[str, Any]]] = [{} for _ in sizes]
        for name, stream in self.networks().items():
            for kind in ("style", "content"):
                if not stream.layers_of[kind]:
                    continue
                role = f"{name}_style" if kind == "style" else "content"
                for at_size, frames in zip(prepared, self.resized(self.frames[role][[prev_t, cur_t]], sizes)):
                    at_size[f"{name}_{kind}"] = stream.prepare(stream(self._stream_input(name, frames[0], frames[1])), kind)
        return prepared

    def layer_terms(self) -> list[tuple[str, str]]:
        """Each layer of each stream term (TV has none), in ``terms()`` order."""
        cfg = self.config
        layers = {
            f"{stream}_{kind}": getattr(cfg, stream).style_layers if kind == "style" else getattr(cfg, stream).content_layers
            for stream in ("spatial", "temporal")
            for kind in ("style", "content")
        }
        return [(term, layer) for term in self.terms() if term != "tv" for layer in layers[term]]

    def loss_terms(self, previous: torch.Tensor, current: torch.Tensor, prepared) -> tuple[torch.Tensor, torch.Tensor]:
        """Unweighted value of each active term, in ``self.terms()`` order, and of each of their layers (``layer_terms()`` order)."""
        values, layers = {}, {}
        for name, stream in self.networks().items():
            acts = stream(self._stream_input(name, previous, current))
            for kind in ("style", "content"):
                term = f"{name}_{kind}"
                if term in prepared:
                    layers[term] = stream.compare_layers(acts, prepared[term], kind)
                    values[term] = layers[term].mean()
        if "tv" in self.terms():
            values["tv"] = self._total_variation(current[None], None)
        terms = [t for t in self.terms() if t in layers]
        return torch.stack([values[t] for t in self.terms()]), torch.cat([layers[t] for t in terms])

    # -- the store's layout and the checkpoint --------------------------------------------

    @property
    def units_total(self) -> int:
        return len(self.transitions)

    @property
    def commit_every(self) -> int:
        return 1

    def histories(self) -> dict[str, Array]:
        steps, terms = sum(o.steps for o in self.config.octaves), len(self.terms())
        return {
            "loss": Array(("transition", "step", "term"), (self.units_total, steps, terms)),
            "layer_loss": Array(("transition", "step", "term_layer"), (self.units_total, steps, len(self.layer_terms()))),
            "loss_weight": Array(("transition", "octave", "term"), (self.units_total, len(self.config.octaves), terms)),
        }

    def coords(self) -> dict[str, Any]:
        octaves = self.config.octaves
        return {
            "transition": np.asarray(self.transitions),
            "step": np.arange(sum(o.steps for o in octaves)),
            "step_octave": ("step", np.asarray([i for i, o in enumerate(octaves) for _ in range(o.steps)])),
            "octave": np.arange(len(octaves)),
        }

    def start_state(self) -> dict[str, torch.Tensor]:
        """Uniform noise for the first fixed previous frame and the first current frame."""
        return {"previous": torch.rand(3, *self.size, generator=self.rng), "current": torch.rand(3, *self.size, generator=self.rng)}

    def start(self, state) -> None:
        self.previous = state["previous"].to(self.device)
        self.current = state["current"].to(self.device)
        self._costs = None

    def state(self) -> dict[str, torch.Tensor]:
        return {"previous": self.previous, "current": self.current}

    def result(self) -> None:
        return None  # every kept frame was committed with its transition

    # -- the run -----------------------------------------------------------------------

    def unit_label(self, unit: int) -> str:
        time_index = unit + 1 - self.config.burn_in
        return f"frame {time_index + 1}/{self.num_frames}" if time_index >= 0 else f"burn-in {unit + 1}/{self.config.burn_in - 1}"

    def unit_cost(self, unit: int) -> float:
        if self._costs is None:
            self._costs = self.calibrate(self.previous)
        return sum(o.steps * c for o, c in zip(self.config.octaves, self._costs))

    def term_weights(self) -> list[float]:
        return [self.config.weights[t] for t in self.terms()]

    def objective_weights(self, noise: np.ndarray) -> np.ndarray:
        """With loss equalisation every term counts relative to its start: here, relative to the noise's."""
        weights = np.asarray(self.term_weights(), np.float64)
        return weights / noise if self.config.equalize > 0 else weights

    def step_weights(self, unit: int, rows) -> np.ndarray:
        """Each step's weights: its octave's row of ``loss_weight`` (after loss equalisation)."""
        weights = next(np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values) for name, _, values in rows if name == "loss_weight")
        return weights[np.repeat(np.arange(len(self.config.octaves)), [o.steps for o in self.config.octaves])]

    def nan_advice(self, term: str | None = None) -> str:
        weight = f"weights.{term}" if term else "the weights"
        return f"Lower the learning rates (octaves.N.lr) or {weight}" + (" or equalize" if self.config.equalize > 0 else "")

    def advance(self, unit: int) -> list:
        """One transition: every octave, colour transfer, and the next frame's start."""
        index = unit + 1  # position in the mirrored sequence of the frame this transition makes
        self.progress.start(self.unit_label(unit), sum(o.steps for o in self.config.octaves))
        frame, losses, weights = self.optimize_transition(index, self.previous, self.current)
        rows = [*self.loss_rows(unit, losses), ("loss_weight", unit, weights)]
        self.check_finite(unit, rows)  # before the colour transfer meets a NaN frame
        self.previous = self.finish_frame(index, frame)
        noise = torch.rand(3, *self.size, generator=self.rng).to(self.device)
        self.current = self.config.blend * self.previous + (1 - self.config.blend) * noise
        time_index = index - self.config.burn_in
        if time_index >= 0:
            rows.append(("video", time_index, self.previous))
        return rows

    @torch.no_grad()
    def evaluate(self, frames: torch.Tensor) -> np.ndarray:
        """Every active term at full resolution for each frame ``(T, 3, H, W)`` of a finished video.

        Frame t is compared with target frame t, and the pair (t−1, t) with the
        target pair; frame 0 has no previous frame, so its temporal terms are NaN.
        """
        values = np.full((len(frames), len(self.terms())), np.nan, np.float32)
        for t in range(len(frames)):
            index = self.config.burn_in + t
            (prepared,) = self.target_statistics(index, [self.size])
            previous = frames[t - 1] if t else frames[t]
            values[t] = self.loss_terms(previous, frames[t], prepared)[0].cpu().numpy()
            if t == 0:
                values[t, [i for i, term in enumerate(self.terms()) if term.startswith("temporal")]] = np.nan
        return values

    def calibrate(self, previous: torch.Tensor) -> list[float]:
        """Seconds per optimiser step at each octave, measured on a few throwaway steps."""
        costs = []
        sizes = [self.octave_size(octave) for octave in self.config.octaves]
        for prepared, prev in zip(self.target_statistics(1, sizes), self.resized(previous[None], sizes)):
            prev = prev[0]
            trial = prev.clone().requires_grad_(True)
            timings = []
            for _ in range(3):
                begin = time.perf_counter()
                self.loss_terms(prev, trial, prepared)[0].sum().backward()
                timings.append(time.perf_counter() - begin)
            costs.append(min(timings[1:]))
        return costs

    def optimize_transition(self, index, previous, current):
        """All octaves of one transition; returns the frame and its loss ``(steps, terms)`` and weight ``(octaves, terms)`` histories."""
        cfg = self.config
        user = torch.tensor([cfg.weights[t] for t in self.terms()], device=self.device)
        losses, weights = [], []
        costs = self._costs or [1.0] * len(cfg.octaves)
        sizes = [self.octave_size(octave) for octave in cfg.octaves]
        for octave, cost, size, prepared, prev in zip(cfg.octaves, costs, sizes, self.target_statistics(index, sizes), self.resized(previous[None], sizes)):
            prev = prev[0]
            current = resize(current[None].detach(), size, antialias=cfg.antialias)[0].clamp(0, 1)
            with torch.no_grad():
                start = self.loss_terms(prev, current, prepared)[0]
            # loss equalisation: every term starts each octave at its user weight × equalize
            w = user * cfg.equalize / start.clamp_min(1e-30) if cfg.equalize > 0 else user

            def objective(frame, prev=prev, prepared=prepared, w=w):
                terms, layers = self.loss_terms(prev, frame, prepared)
                return (w * terms).sum(), torch.cat([terms, layers])

            stepper = make_stepper(cfg.optimizer, current, lr=octave.lr)
            losses.append(self.descend(stepper, objective, octave.steps, cost=cost))
            weights.append(w)
            current = stepper.x.detach()
        return current, torch.cat(losses), torch.stack(weights)

    def finish_frame(self, index: int, current: torch.Tensor) -> torch.Tensor:
        """Back to full size, then colour transfer to the target frame."""
        frame = resize(current[None], self.size)[0].clamp(0, 1)
        role = self.config.color_transfer
        if role != "none":
            frame = color_transfer(frame, self.frames[role][self.sequence[index]], bins=self.config.color_bins, mapping=self.config.color_mapping)
        return frame.contiguous()
