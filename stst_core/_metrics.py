"""The metric contract: ``metric(generated, target) -> float | dict[str, float]``, and its base class.

A metric compares a generated video with its target, both
:class:`~stst_core.Video`, and returns a number (or a mapping of named
numbers) that is **distance-like**: 0 for identical videos, larger for more
different ones. Each metric documents what its numbers mean, their units and
any exception to that direction (``novelty`` measures closeness to a copy:
1 is an exact copy).

Metrics are registered by name through ``stst_register_metrics``. A plain
function ``metric(generated, target)`` is used as it is and takes no options;
a class is a factory whose typed keyword arguments are the metric's options
(``create_metric("gram", backbone="msoe", weights="analytic")``), checked by
:meth:`Registry.create <stst_core._registry.Registry.create>`. Subclasses of
:class:`Metric` get the rest of the contract from the base: options as typed
fields, the checks of the inputs and a flat record of the result.

Two videos are comparable when their frames have the same size and they run
at the same frame rate: statistics measured in pixels and frames (spatial
frequency in cycles/pixel, speed in pixels/frame) mean different things
otherwise. Their frame counts may differ. :func:`check_comparable` says what
to do when they are not; :func:`evaluate_metrics` checks it once before any
metric runs, and a :class:`Metric` checks it again (with its own
``min_frames``) whenever it is called.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from ._config import check_arguments
from ._errors import ConfigError, RegistryError, VideoError
from ._plugins import get_registry
from ._video import Video, read_video

MetricValue = float | Mapping[str, float]
MetricFunction = Callable[[Video, Video], MetricValue]

# ITU-R BT.601 luma, as OpenCV's and Pillow's RGB → grey conversions and the first-party metrics
LUMA = (0.299, 0.587, 0.114)


@typing.dataclass_transform()
class Metric:
    """Base class of metrics: typed options, checked inputs, and the result as a flat record.

    A subclass declares its options as annotated class attributes with
    defaults (the class is made a :mod:`dataclass <dataclasses>`), and
    implements :meth:`compare`::

        class BlinkDistance(Metric):
            # its docstring's first line is the summary that listings show
            name = "blink"
            step: Annotated[int, Range(ge=1)] = 1

            def compare(self, generated, target):
                ...  # a number, or a mapping of named numbers

    ``create_metric`` (and the constructor itself) checks the options against
    their annotations, so ``BlinkDistance(step=0)`` is a
    :class:`ConfigError` naming ``step``. A subclass that needs more set-up
    defines ``__post_init__`` and calls ``super().__post_init__()`` first;
    values derived from the options go in attributes of their own, so that
    :attr:`settings` rebuilds the same metric. The plugin guide's metric
    contract has the whole example.

    Calling a metric, ``metric(generated, target)``:

    1. checks that the two are comparable (:func:`check_comparable`: one frame
       size, one frame rate, at least ``min_frames`` frames each), raising
       :class:`VideoError` before :meth:`compare` runs;
    2. makes their channels agree: when one video is grey and the other RGB,
       the RGB one is reduced to luma (``0.299 R + 0.587 G + 0.114 B``), so
       that a grey stimulus is judged on what it has; a metric with
       ``needs_rgb = True`` (one that runs an RGB network) then gets grey
       videos as three equal channels;
    3. calls :meth:`compare` and returns its number, or mapping of numbers,
       as plain floats (anything else is a :class:`RegistryError` naming the
       metric).

    Attributes
    ----------
    name : str
        The name the metric is registered under, used in messages and in
        :meth:`evaluate`'s keys (default: the class name).
    summary : str
        One line for listings and ``metrics.json``; default: the first line
        of the class docstring.
    min_frames : int
        Frames each video needs (a class attribute, or a property when it
        depends on the options).
    needs_rgb : bool
        Whether :meth:`compare` needs three channels.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    min_frames: ClassVar[int] = 1
    needs_rgb: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        doc = (cls.__dict__.get("__doc__") or "").strip()
        if "summary" not in cls.__dict__:
            cls.summary = doc.splitlines()[0] if doc else ""
        if not cls.name:
            cls.name = cls.__name__
        dataclasses.dataclass(cls, eq=False)  # identity, not field values: a metric may hold a network

    def __post_init__(self) -> None:
        for key, value in check_arguments(type(self), self.settings, label=f"metric {self.name!r}").items():
            setattr(self, key, value)

    @property
    def settings(self) -> dict[str, Any]:
        """The options and their values (``{"directions": 8}``): what rebuilds this metric, ``type(m)(**m.settings)``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def compare(self, generated: Video, target: Video) -> MetricValue:
        """The metric's value for two comparable videos with the same number of channels."""
        raise NotImplementedError(f"{type(self).__name__} must implement compare(generated, target)")

    def check_inputs(self, generated: Video, target: Video) -> tuple[Video, Video]:
        """The two videos as :meth:`compare` receives them, or a :class:`VideoError` saying what to change."""
        check_comparable(generated, target, metric=self.name, min_frames=self.min_frames)
        if generated.channels != target.channels:
            generated, target = (video if video.channels == 1 else grey(video) for video in (generated, target))
        if self.needs_rgb and generated.channels == 1:
            generated, target = (Video(v.frames.expand(3, -1, -1, -1).contiguous(), v.fps, v.source) for v in (generated, target))
        return generated, target

    def __call__(self, generated: Video, target: Video) -> MetricValue:
        generated, target = self.check_inputs(generated, target)
        value = self.compare(generated, target)
        if isinstance(value, Mapping):
            return {str(key): _number(self.name, v) for key, v in value.items()}
        return _number(self.name, value)

    def evaluate(self, generated: Video, target: Video) -> dict[str, float]:
        """The result as a flat record: ``{name: value}``, or ``{name.key: value}`` per entry of a mapping."""
        return flatten(self.name, self(generated, target))


def grey(video: Video) -> Video:
    """The luma ``0.299 R + 0.587 G + 0.114 B`` of an RGB video as a one-channel video (a grey one as it is)."""
    if video.channels == 1:
        return video
    weights = torch.tensor(LUMA, dtype=video.frames.dtype, device=video.frames.device).view(3, 1, 1, 1)
    return Video((video.frames * weights).sum(0, keepdim=True).clamp(0, 1), video.fps, video.source)


def list_metrics(pattern: str | None = None) -> list[str]:
    """Names of the registered metrics, optionally filtered by a wildcard pattern (``"flow*"``)."""
    return get_registry("metrics").names(pattern)


def create_metric(name: str, **options) -> MetricFunction:
    """The metric registered as ``name``, built with ``options`` when it takes any.

    Parameters
    ----------
    name : str
        A registered metric (``stst metrics list`` or :func:`list_metrics`).
    **options
        Keyword arguments of a metric that is a class, checked against its
        typed signature (``"16"`` is taken as 16 where an integer is
        expected); a metric that is a plain function takes none.

    Raises
    ------
    RegistryError
        For an unknown name (with close matches).
    ConfigError
        For an option the metric does not take (naming those it does) or a
        bad value (naming the option and what it must be).

    Examples
    --------
    >>> flow = create_metric("flow", directions=16)                        # doctest: +SKIP
    >>> flow(generated, target)                                            # doctest: +SKIP
    {'speed_histogram': 0.12, 'direction_histogram': 0.31, 'mean_speed': 0.4, 'smoothness': 0.02}
    >>> create_metric("flow", directions=0)                                # doctest: +SKIP
    ConfigError: metric 'flow': directions must be an integer ≥ 1, got 0
    """
    return get_registry("metrics").create(name, **options)


def resolve_metric_names(patterns: Iterable[str] | None = None) -> list[str]:
    """Registered names matching any of ``patterns`` (names or wildcards), in registry order; all when None.

    A pattern that matches nothing is an error naming the known metrics.
    """
    registry = get_registry("metrics")
    if patterns is None:
        return registry.names()
    names: list[str] = []
    for pattern in patterns:
        matched = registry.names(pattern) if any(c in pattern for c in "*?[") else [registry.get(pattern).name]
        if not matched:
            raise RegistryError(f"no metric matches {pattern!r}; known metrics: {', '.join(registry.names()) or 'none'}")
        names += [n for n in matched if n not in names]
    return names


def check_comparable(generated: Video, target: Video, *, metric: str = "metrics", min_frames: int = 1) -> None:
    """Raise :class:`VideoError` unless the two videos can be compared by ``metric``.

    They must have frames of the same size, the same frame rate (within
    0.1 %), and at least ``min_frames`` frames each.
    """
    g, t = generated.source or "the generated video", target.source or "the target"
    if (generated.height, generated.width) != (target.height, target.width):
        same_shape = math.isclose(generated.height * target.width, target.height * generated.width, rel_tol=0.02)
        advice = (
            "Bring both to one size first (stst metrics --size PX, or Video.resized)"
            if same_shape
            else "Their aspect ratios differ too, so resizing alone cannot match them: crop one (Video.center_cropped) or compare it with its own target"
        )
        raise VideoError(
            f"{metric}: {g} is {generated.height}x{generated.width} (height x width) but {t} is "
            f"{target.height}x{target.width}; spatial frequencies and speeds in pixels would not be comparable. {advice}"
        )
    if not math.isclose(generated.fps, target.fps, rel_tol=1e-3):
        raise VideoError(
            f"{metric}: {g} runs at {generated.fps:g} fps but {t} at {target.fps:g} fps; motion per frame would "
            "not be comparable. Resample one of them (e.g. read it with a stride) so that the rates agree"
        )
    for video, where in ((generated, g), (target, t)):
        if video.num_frames < min_frames:
            raise VideoError(f"{metric} needs at least {min_frames} frames, but {where} has {video.num_frames}; give longer clips")


def flatten(name: str, value: MetricValue) -> dict[str, float]:
    """``{name: value}`` for a number, ``{name.key: value}`` for each entry of a mapping."""
    if isinstance(value, Mapping):
        return {f"{name}.{key}": _number(name, v) for key, v in value.items()}
    return {name: _number(name, value)}


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            return float(value)  # 0-d arrays and tensors
        except (TypeError, ValueError):
            entry = get_registry("metrics").get(name) if name in get_registry("metrics") else None
            who = f" (plugin {entry.plugin})" if entry and entry.plugin else ""
            raise RegistryError(f"metric {name!r}{who} returned {type(value).__name__}, not a number or a mapping of numbers") from None
    return float(value)


def create_metrics(names: Iterable[str] | None = None, options: Mapping[str, Mapping] | None = None) -> dict[str, MetricFunction]:
    """Build the metrics matching ``names`` (names or wildcards; all by default), each with its ``options[name]``."""
    options = {k.lower(): v for k, v in (options or {}).items()}
    resolved = resolve_metric_names(names)
    unused = sorted(set(options) - set(resolved))
    if unused:
        raise ConfigError(f"options given for metric(s) {', '.join(unused)}, which are not evaluated ({', '.join(resolved)})")
    return {name: create_metric(name, **options.get(name, {})) for name in resolved}


def evaluate_metrics(
    generated: Video,
    target: Video,
    names: Sequence[str] | None = None,
    *,
    options: Mapping[str, Mapping] | None = None,
    metrics: Mapping[str, MetricFunction] | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Every metric of ``generated`` against ``target``, flattened to ``{name or name.key: value}``.

    Parameters
    ----------
    generated, target : Video
        Videos with frames of one size and one frame rate (see
        :func:`check_comparable`).
    names : list of str, optional
        Metric names or wildcard patterns; default: every registered metric.
    options : dict, optional
        ``{metric name: {option: value}}`` for metrics that take options.
    metrics : dict, optional
        Already built metrics ``{name: metric}`` (e.g. from
        :func:`create_metrics`, to reuse them over many videos); then
        ``names`` and ``options`` are not used.
    progress : bool
        Show a progress bar over the metrics.

    Returns
    -------
    dict
        A dict-valued metric contributes one entry per key, named
        ``metric.key`` (``"flow.mean_speed"``).

    Examples
    --------
    >>> evaluate_metrics(generated, target, ["pixels", "flow"])            # doctest: +SKIP
    {'pixels.mean_luminance': 0.01, ..., 'flow.smoothness': 0.03}
    """
    check_comparable(generated, target)
    metrics = dict(metrics) if metrics is not None else create_metrics(names, options)
    values: dict[str, float] = {}
    for name, metric in tqdm(metrics.items(), desc="metrics", disable=not progress, leave=False):
        values.update(flatten(name, metric(generated, target)))
    return values


def read_stimulus(path: str | Path, *, start: int = 0, num_frames: int | None = None, stride: int = 1, size: int | None = None) -> tuple[Video, Video | None]:
    """A generated video from a stimulus store or a video file, and the target it was made from (if known).

    A stimulus store gives its generated video and its own target (the input
    the method saw); any other path is read with :func:`read_video` and has no
    known target (``None``). The selection and resizing options apply to both.

    Raises
    ------
    VideoError
        If the path does not exist or cannot be read.
    """
    from ._store import StimulusStore, is_store  # zarr and xarray: only when a store is read

    path = Path(path)
    if is_store(path):
        store = StimulusStore(path)
        videos = [store.video(), store.target()]
        selected = []
        for video in videos:
            video = video.select(start, num_frames, stride)
            selected.append(video.resized(size) if size else video)
        return selected[0], selected[1]
    return read_video(path, start=start, num_frames=num_frames, stride=stride, size=size), None
