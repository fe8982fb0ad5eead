"""The toy world's two classifiers, and the backbones that serve them.

``toy-classifier`` is a small 3-D ConvNet with BatchNorm (the kind LEAPS
inverts and whose running statistics its diversity term matches);
``toy-judge`` is built differently on purpose, so that it can judge a
synthesis without sharing the inverted model's blind spots: wider
kernels, GroupNorm instead of BatchNorm, max pooling instead of strides. Both take [0, 1] RGB clips of at least 2 frames
and 16 pixels, and score the four directions of :data:`~stst_toyworld.world.DIRECTIONS`.

A trained model is a file of the learned-model contract (``save_model``):
``weights=PATH`` loads it, and its card names the architecture.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stst_core import Backbone, BackboneCard, BackboneError, LayerSpec, WeightsChoice, load_model

from .world import DIRECTIONS

PAPER = "The STST toolkit's toy world (docs/tutorials/leaps.md): textures drifting in one of four directions"


def _block(conv: nn.Module, norm: nn.Module, pool: nn.Module | None = None) -> nn.Sequential:
    return nn.Sequential(conv, norm, nn.ReLU(), *([pool] if pool is not None else []))


class ToyClassifier(nn.Module):
    """Three 3x3x3 convolutions with BatchNorm (16, 32, 64 channels; the last two strided), global average pooling, a linear head."""

    stages = ("conv1", "conv2", "conv3")

    def __init__(self, classes: int = len(DIRECTIONS)):
        super().__init__()
        self.conv1 = _block(nn.Conv3d(3, 16, 3, padding=1), nn.BatchNorm3d(16))
        self.conv2 = _block(nn.Conv3d(16, 32, 3, stride=(1, 2, 2), padding=1), nn.BatchNorm3d(32))
        self.conv3 = _block(nn.Conv3d(32, 64, 3, stride=2, padding=1), nn.BatchNorm3d(64))
        self.head = nn.Linear(64, classes)
        self.channels = (16, 32, 64)

    def standardize(self, video: torch.Tensor) -> torch.Tensor:
        return video  # its first BatchNorm centres the features


class ToyJudge(nn.Module):
    """Wider spatiotemporal kernels (3x5x5, then 3x3x3) with GroupNorm instead of BatchNorm, max pooling instead of strides, and a linear head."""

    stages = ("conv1", "conv2", "conv3")

    def __init__(self, classes: int = len(DIRECTIONS)):
        super().__init__()
        self.conv1 = _block(nn.Conv3d(3, 12, (3, 5, 5), padding=(1, 2, 2)), nn.GroupNorm(4, 12), nn.MaxPool3d((1, 2, 2)))
        self.conv2 = _block(nn.Conv3d(12, 24, 3, padding=1), nn.GroupNorm(4, 24), nn.MaxPool3d((1, 2, 2)))
        self.conv3 = _block(nn.Conv3d(24, 48, 3, padding=1), nn.GroupNorm(4, 48))
        self.head = nn.Linear(48, classes)
        self.channels = (12, 24, 48)

    def standardize(self, video: torch.Tensor) -> torch.Tensor:
        # without BatchNorm nothing removes the clips' mean grey, which then drowns their motion (training stays at chance)
        return (video - 0.5) / 0.25


ARCHITECTURES = {"toy-classifier": ToyClassifier, "toy-judge": ToyJudge}


def run(model: nn.Module, video: torch.Tensor, layers: Sequence[str] = ("logits",)) -> dict[str, torch.Tensor]:
    """The asked-for stages of ``model`` on a ``(B, 3, T, H, W)`` batch; stops after the last one needed."""
    outputs, wanted = {}, set(layers)
    x = model.standardize(video)
    for stage in model.stages:
        x = getattr(model, stage)(x)
        if stage in wanted:
            outputs[stage] = x
        if wanted <= set(outputs):
            return outputs
    outputs["logits"] = model.head(x.mean(dim=(2, 3, 4)))
    return outputs


class ToyBackbone(Backbone):
    """Base of the two toy backbones: ``weights`` is ``random`` or a model file written by ``stst toyworld train``."""

    paper = PAPER
    licence = "Apache-2.0 (this toolkit); weights: trained by you on the toy world"
    weights_choices = (WeightsChoice("random", "an untrained network, under the seed"),)
    default_weights = "random"
    temporal_window = 2
    min_size = 16
    architecture = ""

    def __init__(self, weights: str | None = None):
        resolved = self.resolve_weights(weights)
        state, classes = None, DIRECTIONS
        if resolved.path is not None:  # a model file carries its card: read whole, not as a bare state dict
            state, card = load_model(resolved.path, architecture=self.architecture)
            classes = tuple(card["options"].get("classes", DIRECTIONS))
        model = ARCHITECTURES[self.architecture](len(classes))
        layers = [LayerSpec(stage, "CTHW", channels, f"block {i + 1}") for i, (stage, channels) in enumerate(zip(model.stages, model.channels))]
        layers.append(LayerSpec("logits", "C", len(classes), "the classifier's scores, before the softmax"))
        super().__init__(BackboneCard(name=self.architecture, classes=classes), layers, [*model.stages, "logits"], weights=resolved)
        self.model = model
        if state is not None:
            try:
                self.model.load_state_dict(state)
            except RuntimeError as error:
                raise BackboneError(f"{resolved.path} does not fit {self.architecture}: {str(error).splitlines()[0]}") from None

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        return run(self.model, video, layers)


class ToyClassifierBackbone(ToyBackbone):
    """The toy world's BatchNorm 3-D ConvNet classifier of drift direction."""

    architecture = "toy-classifier"


class ToyJudgeBackbone(ToyBackbone):
    """The toy world's held-out judge: a GroupNorm network of another design."""

    architecture = "toy-judge"
