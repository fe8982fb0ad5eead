"""The backbone contract: a frozen network mapping a video to named layer activations.

A backbone takes a video batch ``(B, C, T, H, W)``, float in [0, 1], RGB (the
layout of torchvision's video models), applies its own input normalisation,
and returns ``dict[layer_name, Tensor]`` for the layers asked for. It declares:

- ``layers``: every addressable layer in depth order, each a :class:`LayerSpec`
  whose ``axes`` string gives the layout of one sample's output
  (``"CTHW"``, ``"CHW"``, ``"C"``…; the batch axis is always first and implied);
- ``temporal_window``: how many consecutive frames make one output step
  (1 for a per-frame network such as VGG-19, 2 for MSOE's frame pairs);
- ``card``: a :class:`BackboneCard` in the manner of timm's ``PretrainedCfg``.

Parameters are frozen and the module stays in eval mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ._device import resolve_device
from ._errors import BackboneError, RegistryError
from ._plugins import get_registry
from ._weights import WeightsFile, is_weights_path


@dataclass(frozen=True)
class LayerSpec:
    """One addressable layer: its name, the axes of one sample's output, its channel count."""

    name: str
    axes: str = "CTHW"
    channels: int | None = None
    description: str = ""


@dataclass(frozen=True)
class WeightsChoice:
    """A named weights option of a backbone (``random``, ``imagenet``, ``tesfaldet``…)."""

    tag: str
    description: str
    licence: str = ""
    file: WeightsFile | None = None  # a downloadable file, or None when built in code


@dataclass(frozen=True)
class BackboneCard:
    """Provenance of a built backbone: what it is, which weights, from where, under which licence."""

    name: str
    weights: str
    source: str = ""
    licence: str = ""
    paper: str = ""
    input_normalization: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    # names of the classes of the ``logits`` layer, in its order (empty: no classifier)
    classes: tuple[str, ...] = ()

    def as_attrs(self) -> dict[str, str]:
        """Flat string attributes for storing alongside activations."""
        attrs = {
            "backbone": self.name,
            "weights": self.weights,
            "weights_source": self.source,
            "licence": self.licence,
            "paper": self.paper,
            "input_normalization": self.input_normalization,
        }
        attrs.update({f"option_{k}": str(v) for k, v in self.extra.items()})
        return attrs


class Backbone(nn.Module):
    """Base class of all backbones; subclasses implement :meth:`compute`.

    Class attributes describe the family without building it (``stst backbones
    info`` reads them): ``paper``, ``licence``, ``weights_choices`` (tags other
    than a file path), ``default_weights``, ``accepts_weight_files``,
    ``temporal_window`` and ``min_size`` (the smallest frame side, in pixels,
    that every layer takes).
    """

    paper: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    weights_choices: ClassVar[tuple[WeightsChoice, ...]] = ()
    default_weights: ClassVar[str] = "random"
    accepts_weight_files: ClassVar[bool] = True
    temporal_window: ClassVar[int] = 1
    min_size: ClassVar[int] = 1

    def __init__(self, card: BackboneCard, layers: Sequence[LayerSpec], default_layers: Sequence[str]):
        super().__init__()
        self.card = card
        self.layers: dict[str, LayerSpec] = {spec.name: spec for spec in layers}
        self.default_layers = tuple(default_layers)
        unknown = [name for name in self.default_layers if name not in self.layers]
        if unknown:
            raise BackboneError(f"{card.name}: default layers {unknown} are not among its layers {list(self.layers)}")

    # -- the contract ------------------------------------------------------------------

    def forward(self, video: torch.Tensor, layers: Iterable[str] | str | None = None) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` (default: ``default_layers``; ``"all"``: every layer) for a video batch."""
        names = self.resolve_layers(layers)
        self.check_input(video)
        outputs = self.compute(self.normalize(video), names)
        self.check_outputs(outputs, names)
        return {name: outputs[name] for name in names}

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Return at least the requested layers for an already normalised video batch."""
        raise NotImplementedError

    def normalize(self, video: torch.Tensor) -> torch.Tensor:
        """Map [0, 1] RGB to what the network expects; identity unless a subclass says otherwise."""
        return video

    # -- helpers -----------------------------------------------------------------------

    @classmethod
    def weights_tags(cls) -> list[str]:
        return [choice.tag for choice in cls.weights_choices]

    @classmethod
    def weights_choice(cls, tag: str) -> WeightsChoice:
        for choice in cls.weights_choices:
            if choice.tag == tag:
                return choice
        allowed = ", ".join(cls.weights_tags()) + (" or a path to a weights file" if cls.accepts_weight_files else "")
        raise BackboneError(f"unknown weights {tag!r} for {cls.__name__}; choose {allowed}")

    def resolve_layers(self, layers: Iterable[str] | str | None) -> list[str]:
        if layers is None:
            return list(self.default_layers)
        if isinstance(layers, str):
            layers = list(self.layers) if layers == "all" else [name.strip() for name in layers.split(",") if name.strip()]
        names = list(dict.fromkeys(layers))
        unknown = [name for name in names if name not in self.layers]
        if unknown or not names:
            raise BackboneError(f"{self.card.name} has no layer(s) {unknown or '(none asked for)'}; its layers are: {', '.join(self.layers)}")
        return names

    def check_input(self, video: torch.Tensor) -> None:
        if not isinstance(video, torch.Tensor) or video.dim() != 5:
            got = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
            raise BackboneError(
                f"{self.card.name} expects a video batch of shape (B, C, T, H, W), got {got}; use Video.batch() or add the batch axis with tensor[None]"
            )
        if video.shape[1] != 3:
            raise BackboneError(f"{self.card.name} expects RGB input (C=3 on axis 1), got C={video.shape[1]}")
        if video.shape[2] < self.temporal_window:
            raise BackboneError(f"{self.card.name} looks at {self.temporal_window} consecutive frames, got a clip of {video.shape[2]}")
        if not video.is_floating_point():
            raise BackboneError(f"{self.card.name} expects float input in [0, 1], got {video.dtype}")

    def check_outputs(self, outputs: Mapping[str, torch.Tensor], names: Sequence[str]) -> None:
        """Check that ``compute`` kept the contract: every requested layer, with as many axes as declared.

        Losses and activation stores read a layer's axes from its ``LayerSpec``,
        so a tensor with other axes would fail far from its cause; the error is
        raised here and names the plugin.
        """
        who = f"backbone {self.card.name!r} (plugin {getattr(self, 'plugin', None)!r})"
        missing = [name for name in names if not isinstance(outputs.get(name), torch.Tensor)]
        if missing:
            raise BackboneError(
                f"{who} declares layer(s) {missing} but its compute() did not return them as tensors; fix the plugin's layer list or its compute()"
            )
        wrong = [
            f"{name}: declared axes {self.layers[name].axes!r} (batch first: {len(self.layers[name].axes) + 1} dims), got shape {tuple(outputs[name].shape)}"
            for name in names
            if outputs[name].dim() != len(self.layers[name].axes) + 1
        ]
        if wrong:
            raise BackboneError(f"{who} returned layers that do not match their LayerSpec: {'; '.join(wrong)}")

    @torch.no_grad()
    def output_shapes(self, input_shape: Sequence[int], layers: Iterable[str] | str | None = "all") -> dict[str, tuple[int, ...]]:
        """Output shape of each layer for an input of shape ``(B, C, T, H, W)``."""
        param = next(self.parameters(), None)
        probe = torch.zeros(tuple(input_shape), device=param.device if param is not None else "cpu")
        return {name: tuple(out.shape) for name, out in self(probe, layers).items()}

    def batch_norm_layers(self) -> dict[str, nn.Module]:
        """The backbone's batch-norm layers that keep running statistics, by module path.

        Each has ``running_mean`` and ``running_var`` (the statistics of the data
        the network was trained on): what a method matches to keep a synthesised
        input's feature statistics natural (LEAPS's feature-diversity term).
        Register forward hooks on them to read the statistics of an input.
        """
        return {name: module for name, module in self.named_modules() if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats}

    def train(self, mode: bool = True) -> Backbone:
        # Backbones are frozen feature extractors: training mode (dropout, batch-norm
        # updates) would silently change the statistics every method matches.
        return super().train(False)


def fold_time(video: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, H, W)`` → ``(B·T, C, H, W)`` for networks that look at one frame at a time."""
    b, c, t, h, w = video.shape
    return video.transpose(1, 2).reshape(b * t, c, h, w)


def unfold_time(frames: torch.Tensor, batch: int) -> torch.Tensor:
    """``(B·T, C, H, W)`` → ``(B, C, T, H, W)``, the inverse of :func:`fold_time`."""
    bt, c, h, w = frames.shape
    return frames.reshape(batch, bt // batch, c, h, w).transpose(1, 2)


def list_backbones(pattern: str | None = None) -> list[str]:
    """Names of the registered backbones, optionally filtered by a wildcard pattern (``"vgg*"``)."""
    return get_registry("backbones").names(pattern)


def backbone_class(name: str):
    """The factory registered under ``name`` (usually a :class:`Backbone` subclass)."""
    return get_registry("backbones").get(name).factory


def create_backbone(
    name: str,
    weights: str | None = None,
    *,
    device: str | torch.device | None = None,
    seed: int = 0,
    **options,
) -> Backbone:
    """Build a registered backbone, frozen and in eval mode.

    Parameters
    ----------
    name
        Registry name (``stst backbones list`` shows them).
    weights
        A weights tag of that backbone (``"random"``, ``"imagenet"``, ``"analytic"``…),
        a path to a weights file, or None for the backbone's default.
    device
        Where to put it (default: CPU).
    seed
        Seed for random initialisation: the same seed gives the same network.
    options
        Backbone-specific options (``stst backbones info NAME`` lists them).

    Examples
    --------
    >>> net = create_backbone("msoe", weights="analytic")          # doctest: +SKIP
    >>> net(torch.rand(1, 3, 4, 64, 64), ["concat"])["concat"].shape  # doctest: +SKIP
    torch.Size([1, 320, 3, 64, 64])
    """
    registry = get_registry("backbones")
    entry = registry.get(name)
    if weights is not None and not isinstance(weights, str):
        weights = str(weights)
    target = resolve_device(device) if device is not None else None  # an unknown device fails before anything is built
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # options are checked against the factory's typed signature: an unknown key, a wrong type or a
        # value out of its Range is a BackboneError naming the key, not a TypeError from inside the plugin
        model = registry.create(name, weights=weights, **options)
    if not isinstance(model, Backbone):
        raise RegistryError(
            f"backbone {entry.name!r} from plugin {entry.plugin!r} returned {type(model).__name__}, "
            "not a stst_core.Backbone; its factory must return a Backbone subclass instance"
        )
    model.plugin = entry.plugin
    model.requires_grad_(False)
    model.eval()
    if target is not None:
        model.to(target)
    return model


__all__ = [
    "Backbone",
    "BackboneCard",
    "LayerSpec",
    "WeightsChoice",
    "backbone_class",
    "create_backbone",
    "fold_time",
    "is_weights_path",
    "list_backbones",
    "unfold_time",
]
