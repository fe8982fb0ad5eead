"""Any timm image model applied frame by frame: the ``timm:*`` family of backbones.

``timm:<model name>`` builds ``timm.create_model(<model name>)`` (a pretrained
tag may follow the name as in timm: ``timm:resnet50.a1_in1k``) and runs it on
every frame of the clip on its own (``temporal_window = 1``).

Layers come from timm's ``forward_intermediates``, named by the modules of the
model's ``feature_info`` (``act1``, ``layer1`` … ``layer4`` for a ResNet,
``blocks.0`` … ``blocks.11`` for a ViT, ``stages.0`` … for a ConvNeXt), each a
``CTHW`` map: the patch tokens of transformers reshaped to their grid, class
and register tokens left out. ``pre_logits`` (``CT``, one vector per frame) is
what the classifier sees: the class token after the final norm for a ViT, the
global average for a CNN. ``logits`` (``C``) is the classifier's scores,
averaged over the clip's frames (as frame-sampling video classifiers do);
the card names the classes (ImageNet's, as timm describes them). Computation
stops at the deepest layer asked for (``pre_logits`` and ``logits`` run the
whole network). The classifier's weights load with the rest.

ViT-like models are built with ``dynamic_img_size=True`` where timm offers it,
so frames of any size that the patch size divides work (positional embeddings
are interpolated); models with a fixed input size fail with a
:class:`~stst_core.BackboneError` naming it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import timm
import timm.models
import torch

from stst_core import (
    Backbone,
    BackboneCard,
    BackboneError,
    LayerSpec,
    Normalization,
    WeightsChoice,
    WeightsError,
    fold_time,
    unfold_time,
)

from .pretrained import hub_weights_file

POOLED = "pre_logits"
LOGITS = "logits"


def class_names(model) -> tuple[str, ...]:
    """The classes of a timm classifier: ImageNet's (as timm describes them) when its head fits, else ``class 0`` … ."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    count = model.num_classes
    subset = infer_imagenet_subset(model)
    if subset:
        info = ImageNetInfo(subset)
        if info.num_classes() == count:
            return tuple(info.index_to_description(i) for i in range(count))
    return tuple(f"class {i}" for i in range(count))


class TimmFrames(Backbone):
    """Any timm image model, frame by frame: timm:<model>, e.g. timm:resnet50, timm:vit_small_patch16_224."""

    paper = "Wightman (2019). PyTorch Image Models (timm). https://github.com/huggingface/pytorch-image-models (and the paper of each model)"
    licence = "timm (Apache-2.0); pretrained weights: see the model card on the Hugging Face hub"
    weights_choices = (
        WeightsChoice(
            "pretrained",
            "timm's pretrained weights of the model (of its tag, if the name has one) from the Hugging Face hub, checked against the hub's sha256, cached",
            # the file depends on the model: resolve_weights is given it below
            hint="timm's own model.safetensors (or pytorch_model.bin) of that model works too: pass weights=<its path>.",
        ),
        WeightsChoice("random", "timm's initialisation under the given seed"),
    )
    default_weights = "pretrained"
    temporal_window = 1

    def __init__(self, weights: str | None = None, *, variant: str | None = None):
        model_name = _check_model_name(variant)
        wanted = weights or self.default_weights
        resolved = self.resolve_weights(wanted, file=hub_weights_file(model_name) if wanted == "pretrained" else None)
        model = _create(model_name, resolved.state_dict(), resolved.source)

        cfg = model.pretrained_cfg
        # the statistics the model's weights were trained with, for random weights too (the same network)
        normalization = Normalization(cfg.get("mean", Normalization.IMAGENET.mean), cfg.get("std", Normalization.IMAGENET.std), name="timm pretrained_cfg")
        feature_names = [info["module"] for info in model.feature_info]
        layers = [LayerSpec(module, "CTHW", info["num_chs"], f"stride {info['reduction']}") for module, info in zip(feature_names, model.feature_info)]
        layers.append(LayerSpec(POOLED, "CT", model.num_features, "the classifier's input, per frame"))
        classes = class_names(model) if model.num_classes else ()
        if classes:
            layers.append(LayerSpec(LOGITS, "C", len(classes), "the classifier's scores before the softmax, averaged over the frames"))
        input_size = "×".join(str(n) for n in cfg.get("input_size", (3, 224, 224))[1:])
        super().__init__(
            card=BackboneCard(
                name=f"timm:{model_name}",
                licence=f"timm (Apache-2.0); weights: {cfg.get('license') or 'see the model card'}" if resolved.tag == "pretrained" else "",
                extra={"model": model_name, "pretrained_input_size": input_size},
                classes=classes,
            ),
            layers=layers,
            default_layers=feature_names,
            weights=resolved,
            normalization=normalization,
        )
        self.model = model
        self.feature_names = feature_names
        self.input_size = input_size

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        frames = fold_time(video)
        wanted = [i for i, module in enumerate(self.feature_names) if module in layers]
        pooled = POOLED in layers or LOGITS in layers
        try:
            if pooled:
                final, maps = self.model.forward_intermediates(frames, indices=wanted or [0], output_fmt="NCHW")
                vectors = self.model.forward_head(final, pre_logits=True)
                scores = self.model.get_classifier()(vectors) if LOGITS in layers else None
            else:
                maps = self.model.forward_intermediates(frames, indices=wanted, output_fmt="NCHW", intermediates_only=True, stop_early=True)
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise BackboneError(
                f"{self.card.name} could not process frames of {video.shape[-2]}×{video.shape[-1]} pixels: {exc}. "
                f"It was trained on {self.input_size}; transformers need sides that their patch size divides, "
                "and some models take only their trained size"
            ) from exc
        outputs = {self.feature_names[i]: unfold_time(out, video.shape[0]) for i, out in zip(wanted, maps)}
        if pooled:
            outputs[POOLED] = vectors.reshape(video.shape[0], video.shape[2], -1).transpose(1, 2)
        if LOGITS in layers:
            # an image classifier on a clip: its frames' scores averaged, as frame-sampling video classifiers do
            outputs[LOGITS] = scores.reshape(video.shape[0], video.shape[2], -1).mean(dim=1)
        return outputs


def _check_model_name(variant: str | None) -> str:
    """A timm model name, with an optional pretrained tag, that timm knows."""
    if not variant:
        raise BackboneError("name a timm model after the colon: timm:<model>, e.g. timm:resnet50 (timm.list_models() lists them)")
    architecture, tag = timm.models.split_model_name_tag(variant)
    if not timm.is_model(architecture):
        close = difflib.get_close_matches(architecture, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(f'timm:{c}' for c in close)}?" if close else ""
        raise BackboneError(f"timm has no model {architecture!r}.{hint} timm.list_models('*pattern*') lists its models")
    if tag and f"{architecture}.{tag}" not in timm.list_pretrained(f"{architecture}.*"):
        tags = ", ".join(n.split(".", 1)[1] for n in timm.list_pretrained(f"{architecture}.*")) or "none"
        raise BackboneError(f"timm has no pretrained tag {tag!r} for {architecture}; its tags: {tags}")
    return variant


def _create(model_name: str, state: dict | None, source: str):
    """``timm.create_model`` with its classifier, loading ``state`` (the head's weights included) through timm's own checkpoint filters."""
    kwargs: dict = {}
    if state is not None:
        if state and all(k.startswith("model.") for k in state):  # saved from this backbone
            state = {k[len("model.") :]: v for k, v in state.items()}
        # the model's own number of classes on both sides keeps timm's load strict:
        # a file that does not fit is an error, never ignored
        kwargs.update(pretrained=True, pretrained_cfg_overlay={"state_dict": state, "source": ""})
    try:
        try:
            return timm.create_model(model_name, dynamic_img_size=True, **kwargs)
        except TypeError as exc:
            if "dynamic_img_size" not in str(exc):
                raise
            return timm.create_model(model_name, **kwargs)
    except RuntimeError as exc:
        if state is None:
            raise
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) < 400 else detail[:400] + "…"
        raise WeightsError(f"{source} does not fit timm's {model_name}: {detail}") from None
