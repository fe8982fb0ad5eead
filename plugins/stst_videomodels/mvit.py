"""Multiscale Vision Transformers from torchvision: MViT-B (v1, Fan et al. 2021) and MViTv2-S (Li et al. 2022).

A 3×7×7 convolution with stride 2×4×4 cuts the clip into space-time patches;
16 multiscale blocks follow, some of which pool their queries (space halves,
channels double). Tokens are a class token followed by the patches in
``(t, y, x)`` order. Layers:

``conv_proj``
    the patch embedding (``CTHW``, before positional embeddings);
``blocks.0`` … ``blocks.15``
    each block's patch tokens reshaped to their space-time grid (``CTHW``);
    the class token is left out;
``norm``
    the final layer norm's patch tokens (``CTHW``);
``cls``
    the final layer norm's class token (``C``), the classifier's input.

Every token attends to the whole clip, and torchvision builds the positional
embeddings (MViT-B) and relative position tables (MViTv2-S) for one input
size, so the clip size is fixed: exactly 16 frames of 224×224 pixels
(``temporal_window = 16``); any other size is a :class:`~stst_core.BackboneError`
saying so.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stst_core import BackboneError, LayerSpec, Normalization

from .base import RANDOM, Tap, TorchvisionVideoBackbone, same, torchvision_weights

# the statistics torchvision's MViT weights were trained with
MVIT = Normalization((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))


def _pooled(grid: Sequence[int], conv: nn.Conv3d) -> tuple[int, int, int]:
    """The token grid after a strided pooling convolution."""
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(grid, conv.kernel_size, conv.stride, conv.padding))


def _strided(block: nn.Module) -> bool:
    """Whether a multiscale block pools its queries with a stride (a new, coarser stage starts there)."""
    return block.attn.pool_q is not None and any(s > 1 for s in block.attn.pool_q.pool.stride)


def _tokens_to_map(tokens: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """``(B, 1 + T·H·W, C)`` tokens, class token first → ``(B, C, T, H, W)``."""
    batch, _, channels = tokens.shape
    return tokens[:, 1:].reshape(batch, *grid, channels).permute(0, 4, 1, 2, 3)


class MultiscaleViT(TorchvisionVideoBackbone):
    """Shared layers of torchvision's ``MViT``."""

    head = "head"
    normalization = MVIT
    temporal_window = 16
    frames = 16
    size = 224

    def taps(self, net: nn.Module) -> list[Tap]:
        stride = net.conv_proj.stride
        grid = (self.frames // stride[0], self.size // stride[1], self.size // stride[2])
        taps = [Tap(LayerSpec("conv_proj", "CTHW", net.conv_proj.out_channels, "3×7×7 patch embedding, stride 2×4×4"), "conv_proj", same)]
        for i, block in enumerate(net.blocks):
            if block.attn.pool_q is not None:
                grid = _pooled(grid, block.attn.pool_q.pool)
            channels = [m for m in block.mlp.modules() if isinstance(m, nn.Linear)][-1].out_features
            note = "multiscale block" + (", strided query pooling (space /2)" if _strided(block) else "")
            taps.append(Tap(LayerSpec(f"blocks.{i}", "CTHW", channels, note), f"blocks.{i}", lambda out: _tokens_to_map(*out)))
        final = grid
        taps.append(Tap(LayerSpec("norm", "CTHW", channels, "final layer norm"), "norm", lambda out: _tokens_to_map(out, final)))
        taps.append(Tap(LayerSpec("cls", "C", channels, "class token after the final norm (the classifier's input)"), "norm", lambda out: out[:, 0]))
        return taps

    def default_layer_names(self, net, taps):
        # the last block at each resolution: the next one pools its queries with a stride, or there is none
        last = len(net.blocks) - 1
        return [f"blocks.{i}" for i in range(len(net.blocks)) if i == last or _strided(net.blocks[i + 1])]

    def check_input(self, video: torch.Tensor) -> None:
        super().check_input(video)
        frames, height, width = video.shape[2:]
        if (frames, height, width) != (self.frames, self.size, self.size):
            raise BackboneError(
                f"{self.card.name} takes clips of exactly {self.frames} frames of {self.size}×{self.size} pixels "
                f"(its positional embeddings are sized for them), got {frames} frames of {height}×{width}; "
                f"cut and resize the clip first (e.g. {self.frames} frames and a square {self.size}-pixel crop)"
            )


class MViTV1B(MultiscaleViT):
    """MViT-B: multiscale vision transformer, 16×224×224 clips (Fan et al. 2021), torchvision."""

    architecture = "mvit_v1_b"
    paper = "Fan, Xiong, Mangalam, Li, Yan, Malik & Feichtenhofer (2021). Multiscale Vision Transformers. ICCV. arXiv:2104.11227"
    weights_choices = (torchvision_weights("mvit_v1_b"), RANDOM)


class MViTV2S(MultiscaleViT):
    """MViTv2-S: multiscale vision transformer with relative positions, 16×224×224 clips (Li et al. 2022), torchvision."""

    architecture = "mvit_v2_s"
    paper = (
        "Li, Wu, Fan, Mangalam, Xiong, Malik & Feichtenhofer (2022). MViTv2: Improved Multiscale Vision Transformers "
        "for Classification and Detection. CVPR. arXiv:2112.01526"
    )
    weights_choices = (torchvision_weights("mvit_v2_s"), RANDOM)
