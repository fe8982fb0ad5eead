"""Name → factory tables for the things plugins contribute.

One :class:`Registry` per kind (backbones, losses, synthesizers, metrics).
Names are looked up exactly (case-insensitively); listings take shell-style
wildcards as ``timm.list_models`` does (``"vgg*"``, ``"*net*"``).

A name ending in ``:*`` registers a *family*: ``"timm:*"`` answers every name
that starts with ``timm:`` (``"timm:resnet50"``), and the factory receives the
rest of the name as its ``variant`` keyword.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ._errors import RegistryError


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
        """The first line of the factory's docstring (empty if it has none)."""
        doc = getattr(self.factory, "__doc__", None) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """A table of named entries of one kind.

    Examples
    --------
    >>> reg = Registry("losses")
    >>> reg.register("l1", lambda a, b: (a - b).abs().mean(), plugin="demo")
    >>> reg.names("l*")
    ['l1']
    >>> reg.get("L1").plugin
    'demo'
    """

    def __init__(self, kind: str):
        self.kind = kind
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
        singular = self.kind.removesuffix("es") if self.kind.endswith("sses") else self.kind.removesuffix("s")
        close = difflib.get_close_matches(name.lower(), list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(self.names()) or "none (is the plugin that provides it installed?)"
        return f"unknown {singular} {name!r}.{hint} Known {self.kind}: {known}. `stst plugins list` shows what is loaded."
