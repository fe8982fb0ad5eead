"""Temporal flicker: how much a video's overall luminance and contrast change from one frame to the next, against the target's.

With ``m_t`` the mean and ``c_t`` the standard deviation of frame ``t``'s luma
(``0.299 R + 0.587 G + 0.114 B`` in [0, 1]), a video's flicker is

``L = mean_t |m_t+1 − m_t|`` (luminance) and ``C = mean_t |c_t+1 − c_t|`` (contrast),

and the metric is each one's log ratio to the target's,
``log2((L_g + ε) / (L_t + ε))``, ``ε = 1e-4``: 0 when the stimulus flickers
as much as its target, +1 twice as much, −1 half as much (1.5 times as much
is +0.585). ``ε`` (a thirtieth of an 8-bit grey level) keeps the ratio of a
target whose brightness never changes finite. Motion alone hardly changes
either number; a synthesis whose frames are optimised or recoloured one by
one can change both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stst_core import Metric, Video

from .common import luma

EPSILON = 1e-4  # in luma units, [0, 1]


@dataclass(frozen=True)
class Flicker:
    """A video's mean frame-to-frame change of luminance (mean luma) and contrast (luma's standard deviation)."""

    luminance: float
    contrast: float


def flicker(video: Video) -> Flicker:
    """The flicker of one video (at least 2 frames)."""
    grey = luma(video).reshape(video.num_frames, -1)
    return Flicker(luminance=float(np.abs(np.diff(grey.mean(1))).mean()), contrast=float(np.abs(np.diff(grey.std(1))).mean()))


class FlickerDistance(Metric):
    """Temporal flicker against the target's: log2 ratios of the frame-to-frame change of luminance and of contrast.

    Returns ``luminance_log2_ratio`` and ``contrast_log2_ratio`` (see
    :mod:`stst_metrics.flicker`): 0 as the target, +1 twice its flicker.
    """

    name = "flicker"
    min_frames = 2

    def compare(self, generated: Video, target: Video) -> dict[str, float]:
        a, b = flicker(generated), flicker(target)
        return {
            "luminance_log2_ratio": float(np.log2((a.luminance + EPSILON) / (b.luminance + EPSILON))),
            "contrast_log2_ratio": float(np.log2((a.contrast + EPSILON) / (b.contrast + EPSILON))),
        }
