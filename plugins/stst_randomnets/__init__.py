"""Random multiscale filters: a cheap, download-free spatial front end for texture statistics.

Ustyuzhaninov, Brendel, Gatys & Bethge (ICLR 2017) showed that natural textures
of high perceptual quality can be synthesised by matching the Gram matrices of
a *single* layer of *random* convolutional filters applied at several scales:
no training, no pooling, no depth. The ``random-multiscale`` backbone is such a
network. It is built in code in milliseconds and needs no download, so it can
serve as the spatial stream of an offline preset of spatiotemporal style
transfer in place of ImageNet VGG-19; on a 2-core CPU a Gram-loss step costs
about a third of VGG-19's (a seventh with ``channels=64, kernel_size=5``).

Architecture. Per frame (``temporal_window = 1``); every layer has axes ``CTHW``.

1. Input normalisation: [0, 1] RGB minus the ImageNet mean (0.485, 0.456, 0.406),
   divided by the ImageNet std (0.229, 0.224, 0.225), per channel, as for
   torchvision's VGG-19, so that images, losses and step sizes are on the same
   scale as with the VGG-19 spatial stream.
2. A Gaussian pyramid of ``levels`` levels: level 0 is the frame; level s+1 is
   level s blurred with a 5×5 Gaussian (σ = 1, summing to 1, reflect padding)
   and taken at stride 2, so an ``n``-pixel side becomes ``ceil(n / 2)``
   (97×61 → 49×31 → 25×16 → 13×8).
3. At every level, ``channels`` random filters of ``kernel_size × kernel_size``
   taps over the 3 colour channels, reflect-padded so that the level keeps its
   size, then ReLU. The same bank serves every level (``shared=True``, the
   default), so level s sees the bank's patterns 2^s times larger: one bank of
   k×k filters covers receptive fields of about k, 2k, 4k, 8k pixels of the
   frame. ``shared=False`` draws an independent bank per level (bank 0 is the
   shared bank of the same seed). A level too small to reflect (not more than
   ``kernel_size // 2`` pixels on a side) is padded by replication instead.

The filters are drawn from a standard normal distribution under the ``seed``
given to :func:`stst_core.create_backbone` (on the CPU, before any move to a
device); each filter is then made zero-mean over its 3·k·k taps and scaled to
unit L2 norm, and there is no bias:

- zero-mean filters respond to spatial and chromatic structure, not to the mean
  luminance: a uniform grey field gives exactly zero at every level. With no
  bias, ReLU therefore rectifies around "no structure", and the Gram matrices
  describe structure only. They do not pin the overall brightness of a
  synthesis (the balance between colour channels they do): start from the
  target's mean, or add a loss on the pixel means, where that matters;
- unit norm gives every filter, and so every level, the same gain: a level's
  activations scale with the contrast of its image only, and no filter or level
  dominates a summed Gram loss because of its draw.

Layers: ``level0`` … ``level{levels-1}``, each ``channels`` channels at its own
level's resolution; all of them are default layers, as Ustyuzhaninov et al.
match the Gram matrices of all scales.

Options (keyword-only; :func:`stst_core.create_backbone` passes them on). Bad
values raise :class:`stst_core.BackboneError`.

``levels`` (4)
    Pyramid levels, 1 to 8. Four levels of 7×7 filters reach receptive fields
    of about 7·2³ = 56 pixels of the frame. See the note on frame size below.
``channels`` (128)
    Filters per bank. 64 channels halve the convolutions and quarter the Gram
    matrices, at the price of a coarser description.
``kernel_size`` (7)
    Filter size in pixels; odd, so that the padding keeps the size.
``shared`` (True)
    One bank for every level, or (False) an independent bank per level.

Weights.

``random`` (default)
    Drawn in code under the seed as described above: the same seed and options
    give the same filters.
a file path
    A state dict of this backbone, as saved by
    ``torch.save(create_backbone("random-multiscale", ...).state_dict(), path)``
    (key ``net.filters``; the key ``filters`` of the inner network's state dict
    works too): a tensor ``(banks, channels, 3, k, k)`` with ``banks`` 1 when
    shared and ``levels`` otherwise. The options must agree with its shape (the
    error says which options it needs). Filters from a file are used as they
    are, not re-normalised.

Frame size and the coarsest level. A level's Gram matrix is a *texture*
statistic only when the level holds many filter-sized patches. With few
locations, the coarsest level of a small frame, the channels × channels Gram
matrix of its
rectified random features constrains the level's image almost completely,
and a synthesis copies the target's layout. Measured with L-BFGS Gram-matching
syntheses of DynTex frames (correlation of the blurred synthesis with the
blurred target, 0 for a scrambled texture): a 96×96 frame with the default four
levels (coarsest 12×12) gives 0.98, a blurred copy; with three levels (coarsest
24×24) 0.4–0.5, a scrambled texture; a 144×144 frame with four levels (coarsest
18×18) 0.1. Choose ``levels`` so that the coarsest level keeps at least about
16–18 pixels on its shorter side: ``levels=3`` for 96-pixel frames, 4 from about
144 pixels (and, by the same rule, 5 from about 288).

Speed. The filters are frozen, so only the gradient with respect to the input
is ever needed. The layer computes it with one matrix product per row of
filter taps followed by shifted additions (col2im), instead of PyTorch's
convolution backward (a transposed convolution to 3 channels), which is about
3 times slower on CPUs; the forward pass is PyTorch's (oneDNN) convolution. Frames and filters
stay in the default channels-first memory format: channels-last makes the
forward convolution about 20 % faster, but Gram matrices need channels-first
activations, and with the conversion a Gram-loss step was 10–25 % slower.

Forward and backward (with respect to the input) of one frame with the Gram
losses of all four levels summed, on a 2-core Xeon (Sapphire Rapids) with
PyTorch 2.14, best of repeated runs: 96×96 about 20 ms (the backbone 11 ms, the
Gram matrices the rest), 144×256 about 80 ms (backbone 30 ms); with
``channels=64, kernel_size=5`` 10 ms and 33 ms. VGG-19 (Gram losses of relu1_1
… relu5_1) takes about 70 ms and 250 ms there. A forward pass without
gradients: 3 ms and 10 ms.

Citation. Ustyuzhaninov, I., Brendel, W., Gatys, L. A., & Bethge, M. (2017).
What does it take to generate natural textures? International Conference on
Learning Representations (ICLR). https://openreview.net/forum?id=BJhZeLsxx
"""

from __future__ import annotations

from typing import Annotated, Sequence

import torch

from stst_core import (
    Backbone,
    BackboneCard,
    BackboneError,
    LayerSpec,
    Normalization,
    Range,
    WeightsChoice,
    WeightsError,
    fold_time,
    hookimpl,
    unfold_time,
)

from .network import RandomMultiscaleNet, gaussian_blur_kernel, random_filter_banks

MAX_LEVELS = 8


class RandomMultiscale(Backbone):
    """One layer of random zero-mean filters over a Gaussian pyramid, frame by frame (Ustyuzhaninov et al. 2017)."""

    paper = "Ustyuzhaninov, Brendel, Gatys & Bethge (2017). What does it take to generate natural textures? ICLR. https://openreview.net/forum?id=BJhZeLsxx"
    licence = "Apache-2.0 (this toolkit)"
    weights_choices = (
        WeightsChoice(
            "random", "zero-mean, unit-norm Gaussian random filters drawn in code under the given seed (stst_randomnets.network.random_filter_banks)"
        ),
    )
    default_weights = "random"
    # as torchvision's VGG-19, so that images, losses and step sizes are on the scale of the VGG-19 spatial stream
    normalization = Normalization.IMAGENET
    temporal_window = 1

    def __init__(
        self,
        weights: str | None = None,
        *,
        levels: Annotated[int, Range(ge=1, le=MAX_LEVELS)] = 4,
        channels: Annotated[int, Range(ge=1)] = 128,
        kernel_size: Annotated[int, Range(ge=1)] = 7,
        shared: bool = True,
    ):
        # the bounds above are checked by create_backbone; oddness is no bound
        if kernel_size % 2 == 0:
            raise BackboneError(f"random-multiscale: kernel_size must be odd so that padding keeps the size, got {kernel_size}")

        resolution = ["full resolution"] + [f"1/{2**s} resolution" for s in range(1, levels)]
        super().__init__(
            card=BackboneCard(name="random-multiscale", extra={"levels": levels, "channels": channels, "kernel_size": kernel_size, "shared": shared}),
            layers=[
                LayerSpec(f"level{s}", "CTHW", channels, f"pyramid level {s} ({resolution[s]}): {kernel_size}×{kernel_size} random filters, ReLU")
                for s in range(levels)
            ],
            default_layers=[f"level{s}" for s in range(levels)],
            weights=weights,
        )
        self.net = RandomMultiscaleNet(levels=levels, channels=channels, kernel_size=kernel_size, shared=shared)
        self.load_weights(module=self.net)

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        features = self.net(fold_time(video), levels=[int(name[len("level") :]) for name in layers])
        return {f"level{s}": unfold_time(out, video.shape[0]) for s, out in features.items()}

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Filters saved from this backbone (``net.filters``) or its network (``filters``); a shape that the options do not give names the options it needs."""
        source = self.resolved_weights.source
        filters = state.get("net.filters", state.get("filters"))
        if filters is None:
            raise WeightsError(
                f"{source} is not a random-multiscale state dict: it has no 'net.filters' (or 'filters') entry; "
                f"its keys are {', '.join(sorted(state)[:6])}{'…' if len(state) > 6 else ''}"
            )
        expected = tuple(self.net.filters.shape)
        shape = tuple(filters.shape)
        if shape != expected:
            hint = ""
            if len(shape) == 5 and shape[2] == 3 and shape[3] == shape[4]:
                shared = "shared=True" if shape[0] == 1 else f"shared=False, levels={shape[0]}"
                hint = f" (the file's filters need channels={shape[1]}, kernel_size={shape[3]}, {shared})"
            raise WeightsError(f"{source} holds filters of shape {shape}, but the options give {expected} (banks, channels, 3, kernel_size, kernel_size){hint}")
        # used as they are, not re-normalised
        return {"filters": filters}


@hookimpl
def stst_register_backbones(register):
    register("random-multiscale", RandomMultiscale)


__all__ = ["RandomMultiscale", "RandomMultiscaleNet", "gaussian_blur_kernel", "random_filter_banks"]
