"""The backbone contract: a frozen network mapping a video to named layer activations.

A backbone takes a video batch ``(B, C, T, H, W)``, float in [0, 1], RGB (the
layout of torchvision's video models), applies its own input normalisation,
and returns ``dict[layer_name, Tensor]`` for the layers asked for. It declares:

- ``layers``: every addressable layer in depth order, each a :class:`LayerSpec`
  whose ``axes`` string gives the layout of one sample's output
  (``"CTHW"``, ``"CHW"``, ``"C"``…; the batch axis is always first and implied);
- ``temporal_window``: how many consecutive frames make one output step
  (1 for a per-frame network such as VGG-19, 2 for MSOE's frame pairs);
- ``weights_choices`` and ``default_weights``: the weights tags it offers, each
  a :class:`~stst_core.WeightsChoice` saying where the tensors come from;
- ``normalization``: a :class:`Normalization`, what the network wants made of
  the [0, 1] RGB input;
- ``card``: a :class:`BackboneCard` in the manner of timm's ``PretrainedCfg``.

The base class does the work these declarations describe: it resolves
``weights`` (default, tag, download, file path; :meth:`Backbone.resolve_weights`),
loads the tensors with clear errors (:meth:`Backbone.load_weights`), applies
the normalisation (:meth:`Backbone.normalize`) and fills in the card.
Parameters are frozen and the module stays in eval mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ._config import check_seed
from ._device import resolve_device
from ._errors import BackboneError, RegistryError, WeightsError
from ._plugins import get_registry
from ._weights import ResolvedWeights, WeightsChoice, WeightsFile, is_weights_path, resolve_weights


@dataclass(frozen=True)
class LayerSpec:
    """One addressable layer: its name, the axes of one sample's output, its channel count."""

    name: str
    axes: str = "CTHW"
    channels: int | None = None
    description: str = ""


@dataclass(frozen=True)
class Normalization:
    """What a backbone makes of its [0, 1] RGB input: ``(scale · x[channels] − mean) / std``, per channel.

    The channels are reordered first (``"BGR"``: Caffe), then scaled, then
    ``mean`` and ``std`` (given in the network's channel order and units) are
    applied. The identity (``Normalization.NONE``) costs nothing.

    Parameters
    ----------
    mean, std
        Three numbers each, in the network's channel order, in the units after ``scale``.
    scale
        Multiplies the input first (255 for networks trained on 0–255 pixels).
    channels
        ``"RGB"`` (as given) or ``"BGR"`` (reversed).
    name
        A short label for the card (``"ImageNet"``).

    Examples
    --------
    >>> import torch
    >>> Normalization.IMAGENET(torch.full((1, 3, 1, 1, 1), 0.485))[0, 0].item()
    0.0
    >>> Normalization.CAFFE.description
    'Caffe: ×255, RGB→BGR, minus mean (103.939, 116.779, 123.68), divided by std (1.0, 1.0, 1.0), in BGR order'
    """

    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = 1.0
    channels: str = "RGB"
    name: str = ""

    #: ImageNet mean and std on [0, 1] RGB (torchvision, timm): ``(x − (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)``.
    IMAGENET: ClassVar[Normalization]
    #: Caffe and Keras: ×255, RGB→BGR, minus the BGR mean (103.939, 116.779, 123.68).
    CAFFE: ClassVar[Normalization]
    #: The identity: the network takes [0, 1] RGB as it is.
    NONE: ClassVar[Normalization]

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"Normalization: mean and std need 3 values each (one per colour channel), got {self.mean} and {self.std}")
        if min(self.std) <= 0 or self.scale <= 0:
            raise ValueError(f"Normalization: std and scale must be positive, got std {self.std}, scale {self.scale}")
        if self.channels not in ("RGB", "BGR"):
            raise ValueError(f"Normalization: channels must be 'RGB' or 'BGR', got {self.channels!r}")

    @property
    def is_identity(self) -> bool:
        """True when the input is passed on unchanged."""
        return self == Normalization(name=self.name)

    @property
    def description(self) -> str:
        """The card's ``input_normalization``: what is done, with every number."""
        if self.is_identity:
            return "none: [0,1] RGB"
        label = f"{self.name}: " if self.name else ""
        if self.scale == 1 and self.channels == "RGB":
            return f"{label}mean {self.mean}, std {self.std} on [0,1] RGB"
        steps = ([f"×{self.scale:g}"] if self.scale != 1 else []) + (["RGB→BGR"] if self.channels == "BGR" else [])
        return f"{label}{', '.join(steps)}, minus mean {self.mean}, divided by std {self.std}, in {self.channels} order"

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        """Normalise a ``(B, 3, T, H, W)`` batch (the numbers as tensors on its device)."""
        if self.is_identity:
            return video
        mean = torch.tensor(self.mean, dtype=video.dtype, device=video.device).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.std, dtype=video.dtype, device=video.device).view(1, 3, 1, 1, 1)
        return self.apply(video, mean, std)

    def apply(self, video: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """Normalise with ``mean`` and ``std`` given as ``(1, 3, 1, 1, 1)`` tensors (a backbone's buffers)."""
        if self.channels == "BGR":
            video = video.flip(1)
        if self.scale != 1:
            video = video * self.scale
        return (video - mean) / std


Normalization.IMAGENET = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), name="ImageNet")
Normalization.CAFFE = Normalization((103.939, 116.779, 123.68), scale=255.0, channels="BGR", name="Caffe")
Normalization.NONE = Normalization()


@dataclass(frozen=True)
class BackboneCard:
    """Provenance of a built backbone: what it is, which weights, from where, under which licence.

    Fields left empty are filled in by :class:`Backbone` from what the class
    declares and what its weights resolved to: ``weights`` and ``source`` from
    :meth:`Backbone.resolve_weights`, ``licence`` and ``paper`` from the class
    attributes, ``input_normalization`` from its :class:`Normalization`.
    """

    name: str
    weights: str = ""
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
    info`` reads them), and the base class acts on them:

    ``paper``, ``licence``
        Fill the card's fields of the same names.
    ``weights_choices``, ``default_weights``
        The weights tags on offer (:class:`~stst_core.WeightsChoice`) and the
        one ``weights=None`` means; :meth:`resolve_weights` resolves them.
    ``accepts_weight_files``
        Whether ``weights`` may be a path.
    ``normalization``
        The :class:`Normalization` :meth:`normalize` applies (a constructor
        may pass another one to ``__init__``, for an option).
    ``weights_help``
        Appended to the error for a weights file that does not fit.
    ``temporal_window``, ``min_size``
        Consecutive frames per output step; the smallest frame side, in
        pixels, that every layer takes.

    A subclass's constructor takes ``weights`` first, passes it on to
    ``super().__init__(card, layers, default_layers, weights=weights)``,
    builds its modules, and calls :meth:`load_weights`.

    Parameters
    ----------
    card
        The backbone's :class:`BackboneCard`: its ``name``, ``extra`` (the
        options) and ``classes``; empty fields are filled in as its docstring
        says. A card that names ``weights`` itself is taken as it is (nothing
        is resolved).
    layers
        Every layer, in depth order.
    default_layers
        The layers :meth:`forward` returns when none are asked for.
    weights
        The constructor's ``weights`` argument (a tag, a path, None for the
        default), or what :meth:`resolve_weights` made of it; kept as
        ``self.resolved_weights``.
    normalization
        Replaces the class's :attr:`normalization` for this instance (an option
        that chooses it).

    Examples
    --------
    >>> from stst_core import BackboneCard, LayerSpec, Normalization, WeightsChoice
    >>> class Identity(Backbone):
    ...     weights_choices = (WeightsChoice("random", "nothing to initialise"),)
    ...     normalization = Normalization.IMAGENET
    ...     def __init__(self, weights=None):
    ...         super().__init__(BackboneCard(name="identity"), [LayerSpec("x")], ["x"], weights=weights)
    ...     def compute(self, video, layers):
    ...         return {"x": video}
    >>> net = Identity()
    >>> net.card.weights, net.card.input_normalization
    ('random', 'ImageNet: mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) on [0,1] RGB')
    >>> round(net(torch.full((1, 3, 1, 1, 1), 0.5))["x"][0, 0].item(), 4)  # (0.5 − 0.485) / 0.229
    0.0655
    """

    paper: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    weights_choices: ClassVar[tuple[WeightsChoice, ...]] = ()
    default_weights: ClassVar[str] = "random"
    #: Whether ``weights`` may be a path to a file (shown as ``PATH`` by ``stst backbones info``);
    #: set it to False for a backbone whose weights come only from its tags.
    accepts_weight_files: ClassVar[bool] = True
    normalization: ClassVar[Normalization] = Normalization.NONE
    weights_help: ClassVar[str] = ""
    temporal_window: ClassVar[int] = 1
    min_size: ClassVar[int] = 1

    def __init__(
        self,
        card: BackboneCard,
        layers: Sequence[LayerSpec],
        default_layers: Sequence[str],
        *,
        weights: str | Path | ResolvedWeights | None = None,
        normalization: Normalization | None = None,
    ):
        super().__init__()
        if card.weights:  # the card names its weights itself: nothing to resolve
            if weights is not None:
                raise TypeError(f"{card.name}: give the weights in the card or as weights=, not both")
            resolved = ResolvedWeights(card.weights, card.source)
        else:
            resolved = weights if isinstance(weights, ResolvedWeights) else self.resolve_weights(weights)
        self.resolved_weights = resolved
        self.normalization = self.normalization if normalization is None else normalization
        described = type(self).normalize is Backbone.normalize  # a normalize of its own is described by its card only
        self.card = dataclasses.replace(
            card,
            weights=resolved.tag,
            source=card.source or resolved.source,
            licence=card.licence or self.licence,
            paper=card.paper or self.paper,
            input_normalization=card.input_normalization or (self.normalization.description if described else ""),
        )
        if not self.normalization.is_identity:
            # buffers, so that the numbers move with the module (.to(device)); not in the state dict
            self.register_buffer("normalization_mean", torch.tensor(self.normalization.mean).view(1, 3, 1, 1, 1), persistent=False)
            self.register_buffer("normalization_std", torch.tensor(self.normalization.std).view(1, 3, 1, 1, 1), persistent=False)
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
        """Map a [0, 1] RGB batch to what the network expects, as its :class:`Normalization` says.

        Override it only for what a :class:`Normalization` cannot say (and
        then describe it in the card's ``input_normalization``).
        """
        if self.normalization.is_identity:
            return video
        return self.normalization.apply(video, self.normalization_mean, self.normalization_std)

    # -- weights -----------------------------------------------------------------------

    @classmethod
    def weights_tags(cls) -> list[str]:
        """The tags of :attr:`weights_choices`, in order (a path is accepted besides them when :attr:`accepts_weight_files`)."""
        return [choice.tag for choice in cls.weights_choices]

    @classmethod
    def weights_choice(cls, tag: str) -> WeightsChoice:
        """The :class:`~stst_core.WeightsChoice` of ``tag``.

        Raises
        ------
        BackboneError
            For a tag the class does not offer; the message names those it does.
        """
        for choice in cls.weights_choices:
            if choice.tag == tag:
                return choice
        allowed = ", ".join(cls.weights_tags()) + (" or a path to a weights file" if cls.accepts_weight_files else "")
        raise BackboneError(f"unknown weights {tag!r} for {cls.__name__}; choose {allowed}")

    @classmethod
    def resolve_weights(cls, weights: str | Path | None = None, *, file: WeightsFile | None = None) -> ResolvedWeights:
        """Resolve a ``weights=`` value against the class's declarations; downloads a file the tag needs.

        ``__init__`` calls it; call it yourself first when the network's
        construction depends on the weights (built on the meta device when
        every tensor comes from a file), and pass the result on as ``weights``.

        Parameters
        ----------
        weights
            A tag of :attr:`weights_choices`, a path (when
            :attr:`accepts_weight_files`), or None for :attr:`default_weights`.
        file
            The file of the chosen tag when only the built backbone knows it
            (a family's member, ``timm:<model>``).

        Returns
        -------
        ResolvedWeights
            The card's tag and source, and the file or function that gives the tensors.

        Raises
        ------
        BackboneError
            An unknown tag (naming the known ones), or a path where none is accepted.
        WeightsError
            A missing file, or a download that cannot be had (saying where to put the file).

        Examples
        --------
        >>> from stst_core import backbone_class
        >>> backbone_class("msoe").resolve_weights("analytic").tag  # doctest: +SKIP
        'analytic'
        """
        return resolve_weights(weights, cls.weights_choices, default=cls.default_weights, owner=cls.__name__, accepts_files=cls.accepts_weight_files, file=file)

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a loaded state dict to the layout of the module :meth:`load_weights` fills; identity by default.

        Override it for files in other layouts (a reference implementation's
        names, TensorFlow's axis order, torchvision's classifier as a matrix):
        return the tensors under the module's own keys. Raise
        :class:`~stst_core.WeightsError` for a file that cannot be one of
        this backbone's; keys left missing are reported by :meth:`load_weights`.
        """
        return state

    def load_weights(self, state: Mapping[str, torch.Tensor] | None = None, *, module: nn.Module | None = None, assign: bool = False) -> None:
        """Load the resolved weights into ``module`` (default: the whole backbone), strictly.

        Nothing happens for random weights: the network keeps its seeded
        initialisation. Otherwise the state dict (``state``, or
        ``self.resolved_weights.state_dict()``) goes through
        :meth:`convert_state_dict`; a file saved from the backbone itself,
        whose keys carry ``module``'s path as a prefix (``net.``), loads too.
        Floating-point tensors take the dtype of the module's own.

        Parameters
        ----------
        state
            The tensors, if the constructor already has them (it looked at
            them to decide the architecture).
        module
            A submodule of the backbone (``self.net``) to fill instead of the backbone.
        assign
            Assign the tensors instead of copying them: for a module built on
            the meta device, where nothing was initialised.

        Raises
        ------
        WeightsError
            For missing, unexpected or mis-shaped keys, naming them, the file
            and :attr:`weights_help`; the module is left unchanged.
        """
        if state is None:
            state = self.resolved_weights.state_dict()
            if state is None:
                return
        target = self if module is None else module
        state = self.convert_state_dict(dict(state))
        prefix = next((f"{path}." for path, child in self.named_modules() if child is target and path), "")
        if prefix and state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: value for key, value in state.items()}
        own = target.state_dict()
        # a half-precision file loads into a float32 network as float32 (assign=True would keep the file's dtype)
        floating = {key for key, value in own.items() if value.is_floating_point()}
        state = {key: value.to(own[key].dtype) if key in floating and value.is_floating_point() else value for key, value in state.items()}
        missing = [key for key in own if key not in state]
        unexpected = [key for key in state if key not in own]
        misshaped = [
            f"{key}: {tuple(state[key].shape)} instead of {tuple(own[key].shape)}" for key in own if key in state and state[key].shape != own[key].shape
        ]
        problems = [
            f"{what} {', '.join(keys[:4])}{'…' if len(keys) > 4 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if keys
        ]
        if problems:
            expected = (
                self.weights_help
                or f"Expected a state dict in this backbone's layout (keys such as {next(iter(own), '?')!r}), from a backbone built with the same options."
            )
            raise WeightsError(f"{self.resolved_weights.source} does not fit {self.card.name} ({'; '.join(problems)}). {expected}")
        target.load_state_dict(state, assign=assign)
        if assign:
            left = [key for key, value in [*target.named_parameters(), *target.named_buffers()] if value.is_meta]
            if left:  # a tensor that is in no state dict (a non-persistent buffer): a bug of the backbone, not of the file
                raise BackboneError(f"{self.card.name}: {', '.join(left[:4])} were not loaded from {self.resolved_weights.source}")

    # -- helpers -----------------------------------------------------------------------

    def resolve_layers(self, layers: Iterable[str] | str | None) -> list[str]:
        """The layer names ``layers`` stands for: None → ``default_layers``, ``"all"``, ``"a,b"`` or a list; unknown names are a :class:`~stst_core.BackboneError`."""
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
        """Refuse an input that breaks the contract, before any computation: called by :meth:`forward`.

        The base checks a float batch ``(B, 3, T, H, W)`` of at least
        :attr:`temporal_window` frames. A subclass that needs more (a minimum
        or exact frame size) overrides it, calls ``super().check_input(video)``
        first and raises :class:`~stst_core.BackboneError` naming the size it
        needs and the size it got.

        Parameters
        ----------
        video
            The batch as given to :meth:`forward`, before normalisation.

        Raises
        ------
        BackboneError
            Naming what is wrong and how to fix it.
        """
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
    """Fold time into the batch, ``(B, C, T, H, W)`` → ``(B·T, C, H, W)``, for a network that sees one frame at a time.

    Frame ``t`` of sample ``b`` becomes item ``b·T + t``; :func:`unfold_time`
    undoes it. A per-frame backbone's ``compute`` folds the clip, runs an
    image network, and unfolds each layer.

    Parameters
    ----------
    video
        A video batch ``(B, C, T, H, W)``.

    Returns
    -------
    torch.Tensor
        ``(B·T, C, H, W)`` (a copy when the input is not contiguous in that order).

    Examples
    --------
    >>> import torch
    >>> frames = fold_time(torch.rand(2, 3, 4, 8, 8))
    >>> frames.shape
    torch.Size([8, 3, 8, 8])
    >>> unfold_time(frames, batch=2).shape
    torch.Size([2, 3, 4, 8, 8])
    """
    b, c, t, h, w = video.shape
    return video.transpose(1, 2).reshape(b * t, c, h, w)


def unfold_time(frames: torch.Tensor, batch: int) -> torch.Tensor:
    """Unfold the batch back into time, ``(B·T, C, H, W)`` → ``(B, C, T, H, W)``: the inverse of :func:`fold_time`.

    Parameters
    ----------
    frames
        Per-frame outputs ``(B·T, C, H, W)``, in :func:`fold_time`'s order;
        ``C``, ``H`` and ``W`` may differ from the input's (a layer's channels
        and resolution).
    batch
        ``B``, the batch size of the video that was folded.

    Returns
    -------
    torch.Tensor
        ``(B, C, T, H, W)``, a view where possible.
    """
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
        torch.manual_seed(check_seed(seed))
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
    "Normalization",
    "WeightsChoice",
    "backbone_class",
    "create_backbone",
    "fold_time",
    "is_weights_path",
    "list_backbones",
    "unfold_time",
]
