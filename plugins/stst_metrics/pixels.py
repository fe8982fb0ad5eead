"""Pixel statistics: mean luminance, RMS contrast, kurtosis, colour histograms.

On luma ``g`` (``0.299 R + 0.587 G + 0.114 B``, in [0, 1]):

``mean luminance``
    the mean of ``g`` over all pixels of all frames;
``RMS contrast``
    the standard deviation of ``g`` over the pixels of a frame, averaged over
    frames (Peli 1990; in [0, 0.5]);
``kurtosis``
    ``E[(g − μ)⁴] / σ⁴`` over all pixels of all frames (3 for a Gaussian;
    natural images are heavier-tailed); undefined (NaN) for a uniform clip.

and on each colour channel, a histogram of 32 equal bins over [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np

from stst_core import Metric, Range, Video

from .common import luma, total_variation_distance


@dataclass
class PixelStatistics:
    mean_luminance: float
    rms_contrast: float
    kurtosis: float
    histograms: np.ndarray  # (channels, bins): share of pixels per bin


def pixel_statistics(video: Video, bins: int = 32) -> PixelStatistics:
    """Luma mean, RMS contrast and kurtosis, and per-channel histograms of one video."""
    g = luma(video)
    centred = g - g.mean()
    variance = float(np.mean(centred**2))
    kurtosis = float(np.mean(centred**4) / variance**2) if variance > 1e-12 else float("nan")
    frames = video.frames.detach().cpu().double().numpy()
    histograms = np.stack([np.histogram(channel, bins=bins, range=(0.0, 1.0))[0] / channel.size for channel in frames])
    return PixelStatistics(
        mean_luminance=float(g.mean()),
        rms_contrast=float(g.std(axis=(1, 2)).mean()),
        kurtosis=kurtosis,
        histograms=histograms,
    )


class PixelStatisticsDistance(Metric):
    """Differences in mean luminance, RMS contrast, kurtosis (of luma) and colour histograms.

    Returns a dict:

    ``mean_luminance``, ``rms_contrast``
        absolute differences, in units of the [0, 1] luma range;
    ``kurtosis``
        absolute difference of the kurtoses (dimensionless; NaN if either clip is uniform);
    ``colour_histogram``
        total-variation distance ``½ Σ |p − q|`` between the histograms of
        each colour channel, averaged over R, G and B (in [0, 1]; luma
        histograms when either video is grey: the base class then gives
        both as luma).

    Parameters
    ----------
    bins : int
        Histogram bins per channel (default 32).
    """

    name = "pixels"

    bins: Annotated[int, Range(ge=2)] = 32

    def compare(self, generated: Video, target: Video) -> dict[str, float]:
        a, b = pixel_statistics(generated, self.bins), pixel_statistics(target, self.bins)
        return {
            "mean_luminance": abs(a.mean_luminance - b.mean_luminance),
            "rms_contrast": abs(a.rms_contrast - b.rms_contrast),
            "kurtosis": abs(a.kurtosis - b.kurtosis),
            "colour_histogram": float(np.mean([total_variation_distance(p, q) for p, q in zip(a.histograms, b.histograms)])),
        }
