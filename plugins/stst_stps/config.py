"""Configuration of spatiotemporal phase scrambling (STPS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class STPSConfig:
    """Every setting of an STPS run; see the STPS tutorial.

    ``per_channel``
        False (default): one random phase field for R, G and B, so the
        phase differences between channels, and with them the colour
        relations at each frequency, are kept. True: an independent field per
        channel, which also scrambles colour.
    ``mapping``
        How the scrambled video, which overshoots [0, 1], is brought into it:
        ``"clip"`` (default) clips each value; ``"scale"`` shrinks the
        contrast about each channel's mean, by one factor for all channels,
        just enough for every value to fit (the spectrum's shape is kept
        exactly: every amplitude but the mean's falls by that factor);
        ``"iterate"`` clips, then alternately restores the amplitude spectrum
        and clips again, ``iterations`` times (the spectrum comes closer, the
        phases drift from the random ones).
    ``iterations``
        Rounds of the ``"iterate"`` mapping.
    """

    per_channel: bool = False
    mapping: Literal["clip", "scale", "iterate"] = "clip"
    iterations: int = 50

    def __post_init__(self):
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")
