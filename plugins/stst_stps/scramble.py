"""Spatiotemporal phase scrambling, and the mapping of its result into [0, 1].

For each colour channel ``x_c(t, y, x)`` with 3-D discrete Fourier transform
``X_c(f)``, the scrambled channel is::

    y_c = F⁻¹[ X_c(f) · exp(i φ(f)) ]

with one random phase field ``φ`` for all channels (or one per channel). ``φ``
is the phase of the Fourier transform of uniform white noise on the same
``(T, H, W)`` grid, so it is uniformly distributed and Hermitian-symmetric
(``φ(−f) = −φ(f)``): ``y_c`` is real, ``|Y_c(f)| = |X_c(f)|`` exactly, and the
mean (``f = 0``, where ``φ = 0``) is unchanged. Adding the *same* ``φ`` to every
channel keeps the phase differences between channels, so colour stays
attached to the same structure as in the original. The transform is
circular: the result loops in time and tiles in space.

The result overshoots [0, 1] (its values are close to Gaussian-distributed),
so it is mapped back (:func:`map_to_unit`), which changes the amplitude
spectrum; :func:`amplitude_change` measures by how much.
"""

from __future__ import annotations

import torch

from stst_core import ConfigError

MAPPINGS = ("clip", "scale", "iterate")


def phase_field(shape: tuple[int, int, int], generator: torch.Generator, device=None) -> torch.Tensor:
    """A random Hermitian-symmetric phase field in the half-spectrum layout of ``torch.fft.rfftn`` (float64 radians).

    The phase of the transform of uniform noise in [0, 1): uniform over
    (−π, π] except at the self-conjugate frequencies (0 or π there, as
    Hermitian symmetry requires) and exactly 0 at ``f = 0`` (the noise's sum
    is positive).
    """
    noise = torch.rand(shape, generator=generator, dtype=torch.float64)
    return torch.angle(torch.fft.rfftn(noise.to(device)))


def scramble_phase(frames: torch.Tensor, seed: int = 0, *, per_channel: bool = False, device=None) -> torch.Tensor:
    """The phase-scrambled video **before** any mapping into [0, 1]: real, float64, ``(C, T, H, W)``.

    Parameters
    ----------
    frames : torch.Tensor
        ``(C, T, H, W)`` (a :class:`~stst_core.Video`'s frames).
    seed : int
        Seed of the phase field(s): the same seed gives the same result.
    per_channel : bool
        An independent phase field per channel instead of one shared field.
    device : optional
        Where to compute the transforms (default: where ``frames`` are).

    Examples
    --------
    >>> video = torch.rand(3, 8, 16, 16)
    >>> out = scramble_phase(video, seed=1)
    >>> a, b = torch.fft.fftn(video.double(), dim=(1, 2, 3)), torch.fft.fftn(out, dim=(1, 2, 3))
    >>> bool(torch.allclose(a.abs(), b.abs()))
    True
    """
    if frames.ndim != 4:
        raise ConfigError(f"expected frames (C, T, H, W), got shape {tuple(frames.shape)}")
    device = device if device is not None else frames.device
    shape = tuple(frames.shape[1:])
    generator = torch.Generator().manual_seed(int(seed))
    shared = None if per_channel else phase_field(shape, generator, device)
    channels = []
    for channel in frames.to(device=device, dtype=torch.float64):
        phase = shared if shared is not None else phase_field(shape, generator, device)
        spectrum = torch.fft.rfftn(channel) * torch.polar(torch.ones_like(phase), phase)
        # the half spectrum of a real signal times a Hermitian field: irfftn's output is that signal, exactly real
        channels.append(torch.fft.irfftn(spectrum, s=shape))
    return torch.stack(channels)


def map_to_unit(scrambled: torch.Tensor, mapping: str = "clip", *, iterations: int = 50) -> tuple[torch.Tensor, dict[str, float]]:
    """Bring a scrambled video into [0, 1]; returns it (float32) and what the mapping did.

    ``"clip"``
        clips every value to [0, 1].
    ``"scale"``
        computes ``m_c + s·(y_c − m_c)`` with ``m_c`` each channel's mean and
        the largest ``s ≤ 1`` that fits every value, one ``s`` for all channels.
    ``"iterate"``
        clips, then ``iterations`` times restores the scrambled amplitude
        spectrum (keeping the current phases) and clips again, alternating
        projections in the manner of Gerchberg & Saxton: the result lies in
        [0, 1] and its amplitude spectrum comes closer to the scrambled one
        with every round, at the price of phases that are no longer exactly
        the random ones.

    Returns
    -------
    (torch.Tensor, dict)
        The mapped video and ``{"clipped_fraction": share of values outside
        [0, 1] before the (last) clipping, "contrast_scale": s (1 unless
        scaling)}``.
    """
    if mapping not in MAPPINGS:
        raise ConfigError(f"mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")
    if mapping in ("clip", "iterate"):
        current = scrambled
        if mapping == "iterate":
            amplitude = torch.fft.rfftn(scrambled, dim=(1, 2, 3)).abs()
            for _ in range(iterations):
                phase = torch.fft.rfftn(current.clamp(0, 1), dim=(1, 2, 3)).angle()
                current = torch.fft.irfftn(torch.polar(amplitude, phase), s=scrambled.shape[1:], dim=(1, 2, 3))
        outside = ((current < 0) | (current > 1)).double().mean().item()
        return current.clamp(0, 1).float(), {"clipped_fraction": outside, "contrast_scale": 1.0}
    mean = scrambled.mean(dim=(1, 2, 3), keepdim=True).clamp(0, 1)
    deviation = scrambled - mean
    # the largest s with 0 ≤ m + s·d ≤ 1 for every value
    room = torch.where(deviation > 0, (1 - mean) / deviation.clamp_min(1e-30), mean / (-deviation).clamp_min(1e-30))
    scale = min(1.0, room.min().item())
    return (mean + scale * deviation).clamp(0, 1).float(), {"clipped_fraction": 0.0, "contrast_scale": scale}


def amplitude_change(before: torch.Tensor, after: torch.Tensor) -> float:
    """Relative change of the amplitude spectrum, mean excluded: ``‖ |A(f)| − |B(f)| ‖₂ / ‖ |B(f)| ‖₂`` over ``f ≠ 0``.

    ``B`` and ``A`` are the 3-D transforms of each channel of ``before`` and
    ``after`` ``(C, T, H, W)``; the norm runs over every channel and frequency
    except each channel's mean, which a [0, 1] video's spectrum is dominated by.
    """
    a = torch.fft.fftn(after.double(), dim=(1, 2, 3)).abs()
    b = torch.fft.fftn(before.double(), dim=(1, 2, 3)).abs()
    a[:, 0, 0, 0] = 0
    b[:, 0, 0, 0] = 0
    reference = torch.linalg.norm(b)
    return float(torch.linalg.norm(a - b) / reference) if reference > 0 else 0.0


__all__ = ["MAPPINGS", "amplitude_change", "map_to_unit", "phase_field", "scramble_phase"]
