"""The STPS synthesizer: phase scrambling as a method with a stimulus store, like every other.

Its store has one unit of progress (``unit = "scramble"``) and no histories:
there is no optimisation, so there is no loss to record and no evaluation.
Its attributes add ``stps_amplitude_change`` (the relative change of the
amplitude spectrum that the mapping into [0, 1] caused;
:func:`stst_stps.scramble.amplitude_change`: the scrambling itself changes it
by nothing but rounding), ``stps_clipped_fraction`` and
``stps_contrast_scale``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import torch

from stst_core import ConfigError, StimulusStore, StoreLayout, Synthesizer

from .config import STPSConfig
from .scramble import amplitude_change, map_to_unit, scramble_phase

PRESETS = Path(__file__).parent / "presets"
BYTES_PER_VALUE = 64  # peak memory per value of the input clip (see memory_estimate)


class STPSSynthesizer(Synthesizer):
    """Spatiotemporal phase scrambling: the input's 3-D amplitude spectrum with random phases (the null model)."""

    name = "stps"
    config_class = STPSConfig
    presets: ClassVar[dict[str, Path]] = {"default": PRESETS / "default.toml"}
    default_preset = "default"

    def __init__(self, targets, config: STPSConfig | None = None, *, seed: int = 0, device="cpu"):
        super().__init__(targets, config, seed=seed, device=device)
        content = self.targets["content"]
        if content.num_frames < 2:
            raise ConfigError(f"{content.source}: STPS scrambles over time too, so it needs at least 2 frames, got {content.num_frames}")

    def scrambled(self) -> torch.Tensor:
        """The scrambled input before the mapping into [0, 1] (real, float64, ``(C, T, H, W)``)."""
        return scramble_phase(self.targets["content"].frames, self.seed, per_channel=self.config.per_channel, device=self.device)

    def memory_estimate(self) -> int:
        # measured peak (ru_maxrss) above the loaded clip: 41 ("scale"), 45 ("clip") and 57 ("iterate")
        # bytes per value of 3x32x512x512 clips (float64 spectra and phase fields); the store's
        # float32 copies of the input and the result come on top
        return BYTES_PER_VALUE * self.targets["content"].frames.numel()

    def layout(self) -> StoreLayout:
        return StoreLayout(units_total=1, unit="scramble")

    def run(self, store: StimulusStore, *, started: float, progress: bool) -> None:
        if store.units_done == 1:  # scrambled and committed already; only the status was left to move
            return
        raw = self.scrambled()
        video, info = map_to_unit(raw, self.config.mapping, iterations=self.config.iterations)
        store.update_attrs(
            {
                "stps_amplitude_change": amplitude_change(raw, video),
                "stps_clipped_fraction": info["clipped_fraction"],
                "stps_contrast_scale": info["contrast_scale"],
            }
        )
        store.commit(1, rows=[("video", Ellipsis, video.transpose(0, 1).cpu().numpy())], checkpoint={}, elapsed=time.perf_counter() - started)
