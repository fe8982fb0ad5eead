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
is initialised twice. Resolving the tag, downloading, normalising the input
and checking the file's keys are the :class:`stst_core.Backbone` base's work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torchvision
from torch import nn

from stst_core import Backbone, BackboneCard, BackboneError, LayerSpec, Normalization, WeightsChoice, WeightsError, WeightsFile

# the statistics torchvision trained its Kinetics-400 video models with
KINETICS = Normalization((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989), name="Kinetics-400")
TORCHVISION_LICENCE = "torchvision (BSD-3-Clause); pretrained weights published by torchvision, trained on Kinetics-400"
RANDOM = WeightsChoice("random", "torchvision's initialisation under the given seed")


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
        hint=f"torchvision's own file {filename} works too (e.g. from ~/.cache/torch/hub/checkpoints): pass weights=<its path>.",
    )


class TorchvisionVideoBackbone(Backbone):
    """Base class of the torchvision video backbones; subclasses set the class attributes and :meth:`taps`.

    Class attributes
    ----------------
    architecture
        The torchvision model name (``torchvision.models.get_model``).
    head
        The classifier's module path: its output is the ``logits`` layer.
    normalization
        Input normalisation of the pretrained weights (Kinetics-400 statistics unless a subclass says otherwise).
    min_size
        The smallest height and width every layer can take.
    """

    architecture: ClassVar[str]
    head: ClassVar[str]
    normalization = KINETICS
    min_size: ClassVar[int] = 1
    licence = TORCHVISION_LICENCE
    default_weights = "kinetics400"

    def __init__(self, weights: str | None = None, **build_options):
        resolved = self.resolve_weights(weights)
        try:
            if resolved.is_random:
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

        classes = self.class_names(_out_features(net.get_submodule(self.head)))
        taps = [*self.taps(net), self.logits_tap(net, len(classes))]
        super().__init__(
            card=BackboneCard(name=self.card_name(), extra={k: str(v) for k, v in build_options.items()}, classes=classes),
            layers=[tap.spec for tap in taps],
            default_layers=self.default_layer_names(net, taps),
            weights=resolved,
        )
        self.net = net
        self._taps = {tap.spec.name: tap for tap in taps}
        self._depth = {tap.spec.name: i for i, tap in enumerate(taps)}
        self.load_weights(module=self.net, assign=True)

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

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A file whose only misfit is its classifier (another number of classes) gets a message saying which ``num_classes`` fits it."""
        prefix = "net." if state and all(key.startswith("net.") for key in state) else ""
        own = self.net.state_dict()
        wrong = [key for key, value in own.items() if prefix + key in state and state[prefix + key].shape != value.shape]
        if wrong and all(key.startswith(self.head + ".") for key in wrong) and set(state) == {prefix + key for key in own}:
            weight = next(key for key in own if key.startswith(self.head + ".") and key.endswith("weight"))
            classes = state[prefix + weight].shape[0]
            raise WeightsError(
                f"{self.resolved_weights.source} does not fit {self.card.name}: "
                + "; ".join(f"{key}: {tuple(state[prefix + key].shape)} instead of {tuple(own[key].shape)}" for key in wrong[:3])
                + f". Only its classifier differs: build the backbone with num_classes={classes} (create_backbone(..., num_classes={classes}))"
            )
        return state


def _out_features(head: nn.Module) -> int:
    """How many classes a classifier module scores (its last linear or convolutional layer)."""
    layers = [m for m in head.modules() if isinstance(m, (nn.Linear, nn.Conv3d))]
    return layers[-1].out_features if isinstance(layers[-1], nn.Linear) else layers[-1].out_channels
