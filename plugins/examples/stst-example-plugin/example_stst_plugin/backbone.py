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
"""

import torch
from torch import nn

from stst_core import Backbone, BackboneCard, BackboneError, LayerSpec, WeightsChoice, is_weights_path, load_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Tiny3D(Backbone):
    """A tiny 3-D ConvNet on pairs of frames (an example plugin)."""

    paper = "An example of the STST plugin guide (no paper)."
    licence = "Apache-2.0"
    weights_choices = (WeightsChoice("random", "PyTorch's initialisation under the given seed"),)
    default_weights = "random"
    temporal_window = 2  # consecutive frames one output step looks at

    def __init__(self, weights=None, *, width: int = 8):
        weights = weights or self.default_weights
        if not isinstance(width, int) or width < 1:
            raise BackboneError(f"example-tiny3d: width must be a positive integer, got {width!r}")
        if is_weights_path(weights):
            tag = f"file:{weights}"
        else:
            tag = self.weights_choice(weights).tag  # an unknown tag is a clear error
        super().__init__(
            card=BackboneCard(
                name="example-tiny3d",
                weights=tag,
                source=str(weights) if tag.startswith("file:") else "random initialisation",
                licence=self.licence,
                paper=self.paper,
                input_normalization="ImageNet mean/std on [0,1] RGB",
                extra={"width": width},
            ),
            layers=[
                LayerSpec("conv1", "CTHW", width, "2×5×5 convolution over frame pairs, ReLU"),
                LayerSpec("conv2", "CTHW", 2 * width, "1×3×3 convolution, stride 2 in space, ReLU"),
                LayerSpec("pool", "C", 2 * width, "global average of conv2"),
            ],
            default_layers=["conv1", "conv2"],
        )
        self.conv1 = nn.Conv3d(3, width, kernel_size=(2, 5, 5), padding=(0, 2, 2))
        self.conv2 = nn.Conv3d(width, 2 * width, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), persistent=False)
        if tag.startswith("file:"):
            self.load_state_dict(load_state_dict(weights))

    def normalize(self, video):
        # callers always pass [0, 1] RGB; the network wants ImageNet-normalised input
        return (video - self.mean) / self.std

    def compute(self, video, layers):
        # video: (B, 3, T, H, W), already normalised; return at least the layers asked for
        conv1 = torch.relu(self.conv1(video))
        outputs = {"conv1": conv1}
        if "conv2" in layers or "pool" in layers:
            conv2 = torch.relu(self.conv2(conv1))
            outputs["conv2"] = conv2
            outputs["pool"] = conv2.mean(dim=(2, 3, 4))
        return outputs
