"""Colour transfer after each generated frame: IDT followed by regrain.

STST (Greco & Siegel 2024) recolours every synthesised frame with the colour
distribution of a reference, using the two steps of Pitié et al.:

1. **Iterative distribution transfer** (IDT; Pitié, Kokaram & Dahyot,
   "N-dimensional probability density function transfer and its application
   to colour transfer", ICCV 2005 / CVIU 2007). The RGB pixels of the image
   and of the reference are two point clouds in ``[0, 1]³``. For each rotation
   ``R`` of a fixed set, both clouds are projected on the three rows of ``R``
   and every projected axis of the image is remapped so that its 1-D
   distribution matches the reference's on that axis
   (``x ← x + Rᵀ(T(Rx) − Rx)``, step size 1). Repeating over rotations that
   cover the sphere of directions drives the whole 3-D distribution towards
   the reference's; the first rotation is the identity, so the RGB marginals
   are matched first. See :func:`distribution_transfer`.

2. **Regrain** (Pitié, Kokaram & Dahyot, "Automated colour grading using
   colour distribution transfer", CVIU 2007). IDT can stretch the colour
   distribution and exaggerate grain; regrain solves, coarse to fine, for an
   image whose gradients are those of the input while its colours follow the
   IDT result where the input has texture. See :func:`regrain`: it is the
   author's current MATLAB ``regrain.m``, which the STST reference ports.

:func:`color_transfer` applies both: ``regrain(image, distribution_transfer(image, reference))``.

With ``mapping="reference"`` the 1-D transfers are the STST reference's
(``Color_Transfer.py``) and the whole transfer is the reference's; the
default ``"exact"`` is the toolkit's (see :func:`distribution_transfer`).

Images are ``(3, H, W)`` floating tensors in ``[0, 1]``; image and reference
may differ in size. Results are ``(3, H, W)`` float32 in ``[0, 1]`` on the
image's device. Everything is computed in float64 and is deterministic: the
same input gives a bit-identical output.

The module depends on torch and numpy only.

References: F. Pitié, A. Kokaram, R. Dahyot, "Automated colour grading
using colour distribution transfer", CVIU 107 (2007); frcs/colour-transfer
(the author's MATLAB); antoninogreco/STST ``Color_Transfer.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MAPPINGS", "color_transfer", "distribution_transfer", "regrain", "transfer_rotations"]

BINS = 300  # histogram bins of each 1-D transfer
RANGE_EPS = 1e-6  # the joint range of a 1-D transfer is [min - eps, max + eps]
REGRAIN_ITERATIONS = (4, 16, 32, 64, 64, 64)  # per level, level 0 = finest (Pitié's regrain.m since a8cbd58; the STST reference)
REGRAIN_MIN_SIZE = 20  # recurse while both half dimensions are > this
REGRAIN_RHO = 1 / 5  # relaxation of the regrain iterations
REGRAIN_EPS = 1e-6  # added to the regrain denominator

MAPPINGS = ("exact", "reference")  # the 1-D transfers of distribution_transfer

# Pitié, Kokaram & Dahyot (2007)'s six "optimal" rotations (three of them reflections), to
# the six decimals they are printed with (orthogonal to about 1e-6) and used as such by the STST reference
PITIE_ROTATIONS = (
    ((1.000000, 0.000000, 0.000000), (0.000000, 1.000000, 0.000000), (0.000000, 0.000000, 1.000000)),
    ((0.333333, 0.666667, 0.666667), (0.666667, 0.333333, -0.666667), (-0.666667, 0.666667, -0.333333)),
    ((0.577350, 0.211297, 0.788682), (-0.577350, 0.788668, 0.211352), (0.577350, 0.577370, -0.577330)),
    ((0.577350, 0.408273, 0.707092), (-0.577350, -0.408224, 0.707121), (0.577350, -0.816497, 0.000029)),
    ((0.332572, 0.910758, 0.244778), (-0.910887, 0.242977, 0.333536), (-0.244295, 0.333890, -0.910405)),
    ((0.243799, 0.910726, 0.333376), (0.910699, -0.333174, 0.244177), (-0.333450, -0.244075, 0.910625)),
)


# --------------------------------------------------------------------------- helpers


def _check_image(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (3, H, W), got {type(x).__name__}")
    if x.ndim != 3 or x.shape[0] != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"{name} must have shape (3, H, W) with H, W >= 1, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (values in [0, 1]), got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


def transfer_rotations() -> torch.Tensor:
    """The six rotations of :func:`distribution_transfer`: Pitié et al.'s (2007), as ``(6, 3, 3)`` float64.

    Each matrix's three rows are the projection axes of one IDT step;
    ``R[0]`` is the identity (the R, G and B axes); three of the others are
    reflections (determinant −1), which IDT does not mind. They are the
    printed values, orthogonal to about 1e-6, and ``Rᵀ`` serves as the
    inverse, as in the reference.
    """
    return torch.tensor(PITIE_ROTATIONS, dtype=torch.float64)


# --------------------------------------------------------------------------- IDT


def _cdfs(values: torch.Tensor, low: torch.Tensor, width: torch.Tensor, bins: int) -> torch.Tensor:
    """Cumulative histograms ``(D, bins + 1)`` of each row of ``values`` ``(D, N)``.

    Row ``d`` has ``bins`` equal bins starting at ``low[d]`` of width
    ``width[d]``; entry ``k`` is the fraction of values below the bin edge
    ``low + k·width`` (0 at the first edge, exactly 1 at the last). Same as
    a ``torch.histc`` per row followed by ``torch.cumsum``, in one call.
    """
    rows = values.shape[0]
    index = ((values - low[:, None]) / width[:, None]).floor().clamp_(0, bins - 1).long()
    index += torch.arange(rows, device=values.device)[:, None] * bins
    counts = torch.bincount(index.reshape(-1), minlength=rows * bins).reshape(rows, bins).double()
    cdf = torch.cat([counts.new_zeros(rows, 1), counts.cumsum(1)], dim=1)
    return cdf / cdf[:, -1:]


def _inverse_cdf(cdf: torch.Tensor, p: torch.Tensor, *, upper: bool) -> torch.Tensor:
    """Inverse of the piecewise-linear CDFs ``cdf`` ``(D, K + 1)`` at ``p`` ``(D, L)``, in bin units.

    ``cdf`` rises from 0 to 1 over the edges ``0..K``. Where it is flat at
    level ``p`` (empty bins) the inverse is an interval: ``upper=True`` gives
    its upper end (the last edge with ``cdf ≤ p``; for the start of an input
    bin), ``upper=False`` its lower end (the first edge with ``cdf ≥ p``; for
    the end of an input bin). So ``p = 0`` goes to the bottom of the
    support and ``p = 1`` to its top, never to the empty ends of the range.
    """
    bins = cdf.shape[1] - 1
    right = torch.searchsorted(cdf, p, right=True)  # first edge with cdf > p
    left = torch.searchsorted(cdf, p)  # first edge with cdf >= p
    # with this choice, cdf[j - 1] < cdf[j] always: no division by zero
    j = torch.where(p < 1, right, left) if upper else torch.where(p > 0, left, right)
    j = j.clamp_(1, bins)
    c_lo, c_hi = cdf.gather(1, j - 1), cdf.gather(1, j)
    return (j - 1) + (p - c_lo) / (c_hi - c_lo)


def _transfer_1d(x: torch.Tensor, y: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """Map each row of ``x`` ``(D, N)`` so its 1-D distribution matches that row of ``y`` ``(D, M)``.

    For each row: the joint range ``[lo, hi] = [min(x, y) − ε, max(x, y) + ε]``
    (ε = 1e-6) is cut into ``bins`` equal bins with edges
    ``e_k = lo + k·w``, ``w = (hi − lo)/bins``, ``k = 0..bins``. The
    cumulative histograms ``P_x(e_k)``, ``P_y(e_k)`` (normalised to 1) define
    piecewise-linear CDFs, and the transfer function is

    ``T = P_y⁻¹ ∘ P_x``,

    the inverse reference CDF (``searchsorted`` + linear interpolation)
    evaluated at the input CDF of the bin edges. A value ``x`` in bin ``k``
    is mapped by linear interpolation between ``T(e_k)`` and ``T(e_{k+1})``,
    i.e. the input's quantiles ``(P_x(e_k), P_x(e_{k+1})]`` go onto the same
    quantiles of the reference. Where ``P_y`` is flat (empty reference
    bins) ``T(e_k)`` takes the upper end of the flat stretch and
    ``T(e_{k+1})`` its lower end (see ``_inverse_cdf``), so no value is sent
    into an empty gap or to an empty end of the range, and a transfer of a
    sample onto itself is the identity. Computed in the dtype of the input
    (float64 from the callers).
    """
    low = torch.minimum(x.amin(1), y.amin(1)) - RANGE_EPS
    high = torch.maximum(x.amax(1), y.amax(1)) + RANGE_EPS
    width = (high - low) / bins
    px = _cdfs(x, low, width, bins)
    py = _cdfs(y, low, width, bins)
    # transfer function at the bin edges, in units of bins from `low`
    t_start = _inverse_cdf(py, px, upper=True)  # as the lower end of a bin
    t_end = _inverse_cdf(py, px, upper=False)  # as the upper end of a bin
    # map the values through it
    position = (x - low[:, None]) / width[:, None]
    left = position.floor().clamp_(0, bins - 1)
    frac = position - left
    left = left.long()
    a, b = t_start.gather(1, left), t_end.gather(1, left + 1)
    return low[:, None] + (a + frac * (b - a)) * width[:, None]


def _transfer_1d_left_edges(x: torch.Tensor, y: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """The STST reference's 1-D transfer of each row of ``x`` onto that row of ``y`` (``Color_Transfer._pdf_transfer_1d``).

    The same bins as :func:`_transfer_1d`, but the transfer function is
    tabulated at the bins' *left* edges ``e_0 … e_{bins−1}``, each paired with
    the cumulative count *up to its right* edge: ``T(e_k) = P_y⁻¹(P_x(e_{k+1}))``
    (``np.interp`` over the cumulative reference counts, flat stretches
    included), ``T = lo`` where ``P_x(e_{k+1}) ≤ P_y(e_1)`` and ``hi`` where
    ``P_x(e_{k+1}) ≥ 1``; a value is then interpolated linearly between the
    left edges. The pairing shifts the mapping by up to one bin: a sample
    transferred onto itself moves by up to ``(hi − lo)/bins``. Kept to
    reproduce the reference; computed with NumPy in float64, on the CPU.
    """
    device = x.device
    xs, ys = x.detach().cpu().double().numpy(), y.detach().cpu().double().numpy()
    out = np.empty_like(xs)
    for row, (a, b) in enumerate(zip(xs, ys)):
        low = min(a.min(), b.min()) - RANGE_EPS
        high = max(a.max(), b.max()) + RANGE_EPS
        edges = low + (high - low) * np.arange(bins + 1) / bins
        cum_a, cum_b = np.cumsum(np.histogram(a, edges)[0]), np.cumsum(np.histogram(b, edges)[0])
        pa, pb = cum_a / cum_a[-1], cum_b / cum_b[-1]
        left = edges[:-1]
        table = np.interp(pa, pb, left)
        table[pa <= pb[0]] = low
        table[pa >= pb[-1]] = high
        out[row] = np.interp(a, left, table)
    return torch.from_numpy(out).to(device)


def distribution_transfer(
    image: torch.Tensor, reference: torch.Tensor, *, bins: int = BINS, rotations: torch.Tensor | None = None, mapping: str = "exact"
) -> torch.Tensor:
    """Iterative distribution transfer (IDT) of the image's colours onto the reference's.

    Parameters
    ----------
    image : torch.Tensor
        ``(3, H, W)`` floating, values in ``[0, 1]``.
    reference : torch.Tensor
        ``(3, H', W')`` floating, values in ``[0, 1]``; its size may differ
        from the image's. Moved to the image's device.
    bins : int
        Histogram bins of each 1-D transfer (300).
    rotations : torch.Tensor, optional
        ``(K, 3, 3)`` orthogonal matrices, applied in order; default
        :func:`transfer_rotations` (Pitié's 6 rotations, the first the identity).
    mapping : {"exact", "reference"}
        The 1-D transfer: ``"exact"`` maps the input's quantiles onto the
        same quantiles of the reference (``_transfer_1d``; a sample onto
        itself is left as it is); ``"reference"`` is the STST reference's
        (``_transfer_1d_left_edges``), up to one bin off.

    Returns
    -------
    torch.Tensor
        ``(3, H, W)`` float32 in ``[0, 1]`` on the image's device.

    Notes
    -----
    With ``x`` the image's pixels and ``y`` the reference's, as ``(3, N)``
    float64 columns, for each rotation ``R``::

        x ← x + Rᵀ (T_R(R x) − R x)

    where ``T_R`` transfers each row of ``R x`` onto the matching row of
    ``R y`` by CDF matching (see ``_transfer_1d``): histograms of ``bins``
    bins over the joint range ``[min − 1e-6, max + 1e-6]`` of the two
    projected samples, ``T = P_y⁻¹ ∘ P_x`` with linear interpolation. The
    result is clipped to ``[0, 1]``.

    With ``mapping="reference"`` and the default rotations this is the STST
    reference's ``ColorTransfer.pdf_tranfer``: on the four golden frame pairs
    of the test suite their float32 outputs are equal, bit for bit. The
    reference's mapping moves a frame transferred onto itself (by up to
    0.011–0.025 on those frames, a mean of 2e-4–9e-4); the exact one leaves
    it as it is, and matches the marginals as closely (Wasserstein distance
    to the reference's RGB marginals 0.0041–0.0088 against 0.0043–0.0092).
    """
    _check_image(image, "image")
    _check_image(reference, "reference")
    if int(bins) < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
    transfer = _transfer_1d if mapping == "exact" else _transfer_1d_left_edges
    device = image.device
    if rotations is None:
        rotations = transfer_rotations()
    rotations = torch.as_tensor(rotations)
    if rotations.ndim != 3 or rotations.shape[1:] != (3, 3):
        raise ValueError(f"rotations must have shape (K, 3, 3), got {tuple(rotations.shape)}")
    rotations = rotations.to(device=device, dtype=torch.float64)
    x = image.detach().reshape(3, -1).to(torch.float64)
    y = reference.detach().to(device).reshape(3, -1).to(torch.float64)
    for rotation in rotations:
        x_rot = rotation @ x
        x = x + rotation.T @ (transfer(x_rot, rotation @ y, int(bins)) - x_rot)
    return x.clamp_(0, 1).reshape(image.shape).to(torch.float32)


# --------------------------------------------------------------------------- regrain


def _neighbours(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``a`` ``(C, H, W)`` as seen from each pixel's right, down, left and up neighbour.

    Borders are replicated: the right neighbour of the last column is itself.
    """
    padded = F.pad(a[None], (1, 1, 1, 1), mode="replicate")[0]
    return padded[:, 1:-1, 2:], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2], padded[:, :-2, 1:-1]


def _regrain_solve(out: torch.Tensor, image: torch.Tensor, colour: torch.Tensor, iterations: int, smoothness: float, level: int) -> torch.Tensor:
    """The Jacobi iterations of one level (see :func:`regrain`)."""
    right, down, left, up = _neighbours(image)
    gradient = ((right - left) ** 2 + (down - up) ** 2).sum(0, keepdim=True).sqrt()  # central differences, [0, 1] units
    psi = (256 * gradient / 5).clamp(max=1)
    phi = 30 * 2.0**-level / (1 + 10 * gradient / smoothness)
    phis = [(p + phi) / 2 for p in _neighbours(phi)]  # right, down, left, up
    # out = (psi·C + Σ phi_k·(out_k − I_k + I)) / (psi + Σ phi_k + eps)·(1 − rho) + rho·out
    # with the parts that do not depend on `out` computed once
    constant = psi * colour + sum(p * (image - n) for p, n in zip(phis, (right, down, left, up)))
    scale = (1 - REGRAIN_RHO) / (psi + sum(phis) + REGRAIN_EPS)
    for _ in range(iterations):
        gathered = sum(p * n for p, n in zip(phis, _neighbours(out)))
        out = (constant + gathered) * scale + REGRAIN_RHO * out
    return out


def _resize(a: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(a[None], size=size, mode="bilinear", align_corners=False)[0]


def _regrain_rec(out: torch.Tensor, image: torch.Tensor, colour: torch.Tensor, iterations: Sequence[int], smoothness: float, level: int = 0) -> torch.Tensor:
    height, width = image.shape[1:]
    half = (math.ceil(height / 2), math.ceil(width / 2))
    if len(iterations) > 1 and half[0] > REGRAIN_MIN_SIZE and half[1] > REGRAIN_MIN_SIZE:
        coarse = _regrain_rec(_resize(out, half), _resize(image, half), _resize(colour, half), iterations[1:], smoothness, level + 1)
        out = _resize(coarse, (height, width))
    return _regrain_solve(out, image, colour, iterations[0], smoothness, level)


def regrain(image: torch.Tensor, colour: torch.Tensor, *, smoothness: float = 1.0, iterations: Sequence[int] = REGRAIN_ITERATIONS) -> torch.Tensor:
    """Pitié's regrain: the gradients (grain) of ``image`` with the colours of ``colour``.

    Parameters
    ----------
    image : torch.Tensor
        ``(3, H, W)`` floating in ``[0, 1]``: the input image ``I`` (the
        generated frame), whose gradients are kept.
    colour : torch.Tensor
        ``(3, H, W)`` floating in ``[0, 1]``: the colour image ``C`` (the
        IDT result), same size as ``image``.
    smoothness : float
        Smoothness weight (1).
    iterations : sequence of int
        Iterations per level, level 0 the finest: ``(4, 16, 32, 64, 64, 64)``.
        Its length bounds the number of levels.

    Returns
    -------
    torch.Tensor
        ``(3, H, W)`` float32 in ``[0, 1]`` on the image's device.

    Notes
    -----
    This is the author's MATLAB ``regrain.m`` (frcs/colour-transfer, as
    revised in a8cbd58, "fixed regrain to better match original papers"),
    which the STST reference ports line for line. Coarse to fine: the output
    ``O`` starts as ``I``; while there are levels left and both half
    dimensions ``ceil(H/2)``, ``ceil(W/2)`` are > 20, ``I``, ``C`` and ``O``
    are resized (bilinear, no antialiasing) to half size, solved there
    recursively, and the coarse ``O`` is resized back as the starting ``O``
    of the finer level. At level ``l`` (0 the finest), with the central
    differences of ``I`` in [0, 1] units (replicated borders)::

        δ     = sqrt(Σ_c (∂x I)² + (∂y I)²)
        ψ     = min(1, 256·δ/5)
        φ     = 30·2^−l / (1 + 10·δ/smoothness)
        φ_k   = (φ + φ_k-shifted)/2               k = right, down, left, up

    and ``iterations[l]`` times, with ρ = 1/5 and ``X_k`` the image seen from
    each pixel's neighbour ``k`` (replicated border)::

        O ← (ψ·C + Σ_k φ_k·(O_k − I_k + I)) / (ψ + Σ_k φ_k + 1e-6)·(1 − ρ) + ρ·O

    Where ``I`` has edges (large δ) ψ = 1 and φ is small, so ``O`` takes the
    colours of ``C``; in flat regions ψ → 0 and ``O`` keeps the differences
    ``O − O_k = I − I_k`` of the input, so the transfer adds no grain there.
    The result is clipped to ``[0, 1]``.
    """
    _check_image(image, "image")
    _check_image(colour, "colour")
    if colour.shape != image.shape:
        raise ValueError(f"colour must have the image's shape {tuple(image.shape)}, got {tuple(colour.shape)}")
    iterations = tuple(int(n) for n in iterations)
    if not iterations or min(iterations) < 0:
        raise ValueError(f"iterations must be a non-empty sequence of non-negative integers, got {iterations!r}")
    if not smoothness > 0:
        raise ValueError(f"smoothness must be positive, got {smoothness!r}")
    image64 = image.detach().to(torch.float64)
    colour64 = colour.detach().to(image.device, torch.float64)
    out = _regrain_rec(image64, image64, colour64, iterations, float(smoothness))
    return out.clamp_(0, 1).to(torch.float32)


# --------------------------------------------------------------------------- both


def color_transfer(image: torch.Tensor, reference: torch.Tensor, *, bins: int = BINS, mapping: str = "exact") -> torch.Tensor:
    """Recolour ``image`` with the colour distribution of ``reference``: IDT, then regrain.

    ``color_transfer(image, reference) = regrain(image, distribution_transfer(image, reference))``
    as STST applies it to each generated frame; with ``mapping="reference"``
    it is the STST reference's ``color_transfer``.

    Parameters
    ----------
    image : torch.Tensor
        ``(3, H, W)`` floating in ``[0, 1]``: the generated frame.
    reference : torch.Tensor
        ``(3, H', W')`` floating in ``[0, 1]``: the colour reference (any size).
    bins : int
        Histogram bins of the 1-D transfers (300).
    mapping : {"exact", "reference"}
        The 1-D transfer of :func:`distribution_transfer`.

    Returns
    -------
    torch.Tensor
        ``(3, H, W)`` float32 in ``[0, 1]`` on the image's device.
    """
    return regrain(image, distribution_transfer(image, reference, bins=bins, mapping=mapping))
