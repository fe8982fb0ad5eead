"""``example-tiny3d``: a tiny 3-D ConvNet that looks at pairs of frames.

Layers (every one batch first):

``conv1`` (``CTHW``, ``width`` channels)
    2×5×5 convolutions over each pair of consecutive frames, then ReLU: a clip
    of ``T`` frames gives ``T − 1`` steps, so ``temporal_window = 2``;
``conv2`` (``CTHW``, ``2·width`` channels)
    1×3×3 convolutions with stride 2 in space, then ReLU;
``pool`` (``C``)
    the global average of ``conv2`` over time and space.

Weights: ``random`` (PyTorch's initialisation under the seed that
``create_backbone`` sets) or a path to a state dict saved from this backbone.
Input: ImageNet mean and std, applied by the base class.
"""

from typing import Annotated

import torch
from torch import nn

from stst_core import Backbone, BackboneCard, LayerSpec, Normalization, Range, WeightsChoice


class Tiny3D(Backbone):
    """A tiny 3-D ConvNet on pairs of frames (an example plugin)."""

    paper = "An example of the STST plugin guide (no paper)."
    licence = "Apache-2.0"
    weights_choices = (WeightsChoice("random", "PyTorch's initialisation under the given seed"),)
    default_weights = "random"
    normalization = Normalization.IMAGENET  # callers pass [0, 1] RGB; the base normalises it for compute()
    temporal_window = 2  # consecutive frames one output step looks at

    # typed options: create_backbone checks them (and turns "8" into 8) before calling this
    def __init__(self, weights=None, *, width: Annotated[int, Range(ge=1)] = 8):
        super().__init__(
            # the base fills in the card's weights, source, licence, paper and input normalisation
            card=BackboneCard(name="example-tiny3d", extra={"width": width}),
            layers=[
                LayerSpec("conv1", "CTHW", width, "2×5×5 convolution over frame pairs, ReLU"),
                LayerSpec("conv2", "CTHW", 2 * width, "1×3×3 convolution, stride 2 in space, ReLU"),
                LayerSpec("pool", "C", 2 * width, "global average of conv2"),
            ],
            default_layers=["conv1", "conv2"],
            weights=weights,  # a tag, a path or None (the default): resolved by the base; an unknown tag is a clear error
        )
        self.conv1 = nn.Conv3d(3, width, kernel_size=(2, 5, 5), padding=(0, 2, 2))
        self.conv2 = nn.Conv3d(width, 2 * width, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.load_weights()  # a file's tensors, checked key by key; nothing to do for random weights

    def compute(self, video, layers):
        # video: (B, 3, T, H, W), already normalised; return at least the layers asked for
        conv1 = torch.relu(self.conv1(video))
        outputs = {"conv1": conv1}
        if "conv2" in layers or "pool" in layers:
            conv2 = torch.relu(self.conv2(conv1))
            outputs["conv2"] = conv2
            outputs["pool"] = conv2.mean(dim=(2, 3, 4))
        return outputs
