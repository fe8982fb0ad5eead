"""Temporal autocorrelation: how alike frames stay as time passes.

Each luma frame is standardised to zero mean and unit variance over its
pixels, ``z_t = (g_t − mean(g_t)) / std(g_t)`` (a frame without contrast
becomes 0), and the curve is the mean Pearson correlation of frames ``τ``
apart::

    ρ(τ) = mean_t mean_p z_t(p) · z_{t+τ}(p),     τ = 0 … L

``ρ(0) = 1``; a static clip stays at 1, a clip whose frames are unrelated
drops to about 0 at ``τ = 1``. ``L`` is ``max_lag`` (default 16) or one less
than the shorter clip's frame count.
"""

from __future__ import annotations

import numpy as np

from stst_core import Metric, Video

from .common import Count, luma


def autocorrelation_curve(video: Video, max_lag: int | None = None) -> np.ndarray:
    """``ρ(τ)`` for ``τ = 0 … min(max_lag, T − 1)`` of the luma video."""
    g = luma(video)
    g = g - g.mean(axis=(1, 2), keepdims=True)
    std = g.std(axis=(1, 2), keepdims=True)
    z = np.divide(g, std, out=np.zeros_like(g), where=std > 1e-8)
    last = len(z) - 1 if max_lag is None else min(max_lag, len(z) - 1)
    return np.array([np.mean(z[: len(z) - lag] * z[lag:]) for lag in range(last + 1)])


class AutocorrelationDistance(Metric):
    """RMS difference between the temporal autocorrelation curves of the luma videos, over lags 1 … L.

    A number in [0, 2]: 0 when frames decorrelate over time as in the target;
    0.5 means the correlation between frames a given lag apart differs by 0.5
    on average (shuffling the frames of a smooth clip, say).

    Parameters
    ----------
    max_lag : int
        Longest lag in frames (default 16; at most the shorter clip's length − 1).
    """

    name = "autocorrelation"
    min_frames = 2

    max_lag: Count = 16

    def compare(self, generated: Video, target: Video) -> float:
        lag = min(self.max_lag, generated.num_frames - 1, target.num_frames - 1)
        a, b = autocorrelation_curve(generated, lag), autocorrelation_curve(target, lag)
        return float(np.sqrt(np.mean((a[1:] - b[1:]) ** 2)))
