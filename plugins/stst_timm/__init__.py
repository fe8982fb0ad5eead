"""Backbones built with timm: any timm image model frame by frame, and a factorised space-time transformer.

``timm:<model>`` (:mod:`stst_timm.frames`)
    every model of timm, e.g. ``timm:resnet50``, ``timm:vit_small_patch16_224``
    or ``timm:convnext_tiny.in12k_ft_in1k`` (a pretrained tag after the dot),
    run on each frame; layers from timm's ``forward_intermediates``; weights
    ``pretrained`` (the default: timm's weights from the Hugging Face hub,
    checked against the hub's sha256), ``random`` or a path.
``timesformer`` (:mod:`stst_timm.timesformer`)
    divided space-time attention (Bertasius et al. 2021) built from timm's
    attention and MLP blocks; weights ``random`` or a path (official
    TimeSformer checkpoints included).
"""

from __future__ import annotations

from stst_core import hookimpl

from .frames import TimmFrames
from .timesformer import TimeSformer


@hookimpl
def stst_register_backbones(register):
    register("timm:*", TimmFrames)
    register("timesformer", TimeSformer)
