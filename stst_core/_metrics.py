"""The metric contract: ``metric(generated, target) -> float | dict[str, float]``.

A metric compares a generated video with its target, both
:class:`~stst_core.Video`, and returns a number (or a mapping of named
numbers) that is **distance-like**: 0 for identical videos, larger for more
different ones. Each metric documents what its numbers mean, their units and
any exception to that direction (``novelty`` measures closeness to a copy:
1 is an exact copy).

Metrics are registered by name through ``stst_register_metrics``. As for
losses, a plain function is used as it is, and a class is a factory whose
keyword arguments are the metric's options
(``create_metric("gram", backbone="msoe", weights="analytic")``).

Two videos are comparable when their frames have the same size and they run
at the same frame rate: statistics measured in pixels and frames (spatial
frequency in cycles/pixel, speed in pixels/frame) mean different things
otherwise. Their frame counts may differ. :func:`check_comparable` says what
to do when they are not.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ._errors import ConfigError, RegistryError, VideoError
from ._plugins import build_registered, get_registry
from ._store import StimulusStore, is_store
from ._video import Video, read_video

MetricValue = float | Mapping[str, float]
Metric = Callable[[Video, Video], MetricValue]


def list_metrics(pattern: str | None = None) -> list[str]:
    """Names of the registered metrics, optionally filtered by a wildcard pattern (``"flow*"``)."""
    return get_registry("metrics").names(pattern)


def create_metric(name: str, **options) -> Metric:
    """The metric registered as ``name``, built with ``options`` when it takes any.

    Parameters
    ----------
    name : str
        A registered metric (``stst metrics --list`` or :func:`list_metrics`).
    **options
        Keyword arguments of a metric that is a class; a metric that is a plain
        function takes none.

    Raises
    ------
    RegistryError
        For an unknown name (with close matches).
    ConfigError
        For options the metric does not take.

    Examples
    --------
    >>> flow = create_metric("flow")                                       # doctest: +SKIP
    >>> flow(generated, target)                                            # doctest: +SKIP
    {'speed_histogram': 0.12, 'direction_histogram': 0.31, 'mean_speed': 0.4, 'smoothness': 0.02}
    """
    return build_registered("metrics", name, options, what="metric")


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


def create_metrics(names: Iterable[str] | None = None, options: Mapping[str, Mapping] | None = None) -> dict[str, Metric]:
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
    metrics: Mapping[str, Metric] | None = None,
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
