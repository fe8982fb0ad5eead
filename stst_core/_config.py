"""Typed configurations from TOML presets, config files and ``--set key=value`` overrides.

A method declares its configuration as a dataclass (nested dataclasses and
lists of them allowed). :func:`resolve_config` merges, in order, the method's
preset, a user's TOML file and command-line overrides, then builds the
dataclass, checking every key and value: an unknown key or a bad value is a
:class:`~stst_core._errors.ConfigError` that names the key and what is allowed.

Overrides use dotted keys, with list positions as numbers, and TOML values
(bare words are taken as strings)::

    --set octaves.0.steps=100 --set spatial.weights=random --set "spatial.style_layers=['relu1_1']"
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


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


def from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, checking keys and value types recursively."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config key {where or '(top level)'!r} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
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


def _convert(kind: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key {where!r} must be one of {', '.join(map(repr, args))}; got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[-1] if len(errors) == 1 else f"config key {where!r}: {value!r} fits none of {kind}")
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, where)
    if origin in (list, tuple, Sequence):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {where!r} must be a list, got {value!r}")
        item = args[0] if args else Any
        return [_convert(item, v, f"{where}.{i}") for i, v in enumerate(value)]
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {where!r} must be a table, got {value!r}")
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {where!r} must be true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {where!r} must be an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {where!r} must be a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {where!r} must be a string, got {value!r}")
        return value
    raise ConfigError(f"config key {where!r}: unsupported type {kind}")  # a bug in the schema, not the input


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
