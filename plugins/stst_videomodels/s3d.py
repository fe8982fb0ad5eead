"""S3D of Xie et al. (2018) from torchvision: separable 3-D Inception.

Layers are named as in the paper's (and I3D's) Inception stack, each the
output of one module of torchvision's ``features``: ``conv_1a``, ``pool_2a``,
``conv_2b``, ``conv_2c``, ``pool_3a``, ``mixed_3b``, ``mixed_3c``,
``pool_4a``, ``mixed_4b`` … ``mixed_4f``, ``pool_5a``, ``mixed_5b``,
``mixed_5c``; all ``CTHW``; and ``logits`` (``C``), the classifier's scores.
torchvision's final 2×7×7 average pool fits 224-px inputs only, so
``logits`` applies the classifier (a 1×1×1 convolution) to the global average
of ``mixed_5c`` instead: the same numbers for torchvision's 16×224×224 clips
(where ``mixed_5c`` is 2×7×7), defined for clips of any size.

``pool_5a`` pools 2×2×2 without padding, so the deepest layers need at least 5
frames and 17×17 pixels; that is this backbone's ``temporal_window`` and
``min_size``.
"""

from __future__ import annotations

from torch import nn

from stst_core import LayerSpec

from .base import RANDOM, Tap, TorchvisionVideoBackbone, same, torchvision_weights

# (name, channels) of each module of torchvision's S3D.features, in order
FEATURES = (
    ("conv_1a", 64),
    ("pool_2a", 64),
    ("conv_2b", 64),
    ("conv_2c", 192),
    ("pool_3a", 192),
    ("mixed_3b", 256),
    ("mixed_3c", 480),
    ("pool_4a", 480),
    ("mixed_4b", 512),
    ("mixed_4c", 512),
    ("mixed_4d", 512),
    ("mixed_4e", 528),
    ("mixed_4f", 832),
    ("pool_5a", 832),
    ("mixed_5b", 832),
    ("mixed_5c", 1024),
)


class S3D(TorchvisionVideoBackbone):
    """S3D: separable 3-D Inception network (Xie et al. 2018), torchvision."""

    architecture = "s3d"
    head = "classifier"
    paper = (
        "Xie, Sun, Huang, Tu & Murphy (2018). Rethinking Spatiotemporal Feature Learning: Speed-Accuracy "
        "Trade-offs in Video Classification. ECCV. arXiv:1712.04851"
    )
    weights_choices = (
        torchvision_weights("s3d"),
        RANDOM,
    )
    temporal_window = 5
    min_size = 17

    def taps(self, net: nn.Module) -> list[Tap]:
        if len(net.features) != len(FEATURES):
            raise RuntimeError(f"torchvision's S3D has {len(net.features)} feature modules; this plugin knows {len(FEATURES)}")
        return [Tap(LayerSpec(name, "CTHW", channels, f"features.{i}"), f"features.{i}", same) for i, (name, channels) in enumerate(FEATURES)]

    def default_layer_names(self, net, taps):
        return ["conv_2c", "mixed_3c", "mixed_4f", "mixed_5c"]

    def logits_tap(self, net: nn.Module, classes: int) -> Tap:
        def scores(features):
            return net.classifier(features.mean(dim=(2, 3, 4), keepdim=True)).flatten(1)

        return Tap(LayerSpec("logits", "C", classes, "the classifier on mixed_5c's global average"), f"features.{len(FEATURES) - 1}", scores)
