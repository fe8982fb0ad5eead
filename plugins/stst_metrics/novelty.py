"""Novelty: how close a generated video comes to copying its target, by nearest spatiotemporal patch correlation.

Patches of ``patch_frames × patch_size × patch_size`` luma pixels are taken
from the generated video on a grid (half a patch apart, at most
``max_patches`` of them, evenly spread). For each, the normalised
cross-correlation with **every** patch of the target at every position (in
space and time) is computed::

    ncc(w, p) = Σ (w − w̄)(p − p̄) / (‖w − w̄‖ · ‖p − p̄‖)

and its best match kept. Patches whose standard deviation is below
``min_std`` (flat sky, a blank wall) are skipped in the generated video and
never match in the target: any two flat patches would "match".

This is the one metric whose numbers grow with closeness: 1 means that the
patch occurs in the target exactly (up to brightness and contrast), values
near 0 that nothing like it does. Mirrored, rotated, rescaled or
time-reversed copies are not detected.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from stst_core import Metric, Range, Video

from .common import Count, luma


def _window_sums(x: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Sums of ``x`` over every window of ``shape`` that fits inside it (3-D summed-area table)."""
    c = np.pad(x, [(1, 0)] * 3).cumsum(0).cumsum(1).cumsum(2)
    a, b, d = shape
    return c[a:, b:, d:] - c[:-a, b:, d:] - c[a:, :-b, d:] - c[a:, b:, :-d] + c[:-a, :-b, d:] + c[:-a, b:, :-d] + c[a:, :-b, :-d] - c[:-a, :-b, :-d]


def _grid(length: int, size: int, step: int) -> np.ndarray:
    return np.arange(0, length - size + 1, step)


def best_patch_correlations(
    generated: np.ndarray, target: np.ndarray, *, patch=(4, 16, 16), min_std: float = 0.01, max_patches: int = 512, batch: int = 32
) -> np.ndarray:
    """For patches of ``generated`` ``(T, H, W)``, the best normalised cross-correlation with any patch of ``target``.

    Returns one value per contrast-bearing patch of ``generated``.
    """
    patch = tuple(min(p, g, t) for p, g, t in zip(patch, generated.shape, target.shape))
    size = int(np.prod(patch))
    step = tuple(max(1, p // 2) for p in patch)
    corners = np.stack(np.meshgrid(*(_grid(n, p, s) for n, p, s in zip(generated.shape, patch, step)), indexing="ij"), -1).reshape(-1, 3)
    if len(corners) > max_patches:
        corners = corners[np.linspace(0, len(corners) - 1, max_patches).round().astype(int)]
    templates = np.stack([generated[t : t + patch[0], y : y + patch[1], x : x + patch[2]] for t, y, x in corners])
    templates = templates - templates.mean(axis=(1, 2, 3), keepdims=True)
    norms = np.sqrt((templates**2).sum(axis=(1, 2, 3)))
    templates = templates[norms > min_std * np.sqrt(size)] / norms[norms > min_std * np.sqrt(size), None, None, None]
    if not len(templates):
        return np.array([])

    # the target's own mean is removed first: it changes no correlation and keeps the sums small
    x = target - target.mean()
    sums, squares = _window_sums(x, patch), _window_sums(x * x, patch)
    window_norms = np.sqrt(np.maximum(squares - sums**2 / size, 0.0))
    flat = window_norms <= min_std * np.sqrt(size)
    window_norms[flat] = np.inf  # a flat target patch matches nothing
    valid = tuple(slice(0, n) for n in window_norms.shape)
    spectrum = np.fft.rfftn(x)
    best = np.empty(len(templates))
    for start in range(0, len(templates), batch):
        chunk = templates[start : start + batch]
        # Σ_p w(p) x(p + s) for every shift s: circular, but only windows that fit are read
        kernels = np.fft.rfftn(chunk, s=x.shape, axes=(1, 2, 3))
        correlation = np.fft.irfftn(np.conj(kernels) * spectrum, s=x.shape, axes=(1, 2, 3))
        best[start : start + len(chunk)] = (correlation[(slice(None), *valid)] / window_norms).max(axis=(1, 2, 3))
    return np.clip(best, -1.0, 1.0)


class Novelty(Metric):
    """Closeness to a copy of the target: the best correlation of generated spatiotemporal patches with any target patch (1 = exact copy).

    Returns a dict (the exception among the metrics: **higher means closer to
    copying**, not more different):

    ``max``
        the highest best-match correlation of any generated patch: 1 if any
        part of the generated video is an exact copy of some part of the
        target (up to brightness and contrast);
    ``mean``
        the mean over generated patches of their best-match correlation: 1
        for a copy of the whole, lower the more novel the video is.

    Both are NaN when the generated video has no patch with contrast.

    Parameters
    ----------
    patch_frames, patch_size : int
        Patch extent in frames and pixels (default 4 and 16; clipped to the videos).
    min_std : float
        Patches of lower luma standard deviation are skipped (default 0.01).
    max_patches : int
        At most this many generated patches are matched (default 512).
    """

    name = "novelty"

    patch_frames: Count = 4
    patch_size: Count = 16
    min_std: Annotated[float, Range(ge=0)] = 0.01
    max_patches: Count = 512

    @property
    def patch(self) -> tuple[int, int, int]:
        return (self.patch_frames, self.patch_size, self.patch_size)

    def compare(self, generated: Video, target: Video) -> dict[str, float]:
        best = best_patch_correlations(luma(generated), luma(target), patch=self.patch, min_std=self.min_std, max_patches=self.max_patches)
        if not len(best):
            return {"max": float("nan"), "mean": float("nan")}
        return {"max": float(best.max()), "mean": float(best.mean())}
