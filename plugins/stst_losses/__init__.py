"""Losses on layer activations: Gram, MSE (content), total variation, mean embedding.

Activations are batch first with the channel axis second; every other axis
(time, height, width, tokens…) counts as a *location*. So a ``(B, C, T, H, W)``
activation has ``N = T·H·W`` locations and its Gram matrix is the
time-averaged one of Tesfaldet et al.
"""

from __future__ import annotations

from typing import Literal

import torch

from stst_core import ConfigError, hookimpl


def gram_matrix(features: torch.Tensor, normalization: str = "locations") -> torch.Tensor:
    """Gram matrices ``(B, C, C)`` of activations ``(B, C, ...)``.

    ``normalization="locations"`` divides ``FᵀF`` by the number of locations N
    (STST, Greco & Siegel); ``"chw"`` by C·N (Tesfaldet et al.).
    """
    flat = features.reshape(features.shape[0], features.shape[1], -1)
    channels, locations = flat.shape[1], flat.shape[2]
    gram = flat @ flat.transpose(1, 2)
    return gram / (locations * (channels if normalization == "chw" else 1))


class _GramMSE(torch.autograd.Function):
    """``mean((s·F Fᵀ − T)²)`` with a backward of one matrix product.

    Autograd would differentiate ``F Fᵀ`` with respect to both factors (two
    products and a transposed sum). Since ``G − T`` is symmetric the gradient
    is ``4·s/n · (G − T) F`` (n = number of Gram entries): half the work of the
    backward pass, which in style transfer runs at every optimiser step.
    """

    @staticmethod
    def forward(ctx, features, target, scale, per_sample_sum):
        diff = torch.baddbmm(target, features, features.transpose(1, 2), beta=-1.0, alpha=scale)
        ctx.save_for_backward(features, diff)
        # mean over every entry, or (per_sample_sum) the sum over each sample's entries, averaged over samples
        ctx.divisor = diff.shape[0] if per_sample_sum else diff.numel()
        ctx.scale = scale
        return diff.square().sum() / ctx.divisor

    @staticmethod
    def backward(ctx, grad_output):
        features, diff = ctx.saved_tensors
        grad = torch.bmm(diff, features).mul_(grad_output * 4 * ctx.scale / ctx.divisor)
        return grad, None, None, None


class GramLoss:
    """Squared difference of Gram matrices (style loss).

    ``loss = mean((G(s) - G(t))²)`` over the batch and both channel axes
    (``reduction="mean"``, STST), or summed over the channel axes and averaged
    over the batch (``"sum"``, Tesfaldet et al.), with ``G`` normalised by the
    number of locations (``"locations"``, STST) or by channels × locations
    (``"chw"``, Tesfaldet et al.). ``prepare`` computes a target's Gram matrix
    once; ``compare`` uses it. A target Gram matrix of batch 1 is compared
    with every sample.

    The options are checked by ``create_loss`` against the ``Literal``
    annotations (``normalization must be one of 'locations', 'chw'``).
    """

    def __init__(self, normalization: Literal["locations", "chw"] = "locations", reduction: Literal["mean", "sum"] = "mean"):
        self.normalization = normalization
        self.reduction = reduction

    def prepare(self, target: torch.Tensor) -> torch.Tensor:
        return gram_matrix(target, self.normalization)

    def compare(self, synthesised: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        flat = synthesised.reshape(synthesised.shape[0], synthesised.shape[1], -1)
        scale = 1.0 / (flat.shape[2] * (flat.shape[1] if self.normalization == "chw" else 1))
        target = prepared.to(flat.dtype).expand(flat.shape[0], -1, -1)
        if prepared.requires_grad:  # a target that itself is optimised: let autograd handle both sides
            squared = (gram_matrix(synthesised, self.normalization) - target) ** 2
            return squared.sum() / flat.shape[0] if self.reduction == "sum" else squared.mean()
        return _GramMSE.apply(flat, target, scale, self.reduction == "sum")

    def __call__(self, synthesised: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.compare(synthesised, self.prepare(target))

    def __repr__(self) -> str:
        return f"GramLoss(normalization={self.normalization!r}, reduction={self.reduction!r})"


def mse(synthesised: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of activations (content loss): ``mean((s - t)²)``."""
    if synthesised.shape != target.shape:
        raise ConfigError(f"mse: activations differ in shape: {tuple(synthesised.shape)} vs {tuple(target.shape)}")
    return ((synthesised - target) ** 2).mean()


def total_variation(synthesised: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Anisotropic total variation of images or videos, divided by H·W.

    Sum of absolute differences between vertical and horizontal neighbours over
    channels (``tf.image.total_variation``), divided by the number of pixels,
    averaged over batch and frames. Works on ``(B, C, H, W)`` and
    ``(B, C, T, H, W)``; ``target`` is ignored (TV is a regulariser).
    """
    height, width = synthesised.shape[-2:]
    vertical = (synthesised[..., 1:, :] - synthesised[..., :-1, :]).abs().sum(dim=(-2, -1))
    horizontal = (synthesised[..., :, 1:] - synthesised[..., :, :-1]).abs().sum(dim=(-2, -1))
    per_channel = (vertical + horizontal) / (height * width)  # (B, C[, T])
    per_frame = per_channel.sum(dim=1)  # sum over channels, as TF does
    return per_frame.mean()


def mean_embedding(synthesised: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared distance between mean embeddings: ``mean_c (μ_c(s) - μ_c(t))²``.

    ``μ_c`` is the mean of channel c over all locations (and the batch): the
    first-order statistic that Gram matrices leave implicit, and what LEAPS'
    priming term matches.
    """

    def embedding(x):
        return x.transpose(0, 1).reshape(x.shape[1], -1).mean(dim=1)

    return ((embedding(synthesised) - embedding(target)) ** 2).mean()


@hookimpl
def stst_register_losses(register):
    register("gram", GramLoss)
    register("mse", mse)
    register("tv", total_variation)
    register("mean_embedding", mean_embedding)
