"""The energy network of STGConvNet, its data units, and the two updates of learning: Langevin sampling and the weights' step.

The model (Xie, Zhu & Wu 2017) is a density over videos
``p(Y; w) = exp(f(Y; w)) · q(Y) / Z(w)``, with ``q`` Gaussian white noise of
standard deviation ``σ`` and ``f`` a spatio-temporal ConvNet whose *score* is
the sum of its top layer's (rectified) responses over positions and channels.

Units. The reference code works on RGB values in 0..255 minus one scalar
mean (its ``δ = 0.3`` and ``σ = 1`` are in those units); :func:`to_model` and
:func:`from_model` are the one place where the toolkit's [0, 1] videos are
converted. Layout: ``(batch, channel, time, y, x)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stst_core import ConfigError

PIXEL_SCALE = 255.0  # the reference's data are 0..255 values minus their mean


def to_model(frames: torch.Tensor, mean: float) -> torch.Tensor:
    """[0, 1] frames (any layout) in the model's units: ``255·x − mean``."""
    return frames * PIXEL_SCALE - mean


def from_model(values: torch.Tensor, mean: float) -> torch.Tensor:
    """Model values back to [0, 1] frames: the mean added back, then clipped (the reference clips to 0..255 too)."""
    return ((values + mean) / PIXEL_SCALE).clamp(0, 1)


@dataclass(frozen=True)
class Layer:
    """One convolution (each is followed by a ReLU): ``channels`` filters of ``kernel`` (t, y, x) at ``stride``.

    ``padding`` is ``"same"`` (TensorFlow's: ``ceil(n / stride)`` outputs, the
    odd pad at the end) or explicit ``(t, y, x)`` zeros on both sides with no
    other padding (the reference's ``tf.pad`` then ``VALID``). A kernel
    extent of 0 means the whole map in that dimension (a spatially fully
    connected layer, whatever the input size).
    """

    channels: int
    kernel: tuple[int, int, int]
    stride: tuple[int, int, int]
    padding: str | tuple[int, int, int] = "same"


# the reference's three networks (ZZ src/model.py) and a small ST; FC_S's layer 2 covers the 50x50 map
# of a 100-pixel input, FC_S_large's the 75x75 one of a 224-pixel input: whole maps, so 0 here
ARCHITECTURES: dict[str, tuple[Layer, ...]] = {
    "ST": (
        Layer(120, (15, 15, 15), (7, 7, 7)),
        Layer(40, (7, 7, 7), (3, 3, 3)),
        Layer(20, (2, 3, 3), (1, 2, 2)),
    ),
    # the toolkit's: ST scaled to CPU-sized clips (about 32-64 px, 16-32 frames). ST's top units see 99 px,
    # so on a 48-px clip every unit sees all of it and the chains copy the clip (novelty.mean 0.996 on
    # DynTex flag at 39x48); these see 31 px, and the model stays a model of a stationary texture
    "ST_small": (
        Layer(120, (7, 7, 7), (3, 3, 3)),
        Layer(40, (5, 5, 5), (2, 2, 2)),
        Layer(20, (2, 3, 3), (1, 2, 2)),
    ),
    "FC_S": (
        Layer(120, (7, 7, 7), (2, 2, 2)),
        Layer(30, (5, 0, 0), (2, 2, 2), (2, 0, 0)),
        Layer(5, (2, 1, 1), (1, 2, 2), (1, 0, 0)),
    ),
    "FC_S_large": (
        Layer(120, (7, 7, 7), (3, 3, 3)),
        Layer(30, (4, 0, 0), (2, 1, 1), (2, 0, 0)),
        Layer(5, (2, 1, 1), (1, 1, 1), (1, 0, 0)),
    ),
}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one dimension: ``(before, after)``, the extra one after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def plan(
    layers: tuple[Layer, ...], size: tuple[int, int, int], in_channels: int = 3
) -> list[tuple[int, int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """Each layer on a ``(T, H, W)`` input: ``(in, out channels, kernel, F.pad widths, output size)``, checked to fit.

    Computed without building the network (FC_S_large's second layer alone
    has 81 million weights).
    """
    steps = []
    shape, channels = tuple(size), in_channels
    for index, layer in enumerate(layers):
        explicit = layer.padding if isinstance(layer.padding, tuple) else (0, 0, 0)
        kernel = tuple(k if k > 0 else n + 2 * p for k, n, p in zip(layer.kernel, shape, explicit))
        if layer.padding == "same":
            pads = [same_padding(n, k, s) for n, k, s in zip(shape, kernel, layer.stride)]
        else:
            pads = [(p, p) for p in explicit]
        padded = [n + a + b for n, (a, b) in zip(shape, pads)]
        if any(k > n for k, n in zip(kernel, padded)):
            raise ConfigError(
                f"layer {index + 1} of the energy network needs at least {kernel} (t, y, x) but gets {tuple(padded)} from a "
                f"{size[0]}-frame {size[1]}x{size[2]} video; use more frames, larger frames, or another architecture"
            )
        shape = tuple((n - k) // s + 1 for n, k, s in zip(padded, kernel, layer.stride))
        # F.pad takes the last dimension first
        steps.append((channels, layer.channels, kernel, (*pads[2], *pads[1], *pads[0]), shape))
        channels = layer.channels
    return steps


class EnergyNet(nn.Module):
    """``f(Y; w)``: a stack of :class:`Layer` convolutions with ReLUs, built for one input size ``(T, H, W)``."""

    def __init__(self, layers: tuple[Layer, ...], size: tuple[int, int, int], *, in_channels: int = 3):
        super().__init__()
        self.size = tuple(size)
        steps = plan(layers, self.size, in_channels)
        self.pads = [pads for *_, pads, _ in steps]
        self.convolutions = nn.ModuleList(nn.Conv3d(i, o, kernel, stride=layer.stride) for (i, o, kernel, _, _), layer in zip(steps, layers))
        self.output_shape = (steps[-1][1], *steps[-1][4])
        # channels-last 3-D convolutions are about twice as fast on a CPU (0.25 s against 0.51 s for a Langevin
        # step of FC_S on 24x64x64, 2 cores): weights kept so, inputs converted in forward
        self.to(memory_format=torch.channels_last_3d)

    def reset(self, generator: torch.Generator, std: float) -> None:
        """The reference's initialisation: weights ~ N(0, std²), biases 0 (drawn from ``generator``)."""
        with torch.no_grad():
            for conv in self.convolutions:
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator, dtype=conv.weight.dtype) * std)
                conv.bias.zero_()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """The top layer's responses ``(B, C, T', H', W')``."""
        if tuple(y.shape[2:]) != self.size:
            raise ConfigError(f"this energy network was built for {self.size} (t, y, x) videos, got {tuple(y.shape[2:])}")
        y = y.contiguous(memory_format=torch.channels_last_3d)
        for conv, pads in zip(self.convolutions, self.pads):
            y = F.relu(conv(F.pad(y, pads)))
        return y

    def score(self, y: torch.Tensor) -> torch.Tensor:
        """``f(Y)`` of each video of the batch: the sum of the top layer's responses."""
        return self(y).sum(dim=(1, 2, 3, 4))


def langevin(
    net: EnergyNet,
    y: torch.Tensor,
    *,
    steps: int,
    step_size: float,
    sigma: float,
    generator: torch.Generator,
    clamp: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``steps`` Langevin steps ``Y ← Y − δ²/2 · (Y/σ² − ∂f/∂Y) + δ·ε`` from ``y``; the new ``Y`` and the steps' statistics.

    ``clamp`` = ``(visible, observed)`` keeps the visible entries at the
    observed values after every step, so only the occluded ones are sampled
    (recovery). The statistics are the RMS of ``∂f/∂Y`` and of the whole
    update, averaged over the steps.
    """
    gradient_rms = update_rms = torch.zeros((), device=y.device)  # summed on the device: one sync per call, not two per step
    for _ in range(steps):
        y = y.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(net.score(y).sum(), y)
        noise = torch.randn(y.shape, generator=generator, dtype=y.dtype).to(y.device)
        update = -(step_size**2) / 2 * (y.detach() / sigma**2 - gradient) + step_size * noise
        y = y.detach() + update
        if clamp is not None:
            visible, observed = clamp
            y = torch.where(visible, observed, y)
        gradient_rms = gradient_rms + gradient.square().mean().sqrt()
        update_rms = update_rms + update.square().mean().sqrt()
    return y.detach(), {"gradient_rms": float(gradient_rms) / steps, "update_rms": float(update_rms) / steps}


def learning_loss(net: EnergyNet, observed: torch.Tensor, synthesized: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``mean f(synthesized) − mean f(observed)``, whose descent is ascent on the log-likelihood; also both mean scores.

    Its gradient in ``w`` is ``mean_syn ∂f/∂w − mean_obs ∂f/∂w``: the
    maximum-likelihood gradient with the samples standing in for the model's
    expectation.
    """
    data, samples = net.score(observed).mean(), net.score(synthesized.detach()).mean()
    return samples - data, data.detach(), samples.detach()
