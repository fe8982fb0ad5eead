"""What the torchvision video backbones share: building, weights, layer taps and input checks.

A subclass names a torchvision architecture and describes its layers as
*taps*: the module whose forward output is the layer and a function that
turns that output into the declared axes (a transformer's tokens into a
``CTHW`` map, a pooled ``(B, C, 1, 1, 1)`` into ``C``). :meth:`compute` runs
torchvision's own ``forward`` with forward hooks on the tapped modules and
stops as soon as the deepest requested layer is out: later layers and the
classifier are never computed.

Every model keeps its classifier: the layer ``logits`` (``C``: one score per
class, before the softmax) is the head's output, and the card names the
classes (Kinetics-400's, from torchvision's weights metadata, unless
``num_classes`` changes the head). Like any layer it is computed only when
asked for.

Weights are built in only for ``random`` (torchvision's initialisation under
the seed); a pretrained tag or a file path builds the network on PyTorch's
meta device and assigns the loaded tensors (the head's included), so nothing
is initialised twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torchvision
from torch import nn

from stst_core import Backbone, BackboneCard, BackboneError, LayerSpec, WeightsChoice, WeightsError, WeightsFile, fetch, is_weights_path, load_state_dict

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
TORCHVISION_LICENCE = "torchvision (BSD-3-Clause); pretrained weights published by torchvision, trained on Kinetics-400"


def same(output: torch.Tensor) -> torch.Tensor:
    """A module output that already has the declared layout (``CTHW``)."""
    return output


def channels_last_to_first(output: torch.Tensor) -> torch.Tensor:
    """``(B, T, H, W, C)`` (Swin's layout) → ``(B, C, T, H, W)``."""
    return output.permute(0, 4, 1, 2, 3)


def flatten(output: torch.Tensor) -> torch.Tensor:
    """A pooled ``(B, C, 1, 1, 1)`` → ``(B, C)``."""
    return output.flatten(1)


@dataclass(frozen=True)
class Tap:
    """Where a layer comes from: a module (by its path in the torchvision model) and a converter of its output."""

    spec: LayerSpec
    module: str
    convert: Callable[[Any], torch.Tensor] = same


class _Stop(Exception):
    """Raised by the hook of the deepest requested layer: nothing after it is needed."""


def torchvision_weights(architecture: str, member: str = "KINETICS400_V1", tag: str = "kinetics400") -> WeightsChoice:
    """The :class:`WeightsChoice` of a torchvision weights enum member, verified by its file name's hash prefix."""
    weights = torchvision.models.get_model_weights(architecture)[member]
    filename = weights.url.rsplit("/", 1)[-1]
    prefix = re.search(r"-([a-f0-9]{8,})\.", filename).group(1)
    top1 = weights.meta["_metrics"]["Kinetics-400"]["acc@1"]
    return WeightsChoice(
        tag,
        f"torchvision {architecture} {member}: Kinetics-400, clip accuracy {top1:.1f}% (downloaded once, cached)",
        TORCHVISION_LICENCE,
        WeightsFile(name=f"{architecture}.{tag}", filename=filename, urls=(weights.url,), sha256=prefix, licence=TORCHVISION_LICENCE),
    )


class TorchvisionVideoBackbone(Backbone):
    """Base class of the torchvision video backbones; subclasses set the class attributes and :meth:`taps`.

    Class attributes
    ----------------
    architecture
        The torchvision model name (``torchvision.models.get_model``).
    head
        The classifier's module path: its output is the ``logits`` layer.
    mean, std
        Input normalisation of the pretrained weights, on [0, 1] RGB.
    min_size
        The smallest height and width every layer can take.
    """

    architecture: ClassVar[str]
    head: ClassVar[str]
    mean: ClassVar[tuple[float, float, float]] = KINETICS_MEAN
    std: ClassVar[tuple[float, float, float]] = KINETICS_STD
    min_size: ClassVar[int] = 1
    licence = TORCHVISION_LICENCE
    default_weights = "kinetics400"

    def __init__(self, weights: str | None = None, **build_options):
        weights = weights or self.default_weights
        if is_weights_path(weights):
            tag, source, state = f"file:{weights}", str(weights), load_state_dict(weights)
        else:
            choice = self.weights_choice(weights)
            tag, source, state = choice.tag, f"torchvision {self.architecture}, random initialisation", None
            if choice.file is not None:
                state = load_state_dict(self._fetch(choice))
                source = f"torchvision {self.architecture} ({choice.file.urls[0]})"

        try:
            if state is None:
                net = torchvision.models.get_model(self.architecture, **build_options)
            else:
                with torch.device("meta"):  # every tensor comes from the file: initialise nothing
                    net = torchvision.models.get_model(self.architecture, **build_options)
        except TypeError as exc:  # options go to torchvision's builder, which names the one it refuses
            raise BackboneError(
                f"{self.card_name()}: torchvision's {self.architecture} builder does not take the options "
                f"{sorted(build_options)} ({exc}); its options are the keyword arguments of "
                f"torchvision.models.{self.architecture}"
            ) from None
        if state is not None:
            _assign(net, state, source, self.card_name(), self.head)

        classes = self.class_names(_out_features(net.get_submodule(self.head)))
        taps = [*self.taps(net), self.logits_tap(net, len(classes))]
        super().__init__(
            card=BackboneCard(
                name=self.card_name(),
                weights=tag,
                source=source,
                licence=self.licence,
                paper=self.paper,
                input_normalization=f"mean {self.mean}, std {self.std} on [0,1] RGB",
                extra={k: str(v) for k, v in build_options.items()},
                classes=classes,
            ),
            layers=[tap.spec for tap in taps],
            default_layers=self.default_layer_names(net, taps),
        )
        self.net = net
        self._taps = {tap.spec.name: tap for tap in taps}
        self._depth = {tap.spec.name: i for i, tap in enumerate(taps)}
        self.register_buffer("mean_rgb", torch.tensor(self.mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std_rgb", torch.tensor(self.std).view(1, 3, 1, 1, 1), persistent=False)

    # -- what subclasses provide -------------------------------------------------------

    @classmethod
    def card_name(cls) -> str:
        return cls.architecture

    def taps(self, net: nn.Module) -> list[Tap]:
        """Every layer of ``net`` in depth order."""
        raise NotImplementedError

    def class_names(self, count: int) -> tuple[str, ...]:
        """Kinetics-400's class names for a head of 400 outputs (torchvision's metadata), else ``class 0`` … ."""
        names = torchvision.models.get_model_weights(self.architecture)["KINETICS400_V1"].meta["categories"]
        return tuple(names) if count == len(names) else tuple(f"class {i}" for i in range(count))

    def logits_tap(self, net: nn.Module, classes: int) -> Tap:
        """The ``logits`` layer: the head's output ``(B, classes)``."""
        return Tap(LayerSpec("logits", "C", classes, "the classifier's scores, before the softmax"), self.head, same)

    def default_layer_names(self, net: nn.Module, taps: Sequence[Tap]) -> list[str]:
        """Default layers: every layer with a spatial map (``CTHW``)."""
        return [tap.spec.name for tap in taps if tap.spec.axes == "CTHW"]

    # -- the contract ------------------------------------------------------------------

    def normalize(self, video: torch.Tensor) -> torch.Tensor:
        return (video - self.mean_rgb) / self.std_rgb

    def check_input(self, video: torch.Tensor) -> None:
        super().check_input(video)
        height, width = video.shape[-2:]
        if min(height, width) < self.min_size:
            raise BackboneError(
                f"{self.card.name} needs frames of at least {self.min_size}×{self.min_size} pixels, got {height}×{width}; resize the video (--size)"
            )

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        outputs: dict[str, torch.Tensor] = {}
        by_module: dict[str, list[Tap]] = {}
        for name in layers:
            by_module.setdefault(self._taps[name].module, []).append(self._taps[name])
        last = self._taps[max(layers, key=self._depth.__getitem__)].module

        def hook(taps, stop):
            def capture(module, args, output):
                for tap in taps:
                    outputs[tap.spec.name] = tap.convert(output)
                if stop:
                    raise _Stop

            return capture

        handles = [self.net.get_submodule(path).register_forward_hook(hook(taps, path == last)) for path, taps in by_module.items()]
        try:
            self.net(video)
        except _Stop:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return outputs

    # -- weights -----------------------------------------------------------------------

    def _fetch(self, choice: WeightsChoice):
        try:
            return fetch(choice.file)
        except WeightsError as exc:
            raise WeightsError(
                f"{self.card_name()} weights={choice.tag!r} are unavailable: {exc} "
                f"torchvision's own file {choice.file.filename} works too (e.g. from ~/.cache/torch/hub/checkpoints): "
                "pass weights=<its path>. For a run without any download use weights='random'."
            ) from None


def _out_features(head: nn.Module) -> int:
    """How many classes a classifier module scores (its last linear or convolutional layer)."""
    layers = [m for m in head.modules() if isinstance(m, (nn.Linear, nn.Conv3d))]
    return layers[-1].out_features if isinstance(layers[-1], nn.Linear) else layers[-1].out_channels


def _assign(net: nn.Module, state: Mapping[str, torch.Tensor], source: str, name: str, head: str) -> None:
    """Load ``state`` (torchvision's layout, or this backbone's own with a ``net.`` prefix) into a meta-device ``net``."""
    if state and all(key.startswith("net.") for key in state):
        state = {key[len("net.") :]: value for key, value in state.items()}
    state = {key: value.float() if value.is_floating_point() else value for key, value in state.items()}
    own = net.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if missing or unexpected:
        raise WeightsError(
            f"{source} is not a {name} state dict: "
            + "; ".join(
                f"{what} {', '.join(keys[:4])}{'…' if len(keys) > 4 else ''}" for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys
            )
            + f". Expected torchvision's {name} layout (keys such as {next(iter(own))!r})."
        )
    wrong = [f"{key}: {tuple(state[key].shape)} instead of {tuple(value.shape)}" for key, value in own.items() if state[key].shape != value.shape]
    if wrong:
        hint = ""
        if all(key.startswith(head + ".") for key, value in own.items() if state[key].shape != value.shape):
            classes = state[next(key for key in own if key.startswith(head + ".") and key.endswith("weight"))].shape[0]
            hint = f". Only its classifier differs: build the backbone with num_classes={classes} (create_backbone(..., num_classes={classes}))"
        raise WeightsError(f"{source} does not fit {name}: {'; '.join(wrong[:3])}{hint}")
    net.load_state_dict(state, assign=True)
    left = [key for key, value in [*net.named_parameters(), *net.named_buffers()] if value.is_meta]
    if left:  # a tensor that is not in the state dict: a bug of this backbone, not of the file
        raise BackboneError(f"{name}: {', '.join(left[:4])} were not loaded from {source}")
