"""The options every ``stst`` command shares, declared once so that each means one thing everywhere.

- ``--start``, ``--frames``, ``--stride``, ``--size``, ``--crop``: which frames
  of an input video, in that order: from frame ``--start`` take every
  ``--stride``-th frame, ``--frames`` of them, resize so that the *longer
  side* is ``--size`` pixels (aspect ratio kept), then keep the central
  ``--crop`` pixels. Where a command offers it (``stst synth``), ``--crop
  square`` instead takes the central square of each frame as read (its side
  the shorter side) *before* ``--size``. A stimulus store's own frames are
  used as they are.
- ``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked against the
  machine before any work (:func:`stst_core.resolve_device`).
- ``--seed``: the seed of everything random in the command.
- ``--deterministic / --no-deterministic``: deterministic algorithms only
  (:func:`stst_core.deterministic`); on by default when ``--seed`` is given.
- ``--set KEY=VALUE``: overrides one setting of a *configuration* (a preset);
  nowhere else.
- ``--option [NAME.]KEY=VALUE``: an option of a registered component (a
  backbone, a metric): ``NAME.`` says which where a command builds several.

Plugins use the same decorators for their own commands (``from stst_core.cli
import video_options, device_option``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import click
from click.core import ParameterSource

from .._config import MAX_SEED, parse_value
from .._device import resolve_device
from .._errors import ConfigError, STSTError

MIN_SIZE = 8  # below this no backbone has a receptive field; each method checks its own minimum
MAX_SIZE = 8192  # 8K: beyond it one RGB float frame alone passes 800 MB, and no video codec here takes it


def parse_crop(ctx, param, value: str | None, *, square: bool = False) -> tuple[int, int] | str | None:
    """``"HxW"`` or ``"N"`` → ``(H, W)``; with ``square``, ``"square"`` too (kept as the string, for :func:`stst_core.read_video`)."""
    if value is None:
        return None
    if square and value.strip().lower() == "square":
        return "square"
    try:
        sizes = [int(part) for part in value.lower().split("x")]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        forms = "HEIGHTxWIDTH, one size or 'square', e.g. 64x96, 64 or square" if square else "HEIGHTxWIDTH or one size, e.g. 64x96 or 64"
        raise click.BadParameter(f"expected {forms}; got {value!r}")
    return (sizes[0], sizes[-1])


def video_options(*, frames: int | None = None, size: int | None = None, crop: bool = True, square_crop: bool = False, what: str = "input"):
    """Decorator adding ``--start --frames --stride --size`` (and ``--crop``) with their one meaning.

    ``frames`` and ``size`` are the defaults (None: all frames, native size).
    The command receives ``start, frames, stride, size`` (and ``crop``),
    ready for :func:`stst_core.read_video` (``num_frames=frames``).
    ``square_crop``: ``--crop square`` is accepted too (the central square of
    each frame as read, before ``--size``), and ``crop`` is then ``"square"``;
    only for commands that hand ``crop`` to :func:`stst_core.read_video`.
    """
    if square_crop:
        crop_help = (
            "Keep the central HxW pixels (N: a square) after --size, so that clips of other shapes match; "
            "or 'square': the central square of each frame as read (side: the shorter side), before --size, "
            "as the two-stream reference reads its frames (--crop square --size 256: 256x256 from any frame shape)."
        )
    else:
        crop_help = "Then keep the central HxW pixels (N: a square), so that clips of other shapes match."
    declared = [
        click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help=f"First frame of each {what}."),
        click.option(
            "--frames",
            type=click.IntRange(min=1),
            default=frames,
            show_default=frames is not None,
            help=f"Use N frames of each {what}" + ("." if frames is not None else " (default: all)."),
        ),
        click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True, help="Take every Nth frame."),
        click.option(
            "--size",
            type=click.IntRange(min=MIN_SIZE, max=MAX_SIZE),
            default=size,
            show_default=size is not None,
            help="Resize so that the longer side has PX pixels (aspect ratio kept; default: as stored).",
        ),
    ]
    if crop:
        declared.append(
            click.option(
                "--crop",
                callback=functools.partial(parse_crop, square=square_crop),
                metavar="HxW|N|square" if square_crop else "HxW|N",
                help=crop_help,
            )
        )

    def decorate(function):
        for option in reversed(declared):
            function = option(function)
        return function

    return decorate


def _device(ctx, param, value: str) -> str:
    try:
        return str(resolve_device(value))
    except STSTError as exc:
        raise click.BadParameter(str(exc)) from None


def device_option(function):
    """Decorator adding ``--device`` (default cpu), checked against this machine before any work."""
    return click.option("--device", default="cpu", show_default=True, callback=_device, help="cpu, cuda, cuda:N or mps.")(function)


def seed_option(function):
    """Decorator adding ``--seed`` (default 0): the same seed on the same device gives the same result."""
    return click.option(
        "--seed",
        type=click.IntRange(min=0, max=MAX_SEED),
        default=0,
        show_default=True,
        help="Random seed: the same seed on the same device gives the same result.",
    )(function)


def deterministic_option(function):
    """Decorator adding ``--deterministic/--no-deterministic``, received as ``deterministic``: True, False or None (not said).

    None means "as ``--seed`` says": on when ``--seed`` was given (see
    :func:`seed_given`). The command switches with
    :func:`stst_core.deterministic`.
    """
    return click.option(
        "--deterministic/--no-deterministic",
        default=None,
        help=(
            "Use only deterministic algorithms (torch.use_deterministic_algorithms, cuDNN's deterministic mode, "
            "CUBLAS_WORKSPACE_CONFIG=:4096:8), so that a run repeats bit for bit on the same kind of device; "
            "an operation that has none then stops the run (--no-deterministic lets it run). "
            "Default: on when --seed is given, else off."
        ),
    )(function)


def seed_given(ctx: click.Context) -> bool:
    """Whether ``--seed`` was given (on the command line, in the environment or a default map) to this command or to the one that invoked it."""
    while ctx is not None:
        source = ctx.get_parameter_source("seed")
        if source is not None:
            return source is not ParameterSource.DEFAULT
        ctx = ctx.parent
    return False


def set_option(function):
    """Decorator adding ``--set KEY=VALUE`` (repeatable): overrides of a configuration, received as ``overrides``."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override one setting, e.g. --set octaves.0.steps=100 (repeatable).")(
        function
    )


def option_option(*, named: bool, example: str):
    """Decorator adding ``--option`` (repeatable); the command receives the raw strings as ``options``.

    ``named``: the command builds several components, so each item is
    ``NAME.KEY=VALUE``. Turn them into a dict with :func:`parse_options`
    (``parse_options(options, named=named)``); ``example`` is shown in the help.
    """
    metavar = "NAME.KEY=VALUE" if named else "KEY=VALUE"
    return click.option("--option", "options", multiple=True, metavar=metavar, help=f"An option, e.g. --option {example} (repeatable).")


def parse_options(items: Sequence[str], *, named: bool = False) -> dict[str, Any]:
    """``--option`` values as a dict: ``{"key": value}``, or ``{"name": {"key": value}}`` when ``named``.

    Values are TOML (``3``, ``true``, ``[1, 2]``, ``"text"``); anything else is a string.

    >>> parse_options(["levels=2", "pooling=avg"])
    {'levels': 2, 'pooling': 'avg'}
    >>> parse_options(["gram.backbone=msoe"], named=True)
    {'gram': {'backbone': 'msoe'}}
    """
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if named:
            name, dot, key = key.partition(".")
            if not (sep and dot and name and key):
                raise ConfigError(f"--option expects NAME.KEY=VALUE (e.g. gram.backbone=msoe), got {item!r}")
            parsed.setdefault(name.lower(), {})[key] = parse_value(text)
        else:
            if not (sep and key):
                raise ConfigError(f"--option expects KEY=VALUE (e.g. levels=2), got {item!r}")
            parsed[key] = parse_value(text)
    return parsed


def quiet_option(function):
    """Decorator adding ``--quiet``: no progress bars."""
    return click.option("--quiet", is_flag=True, help="No progress bars.")(function)


__all__ = [
    "deterministic_option",
    "device_option",
    "option_option",
    "parse_crop",
    "parse_options",
    "quiet_option",
    "seed_given",
    "seed_option",
    "set_option",
    "video_options",
]
