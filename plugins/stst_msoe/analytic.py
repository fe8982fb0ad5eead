"""Analytic MSOE weights: oriented spatiotemporal Gaussian-derivative filters, no file needed.

The 32 first-layer filters are 16 quadrature pairs of Freeman & Adelson's
second-derivative-of-Gaussian filter ``G2`` and its Hilbert pair ``H2``, laid
out in space-time over the two frames (t = -½ for the previous frame, +½ for
the current one) along a moving coordinate ``p - v·t``:

- 12 *motion* pairs, directions every 30° (0° = rightward, 90° = downward, in
  image coordinates), tuned to ``SPEED`` px/frame: a quarter of the preferred
  spatial period per frame, where a motion-energy unit is most direction
  selective (Adelson & Bergen 1985);
- 4 *static* pairs (v = 0) at orientations 0°, 45°, 90°, 135°.

Each filter is zero-mean with unit L2 norm, so squaring gives phase-sensitive
energies of equal gain. The pyramid makes the same filters see speeds of
``SPEED·2^s`` px/frame at level s.

The 1×1 layer combines the 32 squared responses into 64 channels:
0–15 the phase-invariant oriented energies ``G2² + H2²`` (motion pairs first,
then static), 16–47 the 32 squared responses themselves, 48–63 each oriented
energy minus the mean of the 16 (which orientation dominates). The L1
normalisation of the network then turns these into a distribution over
orientations, as in Derpanis & Wildes' spacetime-energy representations.

There is no analytic flow decoder: the ``flow`` layer needs trained weights.
"""

from __future__ import annotations

import math

import torch

from .network import CHANNELS, FILTERS, KERNEL

SPEED = 1.5  # px/frame at pyramid level 0
PERIOD = 4 * SPEED  # preferred spatial period (px): a quarter cycle per frame
MOTION_DIRECTIONS = tuple(range(0, 360, 30))  # degrees, image coordinates (y down)
STATIC_ORIENTATIONS = (0, 45, 90, 135)


def _g2_h2(p: torch.Tensor, q: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Freeman & Adelson's G2/H2 pair along coordinate p, isotropic envelope."""
    u, w = p / scale, q / scale
    envelope = torch.exp(-(u * u + w * w))
    g2 = 0.9213 * (2 * u * u - 1) * envelope
    h2 = 0.9780 * (-2.254 * u + u**3) * envelope
    return g2, h2


def quadrature_filters() -> tuple[torch.Tensor, list[dict]]:
    """The 32 filters ``(32, 2, 11, 11)`` (frames as input channels) and a description of each pair."""
    # G2's peak frequency is 1/(π·scale) cycles/px: choose scale for the preferred period
    scale = PERIOD / math.pi
    half = KERNEL // 2
    y, x = torch.meshgrid(torch.arange(-half, half + 1.0), torch.arange(-half, half + 1.0), indexing="ij")
    tunings = [{"kind": "motion", "direction": d, "speed": SPEED} for d in MOTION_DIRECTIONS]
    tunings += [{"kind": "static", "direction": o, "speed": 0.0} for o in STATIC_ORIENTATIONS]
    filters = []
    for tuning in tunings:
        theta = math.radians(tuning["direction"])
        p = x * math.cos(theta) + y * math.sin(theta)
        q = -x * math.sin(theta) + y * math.cos(theta)
        frames_even, frames_odd = [], []
        for t in (-0.5, 0.5):
            g2, h2 = _g2_h2(p - tuning["speed"] * t, q, scale)
            frames_even.append(g2)
            frames_odd.append(h2)
        for frames in (frames_even, frames_odd):
            kernel = torch.stack(frames)
            kernel = kernel - kernel.mean()
            filters.append(kernel / kernel.norm())
    return torch.stack(filters), tunings


def combination_weights() -> torch.Tensor:
    """The 1×1 layer ``(64, 32)``: pair energies, squared responses, energies against their mean."""
    pairs = FILTERS // 2
    weights = torch.zeros(CHANNELS, FILTERS)
    for k in range(pairs):
        weights[k, 2 * k] = weights[k, 2 * k + 1] = 1.0
    weights[pairs : pairs + FILTERS] = torch.eye(FILTERS)
    energies = weights[:pairs]
    weights[pairs + FILTERS :] = energies - energies.mean(dim=0, keepdim=True)
    return weights


def analytic_state_dict() -> dict[str, torch.Tensor]:
    """Weights for :class:`~stst_msoe.network.MSOENet`'s oriented-energy layers (no decoder)."""
    filters, _ = quadrature_filters()
    return {
        "conv1.weight": filters,
        "conv1.bias": torch.zeros(FILTERS),
        "conv2.weight": combination_weights()[:, :, None, None],
        "conv2.bias": torch.zeros(CHANNELS),
    }
