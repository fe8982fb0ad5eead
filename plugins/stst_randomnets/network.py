"""A Gaussian pyramid with one layer of random filters at every level, on single frames.

Pieces, all on ``(N, 3, H, W)`` frames:

- :func:`gaussian_blur_kernel`: the normalised 5×5 Gaussian (σ = 1) of the pyramid;
- :func:`random_filter_banks`: zero-mean, unit-norm filters drawn from N(0, 1);
- :class:`RandomMultiscaleNet`: level 0 is the frame, level s+1 the blurred level
  s taken at stride 2 (size ``ceil(n / 2)``); at each level the filters with
  size-preserving reflect padding, then ReLU.
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

BLUR_SIZE = 5
BLUR_SIGMA = 1.0


def gaussian_blur_kernel(size: int = BLUR_SIZE, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """A ``size × size`` Gaussian summing to 1 (the outer product of two sampled 1-D Gaussians)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def random_filter_banks(banks: int, channels: int, kernel_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(banks, channels, 3, k, k)`` filters from N(0, 1), each made zero-mean and unit-L2-norm over its 3·k·k taps.

    Drawn in one call, so bank 0 is the same whether one bank or several are drawn.
    """
    filters = torch.randn(banks, channels, 3, kernel_size, kernel_size, generator=generator)
    filters = filters - filters.mean(dim=(2, 3, 4), keepdim=True)
    return filters / filters.flatten(2).norm(dim=2).clamp_min(1e-12)[..., None, None, None]


def pad_same(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect padding on the last two axes; replicate where a level is too small to reflect (≤ ``pad`` pixels)."""
    if pad == 0:
        return x
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.pad(x, (pad, pad, pad, pad), mode=mode)


class _FrozenConv(torch.autograd.Function):
    """``conv2d(padded, weight)`` for frozen filters, with a fast gradient with respect to the input.

    For each row of the filters' taps, one matrix product ``wᵀ·g`` gives every
    tap's contribution at every output location, and the taps are added back at
    their shifts (col2im). On CPUs this is about 3 times faster than PyTorch's
    convolution backward (a transposed convolution to 3 channels), and going row
    by row keeps the intermediate at ``3·k`` rather than ``3·k²`` channels, which
    is also faster for batches of frames. The forward pass is PyTorch's (oneDNN)
    convolution. No gradient flows to the filters.
    """

    @staticmethod
    def forward(ctx, padded: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.padded_size = tuple(padded.shape[-2:])
        return F.conv2d(padded, weight)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        n, c, h, w = grad.shape
        k = weight.shape[-1]
        grad = grad.reshape(n, c, h * w)
        out = grad.new_zeros(n, weight.shape[1], *ctx.padded_size)
        for i in range(k):
            taps = (weight[:, :, i].reshape(c, -1).t() @ grad).view(n, -1, k, h, w)  # (N, 3, k, h, w)
            for j in range(k):
                out[:, :, i : i + h, j : j + w] += taps[:, :, j]
        return out, None


def conv_relu(padded: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``relu(conv2d(padded, weight))``, with the fast input gradient when the filters are frozen."""
    if padded.requires_grad and not weight.requires_grad:
        return F.relu(_FrozenConv.apply(padded, weight), inplace=True)
    return F.relu(F.conv2d(padded, weight))


class RandomMultiscaleNet(nn.Module):
    """Random-filter features of a Gaussian pyramid; ``forward`` returns ``{level: (N, C, h_s, w_s)}``.

    ``filters`` has shape ``(banks, channels, 3, k, k)``: one bank shared by every
    level (``banks = 1``) or one per level (``banks = levels``).
    """

    def __init__(self, levels: int = 4, channels: int = 128, kernel_size: int = 7, shared: bool = True):
        super().__init__()
        self.levels = levels
        self.shared = shared
        banks = 1 if shared else levels
        self.filters = nn.Parameter(random_filter_banks(banks, channels, kernel_size), requires_grad=False)
        self.register_buffer("blur", gaussian_blur_kernel().expand(3, 1, BLUR_SIZE, BLUR_SIZE).contiguous(), persistent=False)

    def bank(self, level: int) -> torch.Tensor:
        return self.filters[0 if self.shared else level]

    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        """Blur each channel with the 5×5 Gaussian and keep every second pixel: ``n → ceil(n / 2)``."""
        return F.conv2d(pad_same(x, BLUR_SIZE // 2), self.blur, stride=2, groups=x.shape[1])

    def forward(self, frames: torch.Tensor, levels: Iterable[int] | None = None) -> dict[int, torch.Tensor]:
        """Features ``{level: (N, C, h, w)}`` of normalised frames ``(N, 3, H, W)`` at ``levels`` (default: all).

        Only the requested levels are filtered; the pyramid stops at the coarsest one.
        """
        wanted = set(range(self.levels) if levels is None else levels)
        kernel = self.filters.shape[-1]
        outputs, x = {}, frames
        for level in range(max(wanted) + 1):
            if level:
                x = self.downsample(x)
            if level in wanted:
                outputs[level] = conv_relu(pad_same(x, kernel // 2), self.bank(level))
        return outputs
