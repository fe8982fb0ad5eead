"""Spatiotemporal power spectrum, binned by spatial frequency, temporal frequency and direction of motion.

The luma video ``g(t, y, x)`` minus its mean is Fourier transformed over all
three axes (no window: the transform is circular, which is also what phase
scrambling preserves), and each component's power ``P(f) = |G(f)|² / (T·H·W)``
is assigned to bins of

- **spatial frequency** ``f_s = √(f_x² + f_y²)`` in cycles/pixel: octave bins
  with upper edges ``0.5·2^(j−n)`` (``n = spatial_bins``); the lowest bin
  reaches down to 0 and the highest takes the corners up to ``√0.5``;
- **temporal frequency** ``|f_t|`` in cycles/frame (× fps for Hz): a bin of its
  own for static components (``f_t = 0``), then ``temporal_bins`` equal bins
  over ``(0, 0.5]``;
- **direction of motion**: a component ``(f_x, f_y, f_t)`` with ``f_t ≠ 0`` is a
  plane wave that moves along ``−sign(f_t)·(f_x, f_y)`` at ``|f_t| / f_s``
  pixels/frame; ``directions`` bins centred on 0° (rightward), 360°/n, …,
  counted clockwise on the screen (90° = downward, image coordinates).

Each bin holds the **mean** power of its components, so clips of different
lengths can be compared. Components with ``f_s = 0`` (global flicker) count
only in the temporal marginal; the mean (DC) is left out.
"""

from __future__ import annotations

import numpy as np

from stst_core import Metric, Video

from .common import Count, luma

FLOOR = 1e-10  # power floor inside the logarithm: far below the power of any visible structure (8-bit steps are ~1e-5²)


def frequency_grids(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(f_t, f_y, f_x)`` of every component of a ``(T, H, W)`` FFT, broadcastable, in cycles per frame/pixel."""
    t, h, w = shape
    return (
        np.fft.fftfreq(t)[:, None, None],
        np.fft.fftfreq(h)[None, :, None],
        np.fft.fftfreq(w)[None, None, :],
    )


def spatial_edges(spatial_bins: int) -> np.ndarray:
    """Octave bin edges in cycles/pixel: ``0, 0.5·2^(1−n), …, 0.25, √0.5``."""
    edges = 0.5 * 2.0 ** np.arange(-spatial_bins, 1, dtype=np.float64)
    edges[0], edges[-1] = 0.0, np.sqrt(0.5) + 1e-9
    return edges


def temporal_edges(temporal_bins: int) -> np.ndarray:
    """Edges of the moving bins ``(0, 0.5]`` in cycles/frame; static components have a bin of their own before these."""
    return np.linspace(0.0, 0.5, temporal_bins + 1)


def _bin_means(values: np.ndarray, index: np.ndarray, count: int) -> np.ndarray:
    """Mean of ``values`` per bin ``index`` (``-1``: not counted); NaN for empty bins."""
    keep = index >= 0
    sums = np.bincount(index[keep], weights=values[keep], minlength=count)
    counts = np.bincount(index[keep], minlength=count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def binned_power(video: Video, *, spatial_bins: int = 6, temporal_bins: int = 4, directions: int = 8) -> dict[str, np.ndarray]:
    """Mean power per bin of the luma video's 3-D spectrum.

    Returns
    -------
    dict
        ``spatial`` ``(spatial_bins,)``; ``temporal`` ``(1 + temporal_bins,)``
        (static first); ``joint`` ``(spatial_bins, 1 + temporal_bins)``;
        ``direction`` ``(directions,)``, bin k centred on ``k·360°/directions``;
        plus the bin edges and the bin centres of the directions (degrees).
        Empty bins are NaN.
    """
    g = luma(video)
    g = g - g.mean()
    power = np.abs(np.fft.fftn(g)) ** 2 / g.size
    ft, fy, fx = frequency_grids(g.shape)
    ft, fy, fx = np.broadcast_arrays(ft, fy, fx)
    fs = np.hypot(fx, fy)
    power, ft, fy, fx, fs = (a.ravel() for a in (power, ft, fy, fx, fs))

    s_edges, t_edges = spatial_edges(spatial_bins), temporal_edges(temporal_bins)
    has_space = fs > 0
    spatial_index = np.where(has_space, np.clip(np.searchsorted(s_edges, fs, side="left") - 1, 0, spatial_bins - 1), -1)
    moving = ft != 0
    # static components in bin 0, moving ones in 1..n by |f_t| with right-closed bins
    temporal_index = np.where(moving, np.clip(np.searchsorted(t_edges, np.abs(ft), side="left"), 1, temporal_bins), 0)
    temporal_index = np.where(has_space | moving, temporal_index, -1)  # leave out the DC component
    joint_index = np.where(has_space, spatial_index * (1 + temporal_bins) + temporal_index, -1)

    # a moving plane wave travels along −sign(f_t)·(f_x, f_y): image coordinates, y down
    step = 360.0 / directions
    angle = np.degrees(np.arctan2(-np.sign(ft) * fy, -np.sign(ft) * fx)) % 360.0
    direction_index = np.where(moving & has_space, np.round(angle / step).astype(int) % directions, -1)

    return {
        "spatial": _bin_means(power, spatial_index, spatial_bins),
        "temporal": _bin_means(power, temporal_index, 1 + temporal_bins),
        "joint": _bin_means(power, joint_index, spatial_bins * (1 + temporal_bins)).reshape(spatial_bins, 1 + temporal_bins),
        "direction": _bin_means(power, direction_index, directions),
        "spatial_edges": s_edges,
        "temporal_edges": t_edges,
        "direction_centres": np.arange(directions) * step,
    }


def log_power_distance(a: np.ndarray, b: np.ndarray, floor: float = FLOOR) -> float:
    """RMS of ``log10((a + floor) / (b + floor))`` over the bins that both have (decades of power)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return float("nan")
    return float(np.sqrt(np.mean(np.log10((a[both] + floor) / (b[both] + floor)) ** 2)))


class PowerSpectrumDistance(Metric):
    """Log-power distance of luma spatiotemporal power spectra, binned by spatial frequency, temporal frequency and direction.

    Returns a dict of RMS differences of ``log10`` mean power per bin, in
    decades (0 = identical binned spectra; 1 = ten times more or less power
    per bin on average):

    ``spatial``
        over the spatial-frequency bins (every temporal frequency);
    ``temporal``
        over the temporal-frequency bins (static bin included);
    ``joint``
        over the spatial × temporal frequency bins;
    ``direction``
        over the bins of direction of motion (moving components only): a
        video and its time reversal differ here and nowhere else.

    Parameters
    ----------
    spatial_bins, temporal_bins, directions : int
        Numbers of bins (see :mod:`stst_metrics.spectrum`).
    """

    name = "power_spectrum"
    min_frames = 2

    spatial_bins: Count = 6
    temporal_bins: Count = 4
    directions: Count = 8

    def compare(self, generated: Video, target: Video) -> dict[str, float]:
        a, b = binned_power(generated, **self.settings), binned_power(target, **self.settings)
        return {key: log_power_distance(a[key], b[key]) for key in ("spatial", "temporal", "joint", "direction")}
