"""Name → factory tables for the things plugins contribute.

One :class:`Registry` per kind (backbones, losses, synthesizers, metrics).
Names are looked up exactly (case-insensitively); listings take shell-style
wildcards as ``timm.list_models`` does (``"vgg*"``, ``"*net*"``).

A name ending in ``:*`` registers a *family*: ``"timm:*"`` answers every name
that starts with ``timm:`` (``"timm:resnet50"``), and the factory receives the
rest of the name as its ``variant`` keyword.

:meth:`Registry.create` is the one way to make a registered thing from a name
and options: the options are checked against the factory's signature and type
annotations by the validator that checks configs
(:func:`~stst_core._config.check_arguments`), so an unknown key, a missing
one, a wrong type or a value out of its :class:`~stst_core._config.Range` is
an error naming the key. ``create_backbone``, ``create_loss`` and
``create_metric`` are thin wrappers of it.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ._config import check_arguments, describe_options
from ._errors import BackboneError, ConfigError, RegistryError, STSTError


@dataclass(frozen=True)
class Kind:
    """What differs between the kinds of registry: words, the error of a bad option, how an entry becomes a thing."""

    singular: str
    error: type[STSTError] = ConfigError  # raised for bad options
    as_is: bool = False  # a registered callable that is not a class is the thing itself (a loss or metric function)
    supplied: tuple[str, ...] = ("variant",)  # keywords the toolkit passes itself: not listed among the options
    hint: str = ""  # appended to an unknown-option error; ``{name}`` is the entry's name


KIND_RULES = {
    "backbones": Kind("backbone", BackboneError, supplied=("weights", "variant"), hint=" (`stst backbones info {name}` describes them)"),
    "losses": Kind("loss", as_is=True),
    "metrics": Kind("metric", as_is=True),
    "synthesizers": Kind("synthesizer"),
}


@dataclass(frozen=True)
class Entry:
    """One registered thing: its name, the callable that makes or is it, and who registered it."""

    name: str
    factory: Callable[..., Any]
    kind: str
    plugin: str | None = None
    variant: str | None = None  # for a family entry looked up by a full name: the part after the prefix

    @property
    def is_family(self) -> bool:
        return self.name.endswith(":*")

    @property
    def summary(self) -> str:
        """The factory's ``summary`` if it declares one (a :class:`~stst_core.Metric` does), else its docstring's first line."""
        summary = getattr(self.factory, "summary", None)
        if isinstance(summary, str):
            return summary
        doc = getattr(self.factory, "__doc__", None) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """A table of named entries of one kind.

    Examples
    --------
    >>> reg = Registry("losses")
    >>> entry = reg.register("l1", lambda a, b: (a - b).abs().mean(), plugin="demo")
    >>> reg.names("l*")
    ['l1']
    >>> reg.get("L1").plugin
    'demo'
    """

    def __init__(self, kind: str):
        self.kind = kind
        self.rules = KIND_RULES.get(kind) or Kind(kind.removesuffix("es") if kind.endswith("sses") else kind.removesuffix("s"))
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, factory: Callable[..., Any], *, plugin: str | None = None) -> Entry:
        """Add ``factory`` under ``name``; a name already taken is an error naming both plugins."""
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"{self.kind}: a name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise RegistryError(f"{self.kind} {name!r}: expected a callable or class, got {type(factory).__name__}")
        key = name.lower()
        if key in self._entries:
            other = self._entries[key].plugin or "an unnamed plugin"
            raise RegistryError(
                f"{self.kind} {name!r} is registered twice: by {other} and by {plugin or 'an unnamed plugin'}. "
                f"Rename one of them, or disable one plugin with STST_DISABLE_PLUGINS."
            )
        entry = Entry(name=key, factory=factory, kind=self.kind, plugin=plugin)
        self._entries[key] = entry
        return entry

    def get(self, name: str) -> Entry:
        """The entry called ``name`` (or the family whose prefix it has); an unknown name suggests close matches."""
        key = name.lower()
        if key in self._entries:
            return self._entries[key]
        prefix, colon, variant = name.partition(":")
        family = self._entries.get(f"{prefix.lower()}:*")
        if colon and family is not None:
            if not variant:
                raise RegistryError(f"{name!r}: name a member of the {prefix}: family, e.g. {prefix}:<model name>")
            return replace(family, variant=variant)
        raise RegistryError(self._unknown_message(name))

    def create(self, name: str, /, **options: Any) -> Any:
        """The thing registered as ``name``, made with ``options`` checked against its factory's signature.

        The factory is called with the options converted as a config is
        (``"3"`` → 3 for an ``int``, ``"true"`` → True), after checking every
        key and value against its signature and type annotations (``Literal``
        choices and :class:`~stst_core.Range` bounds included). A family entry
        (``timm:*``) also receives the rest of the name as ``variant``. In the
        registries of losses and metrics a plain function is the loss or
        metric itself and takes no options; a class is a factory.

        Raises
        ------
        RegistryError
            For an unknown name (with close matches).
        ConfigError
            (:class:`BackboneError` for backbones) for an unknown or missing
            key, naming the accepted ones, or a value of the wrong type or out
            of bounds, naming the key and what it must be.

        Examples
        --------
        >>> from typing import Annotated
        >>> from stst_core import Range
        >>> class Blur:
        ...     def __init__(self, sigma: Annotated[float, Range(gt=0)] = 1.0):
        ...         self.sigma = sigma
        >>> reg = Registry("filters")
        >>> entry = reg.register("blur", Blur, plugin="demo")
        >>> reg.create("blur", sigma="2").sigma
        2.0
        >>> reg.create("blur", sigma=0)
        Traceback (most recent call last):
        ...
        stst_core._errors.ConfigError: filter 'blur': sigma must be a number > 0, got 0.0
        """
        entry = self.get(name)
        shown = name.lower() if entry.variant is not None else entry.name
        label = f"{self.rules.singular} {shown!r}"
        if self.rules.as_is and not inspect.isclass(entry.factory):
            if options:
                raise self.rules.error(f"{label} takes no options, got {', '.join(sorted(options))}")
            return entry.factory
        if entry.variant is not None:
            options = {**options, "variant": entry.variant}
        try:
            kwargs = check_arguments(
                entry.factory, options, label=label, plugin=entry.plugin, hidden=self.rules.supplied, hint=self.rules.hint.format(name=shown)
            )
        except ConfigError as exc:
            if isinstance(exc, self.rules.error):
                raise
            raise self.rules.error(str(exc)) from None
        return entry.factory(**kwargs)

    def options(self, name: str) -> dict[str, str]:
        """``{option: "an integer ≥ 1, default 8"}`` of the entry ``name``: what :meth:`create` accepts, in words."""
        entry = self.get(name)
        if self.rules.as_is and not inspect.isclass(entry.factory):
            return {}
        return describe_options(entry.factory, hidden=self.rules.supplied)

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names, optionally filtered by a shell-style wildcard pattern."""
        names = sorted(self._entries)
        if pattern:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]
        return names

    def remove_plugin(self, plugin: str) -> None:
        """Forget every entry that ``plugin`` registered."""
        self._entries = {k: e for k, e in self._entries.items() if e.plugin != plugin}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def _unknown_message(self, name: str) -> str:
        singular = self.rules.singular
        close = difflib.get_close_matches(name.lower(), list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.names()) or "none (is the plugin that provides it installed?)"
        return f"unknown {singular} {name!r}.{hint} Known {self.kind}: {known}. `stst plugins list` shows what is loaded."
