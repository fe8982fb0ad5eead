"""Video backbones from torchvision: 3-D ConvNets and video transformers.

=================  ==========================================  ======================  ============
name               model                                       frames × size           window
=================  ==========================================  ======================  ============
``r3d_18``         R3D-18 (Tran et al. 2018)                   any                     1
``mc3_18``         MC3-18 (Tran et al. 2018)                   any                     1
``r2plus1d_18``    R(2+1)D-18 (Tran et al. 2018)               any                     1
``s3d``            S3D (Xie et al. 2018)                       ≥ 5 × ≥ 17 px           5
``swin3d_t/s/b``   Video Swin-T/S/B (Liu et al. 2022)          any                     2
``mvit_v1_b``      MViT-B (Fan et al. 2021)                    exactly 16 × 224 px     16
``mvit_v2_s``      MViTv2-S (Li et al. 2022)                   exactly 16 × 224 px     16
=================  ==========================================  ======================  ============

Weights: ``kinetics400`` (the default; torchvision's Kinetics-400 weights,
downloaded once from download.pytorch.org and verified by the sha256 prefix in
their file names, as torchvision does; ``swin3d_b`` also has
``kinetics400-imagenet22k``), ``random`` (torchvision's initialisation under
the seed), or a path to a state dict in torchvision's layout (torchvision's own
``.pth`` files included) or saved from the backbone itself. Inputs are
normalised with the mean and std the weights were trained with (Kinetics
statistics for the ResNets and S3D, 0.45/0.225 for MViT, ImageNet for Swin).

Layers come out of forward hooks on torchvision's own modules; the forward
pass stops at the deepest layer asked for. Patch tokens of transformers are
reshaped to their space-time grid (``CTHW``); the vector the classifier sees
is a separate ``C`` layer (``avgpool``, or ``cls`` for MViT's class token).
"""

from __future__ import annotations

from stst_core import hookimpl

from .mvit import MViTV1B, MViTV2S
from .resnet3d import MC318, R3D18, R2Plus1D18
from .s3d import S3D
from .swin3d import Swin3DB, Swin3DS, Swin3DT

BACKBONES = (R3D18, MC318, R2Plus1D18, S3D, MViTV1B, MViTV2S, Swin3DT, Swin3DS, Swin3DB)


@hookimpl
def stst_register_backbones(register):
    for backbone in BACKBONES:
        register(backbone.architecture, backbone)
