"""Video Swin Transformers of Liu et al. (2022) from torchvision: ``swin3d_t``, ``swin3d_s``, ``swin3d_b``.

The clip is cut into 2×4×4 tubelets (padded up to whole tubelets), so one
output time step covers 2 frames (``temporal_window = 2``); attention works
in shifted 8×7×7 windows, and any clip size works. Layers (torchvision's
layout is ``(B, T, H, W, C)``; every map here is ``CTHW``):

``patch_embed``
    the tubelet embedding (time /2, space /4);
``stage1`` … ``stage4``
    the output of each stage of Swin blocks (``features.0``, ``.2``, ``.4``,
    ``.6``); patch merging halves space between stages, never time;
``norm``
    the final layer norm of the last stage;
``avgpool``
    the global average of ``norm`` (``C``), the classifier's input.
"""

from __future__ import annotations

from torch import nn

from stst_core import LayerSpec, Normalization

from .base import RANDOM, Tap, TorchvisionVideoBackbone, channels_last_to_first, flatten, torchvision_weights


class SwinTransformer3D(TorchvisionVideoBackbone):
    """Shared layers of torchvision's ``SwinTransformer3d``."""

    head = "head"
    normalization = Normalization.IMAGENET  # torchvision's Video Swin weights start from ImageNet ones
    paper = "Liu, Ning, Cao, Wei, Zhang, Lin & Hu (2022). Video Swin Transformer. CVPR. arXiv:2106.13230"
    temporal_window = 2

    def taps(self, net: nn.Module) -> list[Tap]:
        width = net.patch_embed.proj.out_channels
        stages = [i for i, module in enumerate(net.features) if isinstance(module, nn.Sequential)]
        taps = [Tap(LayerSpec("patch_embed", "CTHW", width, "2×4×4 tubelet embedding"), "patch_embed", channels_last_to_first)]
        for number, index in enumerate(stages, start=1):
            depth = len(net.features[index])
            taps.append(
                Tap(
                    LayerSpec(f"stage{number}", "CTHW", width * 2 ** (number - 1), f"features.{index}: {depth} Swin blocks"),
                    f"features.{index}",
                    channels_last_to_first,
                )
            )
        last = width * 2 ** (len(stages) - 1)
        taps.append(Tap(LayerSpec("norm", "CTHW", last, "final layer norm"), "norm", channels_last_to_first))
        taps.append(Tap(LayerSpec("avgpool", "C", last, "global average (the classifier's input)"), "avgpool", flatten))
        return taps

    def default_layer_names(self, net, taps):
        return ["stage1", "stage2", "stage3", "stage4"]


class Swin3DT(SwinTransformer3D):
    """Video Swin-T: a Swin transformer on 2×4×4 tubelets (Liu et al. 2022), torchvision."""

    architecture = "swin3d_t"
    weights_choices = (torchvision_weights("swin3d_t"), RANDOM)


class Swin3DS(SwinTransformer3D):
    """Video Swin-S: the small Video Swin transformer (Liu et al. 2022), torchvision."""

    architecture = "swin3d_s"
    weights_choices = (torchvision_weights("swin3d_s"), RANDOM)


class Swin3DB(SwinTransformer3D):
    """Video Swin-B: the base Video Swin transformer (Liu et al. 2022), torchvision."""

    architecture = "swin3d_b"
    weights_choices = (
        torchvision_weights("swin3d_b"),
        torchvision_weights("swin3d_b", "KINETICS400_IMAGENET22K_V1", "kinetics400-imagenet22k"),
        RANDOM,
    )
