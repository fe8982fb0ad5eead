"""A factorised space-time video transformer built from timm blocks: TimeSformer's divided attention.

Bertasius, Wang & Torresani (2021) split a video transformer block into
*temporal* attention (each patch position attends to itself in every frame),
then *spatial* attention (each frame's patches, plus the class token, attend
to each other), then an MLP; each with a pre-norm and a residual. This module
builds that block from timm's ``Attention``, ``Mlp`` and ``PatchEmbed``, with
the parameter names of the official implementation
(``facebookresearch/TimeSformer``), so its checkpoints load from a file.

Architecture (``timesformer``; the defaults are TimeSformer's ViT-B/16):

1. every frame is cut into ``patch_size``² patches and embedded
   (``embed_dim`` channels); a learned spatial position embedding is added to
   the patches (interpolated, nearest, to other frame sizes) and a learned
   time embedding (``num_frames`` entries, interpolated, nearest, to other
   clip lengths) to every patch of a frame;
2. ``depth`` divided space-time blocks; the class token takes part in the
   spatial attention of every frame and receives the frames' mean;
3. a final layer norm.

Layers: ``patch_embed`` (the embedded patches), ``blocks.0`` …
``blocks.{depth-1}`` and ``norm`` are patch tokens reshaped to ``CTHW``
(``T`` frames of ``H/patch_size × W/patch_size``); ``cls`` (``C``) is the
class token after the final norm, the classifier's input.

Weights: ``random`` (the default) initialises every linear layer and every
embedding from a truncated normal (std 0.02) under the seed, as ViTs are.
Unlike TimeSformer, which zero-initialises the temporal projection and the
time embedding so that training starts from an image model, the temporal
weights here are random too: with zeros a frozen random network would ignore
frame order. A file path loads a state dict of this backbone, or an official
TimeSformer checkpoint (keys with or without the ``model.`` prefix, wrapped in
``model_state`` as PySlowFast saves them; the classifier ``head`` is
ignored); the options must match its shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
import torch.nn.functional as F
from timm.layers import Attention, Mlp, PatchEmbed, trunc_normal_
from torch import nn

from stst_core import Backbone, BackboneCard, BackboneError, LayerSpec, Normalization, Range, WeightsChoice

Positive = Annotated[int, Range(ge=1)]

# the statistics TimeSformer's Kinetics checkpoints were trained with
TIMESFORMER = Normalization((0.45, 0.45, 0.45), (0.225, 0.225, 0.225), name="TimeSformer")


def _layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)


class DividedSpaceTimeBlock(nn.Module):
    """Temporal attention, spatial attention, MLP; parameter names as in TimeSformer's ``Block``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True):
        super().__init__()
        self.temporal_norm1 = _layer_norm(dim)
        self.temporal_attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm1 = _layer_norm(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = _layer_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, cls: torch.Tensor, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``cls`` ``(B, 1, D)`` and ``patches`` ``(B, T, N, D)`` → both updated."""
        batch, frames, tokens, dim = patches.shape
        # temporal attention: one sequence of T tokens per patch position
        along_time = patches.transpose(1, 2).reshape(batch * tokens, frames, dim)
        temporal = self.temporal_fc(self.temporal_attn(self.temporal_norm1(along_time)))
        patches = patches + temporal.reshape(batch, tokens, frames, dim).transpose(1, 2)
        # spatial attention: one sequence per frame, the class token first
        per_frame = torch.cat([cls.expand(batch, frames, dim).reshape(batch * frames, 1, dim), patches.reshape(batch * frames, tokens, dim)], dim=1)
        spatial = self.attn(self.norm1(per_frame))
        cls = cls + spatial[:, :1].reshape(batch, frames, dim).mean(dim=1, keepdim=True)
        patches = patches + spatial[:, 1:].reshape(batch, frames, tokens, dim)
        return cls + self.mlp(self.norm2(cls)), patches + self.mlp(self.norm2(patches))


class TimeSformer(Backbone):
    """TimeSformer: a video transformer with divided space-time attention (Bertasius et al. 2021), timm blocks."""

    paper = "Bertasius, Wang & Torresani (2021). Is Space-Time Attention All You Need for Video Understanding? ICML. arXiv:2102.05095"
    licence = "this toolkit (Apache-2.0), built from timm (Apache-2.0); official TimeSformer checkpoints: CC BY-NC 4.0"
    weights_choices = (WeightsChoice("random", "truncated-normal (std 0.02) initialisation under the given seed, temporal weights included"),)
    default_weights = "random"
    normalization = TIMESFORMER
    weights_help = "Set the options (img_size, patch_size, num_frames, embed_dim, depth, num_heads, mlp_ratio) to those the checkpoint was trained with."
    temporal_window = 1

    def __init__(
        self,
        weights: str | None = None,
        *,
        img_size: Positive = 224,
        patch_size: Positive = 16,
        num_frames: Positive = 8,
        embed_dim: Positive = 768,
        depth: Positive = 12,
        num_heads: Positive = 12,
        mlp_ratio: Annotated[float, Range(gt=0)] = 4.0,
    ):
        # the bounds above are checked by create_backbone; these relations are not bounds
        if embed_dim % num_heads:
            raise BackboneError(f"timesformer: embed_dim ({embed_dim}) must be a multiple of num_heads ({num_heads})")
        if img_size % patch_size:
            raise BackboneError(f"timesformer: img_size ({img_size}) must be a multiple of patch_size ({patch_size})")

        layers = [LayerSpec("patch_embed", "CTHW", embed_dim, "patches with position and time embeddings")]
        layers += [LayerSpec(f"blocks.{i}", "CTHW", embed_dim, "divided space-time block: patch tokens") for i in range(depth)]
        layers.append(LayerSpec("norm", "CTHW", embed_dim, "final layer norm: patch tokens"))
        layers.append(LayerSpec("cls", "C", embed_dim, "class token after the final norm (the classifier's input)"))
        options = dict(
            img_size=img_size, patch_size=patch_size, num_frames=num_frames, embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio
        )
        super().__init__(
            card=BackboneCard(name="timesformer", extra=options),
            layers=layers,
            default_layers=[f"blocks.{i}" for i in range(depth)],
            weights=weights,
        )
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(img_size, patch_size, 3, embed_dim, flatten=False, strict_img_size=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        self.time_embed = nn.Parameter(torch.zeros(1, num_frames, embed_dim))
        self.blocks = nn.ModuleList(DividedSpaceTimeBlock(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = _layer_norm(embed_dim)
        self._initialize()
        self.load_weights()

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        batch, _, frames = video.shape[:3]
        depth = max(list(self.layers).index(name) for name in layers)  # 0: patch_embed, 1…: blocks, then norm, cls
        cls, patches, grid = self._embed(video)
        outputs = {"patch_embed": patches}
        for i, block in enumerate(self.blocks[:depth]):
            cls, patches = block(cls, patches)
            outputs[f"blocks.{i}"] = patches
        if depth > len(self.blocks):
            cls, patches = self.norm(cls), self.norm(patches)
            outputs["norm"], outputs["cls"] = patches, cls[:, 0]
        # (B, T, N, D) → (B, D, T, H, W)
        return {
            name: out if out.dim() == 2 else out.reshape(batch, frames, *grid, -1).permute(0, 4, 1, 2, 3) for name, out in outputs.items() if name in layers
        }

    def _embed(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Class token ``(B, 1, D)``, patch tokens ``(B, T, N, D)`` with position and time embeddings, the patch grid."""
        batch, _, frames = video.shape[:3]
        patches = self.patch_embed(video.transpose(1, 2).flatten(0, 1))  # (B·T, D, h, w)
        grid = tuple(patches.shape[-2:])
        patches = patches.flatten(2).transpose(1, 2)
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        side = round(patch_pos.shape[1] ** 0.5)
        if (side, side) != grid:  # other frame sizes: nearest-neighbour interpolation, as TimeSformer does
            patch_pos = F.interpolate(patch_pos.transpose(1, 2).reshape(1, -1, side, side), size=grid, mode="nearest").flatten(2).transpose(1, 2)
        time = self.time_embed
        if time.shape[1] != frames:
            time = F.interpolate(time.transpose(1, 2), size=frames, mode="nearest").transpose(1, 2)
        patches = (patches + patch_pos).reshape(batch, frames, -1, patches.shape[-1]) + time[:, :, None]
        return self.cls_token + cls_pos, patches, grid

    def _initialize(self) -> None:
        for parameter in (self.cls_token, self.pos_embed, self.time_embed):
            trunc_normal_(parameter, std=0.02)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """An official TimeSformer checkpoint: its wrapper module's ``model.`` prefix goes, and its classifier ``head`` is ignored."""
        if state and all(key.startswith("model.") for key in state):
            state = {key[len("model.") :]: value for key, value in state.items()}
        return {key: value for key, value in state.items() if not key.startswith("head.")}
