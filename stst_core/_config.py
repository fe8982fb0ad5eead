"""Typed configurations from TOML presets, config files and ``--set key=value`` overrides.

A method declares its configuration as a dataclass (nested dataclasses and
lists of them allowed). :func:`resolve_config` merges, in order, the method's
preset, a user's TOML file and command-line overrides, then builds the
dataclass, checking every key and value: an unknown key or a bad value is a
:class:`~stst_core._errors.ConfigError` that names the key and what is allowed.

Overrides use dotted keys, with list positions as numbers, and TOML values
(bare words are taken as strings)::

    --set octaves.0.steps=100 --set spatial.weights=random --set "spatial.style_layers=['relu1_1']"

The same validator checks the keyword arguments of registered factories
against their signatures (:func:`check_arguments`, used by
``Registry.create``): a config dataclass and a metric's ``__init__`` declare
their keys the same way, with type annotations, ``Literal`` choices and
:class:`Range` bounds (``Annotated[int, Range(ge=1)]``). A string given where
another type is expected is read as a TOML value (``"3"`` → 3, ``"true"`` →
True), so options from a command line or an environment variable need no
conversion of their own.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import json
import math
import numbers
import os
import tomllib
import types
import typing
from collections import abc
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping, Sequence

from ._errors import ConfigError

FLOAT32_MAX = 3.4028234663852886e38  # numbers become float32 tensors on the device
MAX_SEED = 2**63 - 1  # torch takes seeds below 2**64 and NumPy none below 0; derived seeds add to it


def check_seed(seed: Any) -> int:
    """``seed`` as an int from 0 to :data:`MAX_SEED`, or a :class:`ConfigError` saying the range."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer from 0 to {MAX_SEED} (2**63 - 1), got {seed!r}")
    return int(seed)


@dataclasses.dataclass
class StreamConfig:
    """One stream of a method: a registered backbone, its weights and options, and the layers its losses use.

    ``weights`` is a weights tag, a file path, or None for the backbone's
    default; ``options`` go to the backbone's constructor; ``style_loss`` and
    ``content_loss`` name registered losses, ``style_loss_options`` are passed
    to the style loss.
    """

    backbone: str
    weights: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    style_layers: list[str] = dataclasses.field(default_factory=list)
    content_layers: list[str] = dataclasses.field(default_factory=list)
    style_loss: str = "gram"
    style_loss_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    content_loss: str = "mse"


def complete_weights(weights: dict[str, float], terms: Sequence[str]) -> dict[str, float]:
    """Check a ``{term: weight}`` table against a method's terms and fill the missing ones with 0."""
    unknown = sorted(set(weights) - set(terms))
    if unknown:
        raise ValueError(f"unknown loss term {unknown[0]!r} in weights; terms are {', '.join(terms)}")
    if any(w < 0 for w in weights.values()):
        raise ValueError("loss weights must be 0 or positive")
    return {term: float(weights.get(term, 0.0)) for term in terms}


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def parse_value(text: str) -> Any:
    """A TOML value (``1e-3``, ``true``, ``["a", "b"]``), or the text itself when it is not one."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.path=value`` overrides applied."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        parts = key.strip().split(".")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            node = _child(node, part, ".".join(parts[: depth + 1]))
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, key)] = parse_value(text.strip())
        else:
            node[last] = parse_value(text.strip())
    return data


def _child(node: Any, part: str, where: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, where)]
    if not isinstance(node, dict):
        raise ConfigError(f"config key {where!r} is not a table, so it has no sub-keys")
    return node.setdefault(part, {})


def _index(node: list, part: str, where: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"config key {where!r}: {part!r} is not a position in a list of {len(node)}")
    return int(part)


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of tables; lists and values in ``update`` replace those in ``base``."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds of a number, attached to its type with :data:`typing.Annotated`.

    ``Annotated[int, Range(ge=1)]`` is an integer of at least 1,
    ``Annotated[float, Range(gt=0)]`` a positive number and
    ``Annotated[int, Range(ge=1, le=8)]`` an integer from 1 to 8. Config
    dataclasses and the options of registered factories (backbones, losses,
    metrics, synthesizers) are checked by one validator, which reads these
    bounds and names the key in its error. The keywords are those of
    ``annotated-types`` (whose ``Ge``, ``Gt``, ``Le``, ``Lt`` and ``Interval``
    markers are understood as well).

    Examples
    --------
    >>> from typing import Annotated
    >>> def make(levels: Annotated[int, Range(ge=1, le=8)] = 4): ...
    >>> check_arguments(make, {"levels": "9"}, label="backbone 'demo'")
    Traceback (most recent call last):
    ...
    stst_core._errors.ConfigError: backbone 'demo': levels must be an integer from 1 to 8, got 9
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None


_BOUNDS = ("ge", "gt", "le", "lt")
_SYMBOLS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def _bounds(marker: Any) -> dict[str, Any]:
    """The bounds a marker of ``Annotated`` declares (a :class:`Range` or an ``annotated_types`` one); ``{}`` for other markers."""
    return {name: getattr(marker, name) for name in _BOUNDS if getattr(marker, name, None) is not None}


def _within(bounds: Mapping[str, Any], value: Any) -> bool:
    checks = {"ge": lambda b: value >= b, "gt": lambda b: value > b, "le": lambda b: value <= b, "lt": lambda b: value < b}
    try:
        return all(checks[name](bound) for name, bound in bounds.items())
    except TypeError:  # not a number: the type check names the problem
        return True


def _describe_bounds(bounds: Mapping[str, Any]) -> str:
    if set(bounds) == {"ge", "le"}:
        return f"from {bounds['ge']!r} to {bounds['le']!r}"
    return " and ".join(f"{_SYMBOLS[name]} {bound!r}" for name, bound in bounds.items())


def describe(kind: Any) -> str:
    """What a value of the annotation ``kind`` must be, in words (``"an integer ≥ 1"``, ``"one of 'max', 'avg'"``)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any or kind is inspect.Parameter.empty:
        return "anything"
    if origin is Annotated:
        bounds = [_describe_bounds(b) for b in map(_bounds, kind.__metadata__) if b]
        return " ".join([describe(args[0]), *bounds])
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (typing.Union, types.UnionType):
        text = " or ".join(describe(a) for a in args if a is not type(None))
        return text + " or None" if type(None) in args else text
    if dataclasses.is_dataclass(kind) or (origin or kind) in (dict, abc.Mapping):
        return "a table"
    if (origin or kind) in (list, tuple, abc.Sequence):
        return "a list"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if kind in names:
        return names[kind]
    return f"a {kind.__name__}" if isinstance(kind, type) else str(kind)


@dataclasses.dataclass(frozen=True)
class _Rules:
    """How one validation names a key in its errors, and what it does with a type it does not know.

    Config schemas must use the types a TOML file can give (``strict``: any
    other is a bug in the schema); a factory's signature may annotate anything
    (``torch.device``, ``Video``), and what the validator does not know it
    passes on unchecked.
    """

    name: Callable[[str], str]
    strict: bool


_CONFIG_RULES = _Rules(lambda where: f"config key {where!r}", strict=True)


def _text(value: Any) -> Any:
    """A string where another type is expected is read as a TOML value: ``"3"`` → 3, ``"true"`` → True, ``"[1, 2]"`` → [1, 2]."""
    return parse_value(value) if isinstance(value, str) else value


def _is_instance(kind: Any, value: Any) -> bool:
    """Whether ``value`` already has the type ``kind`` (so that a union tries that member first)."""
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    if typing.get_origin(kind) is Literal:
        return value in typing.get_args(kind)
    plain = typing.get_origin(kind) or kind
    if not isinstance(plain, type):
        return False
    return isinstance(value, plain) and not (isinstance(value, bool) and plain in (int, float))


def _convert(kind: Any, value: Any, where: str, rules: _Rules = _CONFIG_RULES) -> Any:
    """``value`` checked against the annotation ``kind`` and converted to it; a :class:`ConfigError` naming ``where`` otherwise."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)

    def wrong() -> ConfigError:
        return ConfigError(f"{rules.name(where)} must be {describe(kind)}, got {value!r}")

    if kind is Any or kind is inspect.Parameter.empty:
        return value
    if origin is Annotated:
        try:
            converted = _convert(args[0], value, where, rules)
        except ConfigError:
            if args[0] in (bool, int, float, str):  # say the bounds too: "an integer from 1 to 8", not "an integer"
                raise wrong() from None
            raise
        if not all(_within(_bounds(marker), converted) for marker in kind.__metadata__):
            raise ConfigError(f"{rules.name(where)} must be {describe(kind)}, got {converted!r}")
        return converted
    if origin is Literal:
        for candidate in (value, _text(value)):
            if any(candidate == a and type(candidate) is type(a) for a in args):
                return candidate
        raise ConfigError(f"{rules.name(where)} must be one of {', '.join(map(repr, args))}; got {value!r}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        members = sorted((a for a in args if a is not type(None)), key=lambda a: not _is_instance(a, value))  # "3" for `int | str` stays a string
        errors = []
        for member in members:
            try:
                return _convert(member, value, where, rules)
            except ConfigError as exc:
                errors.append(str(exc))
        # an item of a list names its own position ("layers.0 must be a string"); anything else names the union
        nested = len(errors) == 1 and not errors[0].startswith(f"{rules.name(where)} must be ")
        raise ConfigError(errors[0]) if nested else wrong()
    if dataclasses.is_dataclass(kind):
        return value if isinstance(value, kind) else from_dict(kind, _text(value), where)
    if (origin or kind) in (list, tuple, abc.Sequence):
        if isinstance(value, str):
            value = _text(value) if value.strip().startswith("[") else [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise wrong()
        if (origin or kind) is tuple and args and args[-1] is not Ellipsis:  # tuple[int, int]: one type per position
            if len(value) != len(args):
                raise ConfigError(f"{rules.name(where)} must be a list of {len(args)}, got {value!r}")
            return tuple(_convert(a, v, f"{where}.{i}", rules) for i, (a, v) in enumerate(zip(args, value)))
        items = [_convert(args[0] if args else Any, v, f"{where}.{i}", rules) for i, v in enumerate(value)]
        return tuple(items) if (origin or kind) is tuple else items
    if (origin or kind) in (dict, abc.Mapping):
        value = _text(value)
        if not isinstance(value, Mapping):
            raise wrong()
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(item, v, f"{where}.{k}", rules) for k, v in value.items()}
    if kind is bool:
        if not isinstance(_text(value), bool):
            raise wrong()
        return _text(value)
    if kind is int:
        number = _text(value)
        if isinstance(number, bool) or not isinstance(number, numbers.Integral):
            raise wrong()
        return int(number)
    if kind is float:
        number = _text(value)
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise wrong()
        # NaN would silently turn a weight off and infinity overflow a loss; beyond float32's range a
        # number becomes infinity on the device: no setting means any of these
        if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
            raise ConfigError(f"{rules.name(where)} must be a finite number (at most {FLOAT32_MAX:.2e} in size: float32), got {number!r}")
        return float(number)
    if kind is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise wrong()
        return value
    if rules.strict:
        raise ConfigError(f"{rules.name(where)}: unsupported type {kind}")  # a bug in the schema, not the input
    return value


def from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, checking keys and value types (and :class:`Range` bounds) recursively."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config key {where or '(top level)'!r} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!r}; allowed keys{' in ' + repr(where) if where else ''}: {', '.join(sorted(fields))}")
    values = {name: _convert(hints[name], data[name], f"{where}.{name}" if where else name) for name in data}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config {where or '(top level)'}: {exc}") from exc


def type_hints(function: Callable) -> dict[str, Any]:
    """The annotations of ``function``'s parameters (of a class: of its ``__init__``), evaluated, ``Annotated`` kept.

    An annotation that cannot be evaluated here (a name imported only for
    type checkers) is left out: its key is still checked, its value is not.
    """
    target = function.__init__ if inspect.isclass(function) else function
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # noqa: BLE001 - one bad annotation must not stop the others from being checked
        namespace = getattr(inspect.unwrap(target), "__globals__", {})
        hints = {}
        for name, annotation in getattr(target, "__annotations__", {}).items():
            try:
                hints[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation  # noqa: S307 - what typing does
            except Exception:  # noqa: BLE001
                continue
        return hints


def keyword_parameters(function: Callable) -> dict[str, inspect.Parameter] | None:
    """The parameters of ``function`` that can be given by keyword; None when its signature cannot be read or it takes ``**kwargs``."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name: p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def check_arguments(
    function: Callable, values: Mapping[str, Any], *, label: str, plugin: str | None = None, hidden: Sequence[str] = (), hint: str = ""
) -> dict[str, Any]:
    """``values`` checked against the signature and type annotations of ``function``, converted as a config is.

    The keyword arguments that a registered factory receives go through here
    (:meth:`Registry.create <stst_core._registry.Registry.create>`), with the
    same rules as a config file: ``"3"`` is taken as 3 where an integer is
    expected, ``"true"`` as True, ``"a,b"`` as a list; :class:`Range` bounds
    and ``Literal`` choices are enforced. A type the validator does not know
    (``torch.device``) is passed on unchecked.

    Parameters
    ----------
    function : callable
        The factory (a class: the parameters of its ``__init__``).
    values : mapping
        The keyword arguments to give it.
    label : str
        How errors name the factory (``"metric 'flow'"``).
    plugin : str, optional
        The plugin that registered it, named when a key is unknown.
    hidden : list of str
        Parameters the caller supplies itself, left out of the list of options.
    hint : str
        Appended to the list of options when a key is unknown (where to read about them).

    Returns
    -------
    dict
        The converted keyword arguments.

    Raises
    ------
    ConfigError
        For a key ``function`` does not take (naming those it does), a
        required one missing, or a value of the wrong type or out of bounds
        (naming the key and what it must be).
    """
    parameters = keyword_parameters(function)
    if parameters is not None:
        unknown = [key for key in values if key not in parameters]
        if unknown:
            who = f"{label} (plugin {plugin!r})" if plugin else label
            accepted = [name for name in parameters if name not in hidden]
            close = [match for key in unknown for match in difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)]
            close_hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"{who} has no option(s) {', '.join(map(repr, unknown))}; its options: {', '.join(accepted) or 'none'}{hint}.{close_hint}")
        missing = [name for name, p in parameters.items() if p.default is p.empty and name not in values]
        if missing:
            raise ConfigError(f"{label} needs the option(s) {', '.join(map(repr, missing))}")
    hints = type_hints(function)
    rules = _Rules(lambda where: f"{label}: {where}", strict=False)
    return {key: _convert(hints.get(key, Any), value, key, rules) for key, value in values.items()}


def describe_options(function: Callable, hidden: Sequence[str] = ()) -> dict[str, str]:
    """``{option: "an integer ≥ 1, default 8"}`` for every keyword parameter of ``function`` (``{}`` when it takes ``**kwargs``)."""
    hints = type_hints(function)
    described = {}
    for name, parameter in (keyword_parameters(function) or {}).items():
        if name in hidden:
            continue
        text = describe(hints.get(name, Any))
        described[name] = text + ("" if parameter.default is parameter.empty else f", default {parameter.default!r}")
    return described


def to_dict(config: Any) -> dict[str, Any]:
    """A plain, JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(config)


def to_json(config: Any) -> str:
    return json.dumps(to_dict(config), sort_keys=True)


def resolve_config(
    cls: type,
    *,
    preset: str | Path | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> Any:
    """The dataclass ``cls`` from a preset file, a user config file and ``--set`` overrides, in that order."""
    data: dict[str, Any] = load_toml(preset) if preset else {}
    if config_file:
        data = merge(data, load_toml(config_file))
    return from_dict(cls, apply_overrides(data, overrides))


def describe_differences(stored: Mapping[str, Any], current: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts, as ``key: stored → current``."""
    lines = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key), current.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines += describe_differences(a, b, name + ".")
        elif a != b:
            lines.append(f"{name}: {a!r} → {b!r}")
    return lines
