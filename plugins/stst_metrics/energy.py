"""Oriented spacetime energy: how a video's local structure distributes over directions in space-time.

After Derpanis & Wildes (2012), *Spacetime texture representation and
recognition based on a spatiotemporal orientation analysis* (IEEE TPAMI 34),
with second-derivative-of-Gaussian filters steered in three dimensions.

The luma video ``g(t, y, x)`` is filtered with the six separable second
derivatives ``G_ij`` (``i, j ∈ {x, y, t}``) of an isotropic 3-D Gaussian of
standard deviation ``sigma`` (pixels and frames alike), keeping only positions
where the filters fit inside the clip (no padding: padding by reflection would
reverse motion at the borders). The second derivative along any unit
direction ``n`` is then exact ("steering"): ``R_n = Σ_ij n_i n_j G_ij * g``. It
responds to spatiotemporal frequencies along ``n``; a pattern moving at
velocity ``v`` has its spectrum on the plane ``f_t = −v·f_s``, so

- ``n ∝ (cos ψ, sin ψ, −s)`` prefers motion along ψ at ``s`` px/frame
  (one direction every 360°/``directions``, for each speed in ``speeds``);
- ``n = (cos θ, sin θ, 0)`` prefers static structure of orientation θ
  (four orientations, every 45°);
- ``n = (0, 0, 1)`` prefers flicker.

The energies ``E_n = R_n²`` are averaged locally (Gaussian of ``pool`` px and
1 frame) and normalised at every position, with a constant ``ε`` that stands
for "no oriented structure here" (Derpanis & Wildes' unstructured channel)::

    ê_n(p) = E_n(p) / (Σ_m E_m(p) + ε),      ê_ε(p) = ε / (Σ_m E_m(p) + ε)

``ε`` is ``epsilon`` times the mean total energy of the **target**, for both
videos, so that flat, structureless regions count as such in both. The
distribution of a video is the mean of ``ê`` over all positions; it sums to 1.
This is done at ``levels`` spatial scales (a Gaussian pyramid, each level half
the size of the previous: the same filters then prefer twice the speed in
pixels of the original).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from scipy import ndimage

from stst_core import ConfigError, Metric, Range, Video

from .common import Count, luma, total_variation_distance

Positive = Annotated[float, Range(gt=0)]

AXES = {"t": 0, "y": 1, "x": 2}


def gaussian_derivative_kernels(sigma: float, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled 1-D Gaussian and its first and second derivatives on ``−radius…radius`` (as correlation kernels).

    Normalised so that, on samples, the smoothing kernel sums to 1, the first
    derivative returns 1 on the ramp ``x`` and the second derivative 1 on
    ``x²/2`` and 0 on a constant: a short (truncated) kernel keeps exact
    derivatives of low-order polynomials.
    """
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g0 = np.exp(-0.5 * (x / sigma) ** 2)
    g0 /= g0.sum()
    g1 = x * g0
    g1 /= (g1 * x).sum()
    g2 = (x**2 / sigma**4 - 1 / sigma**2) * g0
    g2 -= g0 * g2.sum()  # zero response to a constant
    g2 /= (g2 * x**2 / 2).sum()
    return g0, g1, g2


@dataclass(frozen=True)
class Direction:
    """One steering direction: what it prefers, and its unit vector ``(n_x, n_y, n_t)``."""

    kind: str  # "static", "motion" or "flicker"
    angle: float  # degrees: orientation (static) or direction of motion (motion), image coordinates
    speed: float  # px/frame at pyramid level 0
    vector: tuple[float, float, float]

    @property
    def label(self) -> str:
        if self.kind == "motion":
            return f"motion {self.angle:g}° at {self.speed:g} px/frame"
        return f"static {self.angle:g}°" if self.kind == "static" else "flicker"


def steering_directions(directions: int = 8, speeds: tuple[float, ...] = (0.5, 1.5)) -> list[Direction]:
    """Four static orientations, ``directions`` motion directions per speed, and flicker."""
    found = []
    for angle in (0.0, 45.0, 90.0, 135.0):
        a = math.radians(angle)
        found.append(Direction("static", angle, 0.0, (math.cos(a), math.sin(a), 0.0)))
    for speed, k in itertools.product(speeds, range(directions)):
        angle = k * 360.0 / directions
        a = math.radians(angle)
        norm = math.hypot(1.0, speed)
        found.append(Direction("motion", angle, float(speed), (math.cos(a) / norm, math.sin(a) / norm, -speed / norm)))
    found.append(Direction("flicker", 0.0, 0.0, (0.0, 0.0, 1.0)))
    return found


def _pyramid(g: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` spatial scales of ``(T, H, W)``: blur by σ = 1 px, then keep every second row and column."""
    out = [g]
    for _ in range(levels - 1):
        blurred = ndimage.gaussian_filter(out[-1], sigma=(0, 1.0, 1.0), mode="nearest")
        out.append(blurred[:, ::2, ::2])
    return out


def oriented_energies(g: np.ndarray, directions: list[Direction], *, sigma: float = 1.0, pool: float = 2.0) -> np.ndarray:
    """Locally pooled energies ``(K, T', H', W')`` of ``(T, H, W)`` along each direction (valid positions only)."""
    radius = max(1, math.ceil(2 * sigma))
    if min(g.shape) < 2 * radius + 1:
        raise ValueError(f"needs at least {2 * radius + 1} frames and pixels per side, got {g.shape}")
    kernels = gaussian_derivative_kernels(sigma, radius)
    crop = tuple(slice(radius, n - radius) for n in g.shape)

    def filtered(orders: dict[str, int]) -> np.ndarray:
        out = g
        for axis, index in AXES.items():
            out = ndimage.correlate1d(out, kernels[orders.get(axis, 0)], axis=index, mode="nearest")
        return out[crop]

    pairs = [("x", "x"), ("y", "y"), ("t", "t"), ("x", "y"), ("x", "t"), ("y", "t")]
    basis = {}
    for a, b in pairs:
        orders = {a: 2} if a == b else {a: 1, b: 1}
        basis[(a, b)] = filtered(orders)
    energies = []
    for direction in directions:
        n = dict(zip("xyt", direction.vector))
        response = sum((1 if a == b else 2) * n[a] * n[b] * basis[(a, b)] for a, b in pairs)
        energies.append(ndimage.gaussian_filter(response**2, sigma=(1.0, pool, pool), mode="nearest"))
    return np.stack(energies)


def energy_distributions(video: Video, epsilons=None, *, directions=8, speeds=(0.5, 1.5), levels=2, sigma=1.0, pool=2.0, epsilon=0.1):
    """Per pyramid level: the mean normalised distribution over directions (last entry: unstructured), and ε.

    ``epsilons`` (one per level) fixes ε; by default it is ``epsilon`` times
    this video's own mean total energy (what the target uses).
    """
    steering = steering_directions(directions, tuple(speeds))
    distributions, used = [], []
    for level, g in enumerate(_pyramid(luma(video), levels)):
        energies = oriented_energies(g, steering, sigma=sigma, pool=pool)
        total = energies.sum(axis=0)
        eps = epsilon * float(total.mean()) if epsilons is None else float(epsilons[level])
        eps = max(eps, 1e-20)  # a blank target: everything is unstructured
        normaliser = total + eps
        distribution = np.append((energies / normaliser).mean(axis=(1, 2, 3)), (eps / normaliser).mean())
        distributions.append(distribution)
        used.append(eps)
    return distributions, used, steering


class OrientedEnergyDistance(Metric):
    """Distance between the distributions of local oriented spacetime energy over directions (3-D Gaussian derivatives).

    Returns a dict:

    ``distribution``
        total-variation distance ``½ Σ_n |D_n(generated) − D_n(target)|``
        between the distributions over directions (unstructured share
        included), averaged over pyramid levels; in [0, 1]: the share of
        local energy that sits in other directions. 0 for identical videos.
    ``unstructured``
        the difference in the share of positions without oriented structure
        (``|ê_ε(generated) − ê_ε(target)|``, averaged over levels).

    Parameters
    ----------
    directions : int
        Directions of motion per speed (default 8: every 45°).
    speeds : list of float
        Preferred speeds in px/frame at full resolution (default 0.5, 1.5).
    levels : int
        Spatial pyramid levels (default 2).
    sigma : float
        Standard deviation of the Gaussian in pixels and frames (default 1;
        the filters span ``2·⌈2σ⌉ + 1`` frames, the fewest a clip may have).
    pool : float
        Standard deviation in pixels of the local averaging of energies.
    epsilon : float
        The unstructured constant as a fraction of the target's mean energy.
    """

    name = "oriented_energy"

    directions: Count = 8
    speeds: tuple[Positive, ...] = (0.5, 1.5)
    levels: Count = 2
    sigma: Positive = 1.0
    pool: Positive = 2.0
    epsilon: Positive = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.speeds:
            raise ConfigError("metric 'oriented_energy': speeds must name at least one speed (px/frame), e.g. [0.5, 1.5]")

    @property
    def min_frames(self) -> int:
        return 2 * max(1, math.ceil(2 * self.sigma)) + 1

    def compare(self, generated: Video, target: Video) -> dict[str, float]:
        smallest = min(target.height, target.width) // 2 ** (self.levels - 1)
        if smallest < self.min_frames:
            raise ConfigError(
                f"oriented_energy: frames of {target.height}x{target.width} are too small for {self.levels} "
                "pyramid levels; use fewer levels (--option oriented_energy.levels=1) or larger frames"
            )
        target_distributions, epsilons, _ = energy_distributions(target, **self.settings)
        generated_distributions, _, _ = energy_distributions(generated, epsilons, **self.settings)
        pairs = list(zip(generated_distributions, target_distributions))
        return {
            "distribution": float(np.mean([total_variation_distance(a, b) for a, b in pairs])),
            "unstructured": float(np.mean([abs(a[-1] - b[-1]) for a, b in pairs])),
        }
