"""3-D ResNets of Tran et al. (2018) from torchvision: R3D-18, MC3-18 and R(2+1)D-18.

All three share torchvision's ``VideoResNet`` layout, so their layers are the
same: ``stem``, ``layer1`` … ``layer4`` (``CTHW``) and ``avgpool`` (``C``, the
clip's global average, which the classifier sees). Time is halved by each of
``layer2`` … ``layer4`` (R3D-18 and R(2+1)D-18; MC3-18 keeps ``layer2``
… ``layer4`` per frame, so they are not strided in time), space by the stem
and by each of ``layer2`` … ``layer4``. Every layer is zero-padded, so any
clip of at least one frame and one pixel works (``temporal_window = 1``).
"""

from __future__ import annotations

from torch import nn

from stst_core import LayerSpec

from .base import RANDOM, Tap, TorchvisionVideoBackbone, flatten, same, torchvision_weights

PAPER = "Tran, Wang, Torresani, Ray, LeCun & Paluri (2018). A Closer Look at Spatiotemporal Convolutions for Action Recognition. CVPR. arXiv:1711.11248"


class VideoResNet(TorchvisionVideoBackbone):
    """Shared layers of torchvision's ``VideoResNet`` family."""

    head = "fc"
    paper = PAPER
    temporal_window = 1

    def taps(self, net: nn.Module) -> list[Tap]:
        stem = [m for m in net.stem if isinstance(m, nn.BatchNorm3d)][-1].num_features
        widths = [layer[-1].conv2[1].num_features for layer in (net.layer1, net.layer2, net.layer3, net.layer4)]
        taps = [Tap(LayerSpec("stem", "CTHW", stem, "stem: 3-D convolution, batch norm, ReLU (space /2)"), "stem", same)]
        for i, width in enumerate(widths, start=1):
            note = "two residual blocks" + ("" if i == 1 else ", first one strided")
            taps.append(Tap(LayerSpec(f"layer{i}", "CTHW", width, note), f"layer{i}", same))
        taps.append(Tap(LayerSpec("avgpool", "C", widths[-1], "global average over time and space (the classifier's input)"), "avgpool", flatten))
        return taps

    def default_layer_names(self, net, taps):
        return ["stem", "layer1", "layer2", "layer3", "layer4"]


class R3D18(VideoResNet):
    """R3D-18: an 18-layer ResNet of full 3×3×3 convolutions (Tran et al. 2018), torchvision."""

    architecture = "r3d_18"
    weights_choices = (
        torchvision_weights("r3d_18"),
        RANDOM,
    )


class MC318(VideoResNet):
    """MC3-18: 3-D convolutions in the stem and layer1, 2-D ones above (Tran et al. 2018), torchvision."""

    architecture = "mc3_18"
    weights_choices = (
        torchvision_weights("mc3_18"),
        RANDOM,
    )


class R2Plus1D18(VideoResNet):
    """R(2+1)D-18: 3-D convolutions factorised into spatial and temporal ones (Tran et al. 2018), torchvision."""

    architecture = "r2plus1d_18"
    weights_choices = (
        torchvision_weights("r2plus1d_18"),
        RANDOM,
    )
