"""The STPS synthesizer: phase scrambling as a method with a stimulus store, like every other.

The store it writes has one transition (``0``) of one step and one loss term,
``amplitude_change``: the relative change of the amplitude spectrum that the
mapping into [0, 1] caused (:func:`stst_stps.scramble.amplitude_change`; the
scrambling itself changes it by nothing but rounding). Its attributes add
``stps_amplitude_change``, ``stps_clipped_fraction`` and
``stps_contrast_scale``. There is no optimisation, so the ``evaluation``
array stays empty (NaN).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from stst_core.errors import ConfigError
from stst_core.store import StimulusStore
from stst_core.synthesis import Synthesizer

from .config import STPSConfig
from .scramble import amplitude_change, map_to_unit, scramble_phase

PRESETS = Path(__file__).parent / "presets"
TERMS = ("amplitude_change",)


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

    def create_store(self, output: Path, *, overwrite: bool) -> StimulusStore:
        return self.new_store(
            output,
            transitions=[0],
            steps=1,
            step_octave=[0],
            octaves=1,
            terms=TERMS,
            checkpoint={},
            overwrite=overwrite,
        )

    def run(self, store: StimulusStore, *, started: float, progress: bool) -> None:
        raw = self.scrambled()
        video, info = map_to_unit(raw, self.config.mapping, iterations=self.config.iterations)
        change = amplitude_change(raw, video)
        store.write_video(video.transpose(0, 1).cpu().numpy())
        store.update_attrs(
            {
                "stps_amplitude_change": change,
                "stps_clipped_fraction": info["clipped_fraction"],
                "stps_contrast_scale": info["contrast_scale"],
            }
        )
        store.commit_steps(
            0,
            losses=np.array([[change]], np.float32),
            weights=np.ones((1, len(TERMS)), np.float32),
            checkpoint={},
            elapsed=time.perf_counter() - started,
        )
