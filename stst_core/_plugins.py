"""Plugin discovery and the registries built from it.

Plugins are found through the ``stst.plugins`` entry-point group and
registered with a :class:`pluggy.PluginManager`. The registries of backbones,
losses, synthesizers and metrics are built from their hooks on first use.

A plugin that fails to import, to register, or to run one of its hooks is
reported with a :class:`PluginLoadWarning` (naming the plugin and the error),
marked ``failed`` in :func:`plugin_infos`, and skipped as a whole: nothing it
registered stays, and every other plugin keeps working.

Plugin names are unique: a second entry point with a taken name (the
toolkit's own plugins are seen first) is reported, shown as ``shadowed``, and
skipped; it never replaces the first.

Environment variables:

``STST_NO_PLUGIN_AUTOLOAD=1``
    load no entry-point plugins at all (only what is registered at runtime).
``STST_DISABLE_PLUGINS=a,b``
    skip the entry-point plugins named ``a`` and ``b``.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from ._errors import RegistryError
from ._registry import Registry

ENTRY_POINT_GROUP = "stst.plugins"
TOOLKIT_DISTRIBUTION = "stst-toolkit"
KINDS = ("backbones", "losses", "synthesizers", "metrics")


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded or registered and was skipped."""


@dataclass(frozen=True)
class PluginInfo:
    """What the toolkit knows about one plugin, for ``stst plugins list``."""

    name: str
    status: str  # "loaded", "failed", "disabled" or "shadowed" (its name was taken by another distribution's plugin)
    origin: str  # where it came from, in words
    distribution: str | None = None
    version: str | None = None
    hooks: tuple[str, ...] = ()
    error: str | None = None
    location: str | None = None  # the file of the plugin's module: which checkout or site-packages it came from


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _disabled_names() -> set[str]:
    return {n.strip() for n in os.environ.get("STST_DISABLE_PLUGINS", "").split(",") if n.strip()}


def _all_entry_points() -> list[metadata.EntryPoint]:
    """Every distribution's entry points of the group, shadowed ones included.

    ``importlib.metadata.entry_points()`` keeps one entry point per name (the
    first on the path), which would let a third-party plugin replace a
    first-party one without a word. A distribution found twice on the path
    counts once, as importlib counts it.
    """
    points, distributions = [], set()
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name in distributions:
            continue
        distributions.add(name)
        points += [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
    return points


def _entry_point_order(ep: metadata.EntryPoint) -> tuple:
    """By name, the toolkit's own plugins first: where two distributions claim one name, the first-party one is kept."""
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist else ""
    return (ep.name, name != TOOLKIT_DISTRIBUTION, name or "", ep.value)


def _location(plugin: Any) -> str | None:
    """The file that defines a plugin module, or the module of a plugin object's class."""
    module = plugin if isinstance(plugin, types.ModuleType) else sys.modules.get(type(plugin).__module__)
    return getattr(module, "__file__", None)


class PluginHost:
    """Owns the plugin manager, the plugin records and the registries built from them."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry] | None = None
        self._entry_points_loaded = False

    # -- discovery -----------------------------------------------------------------

    def load_entry_points(self) -> None:
        """Import and register every plugin of the entry-point group (once)."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        if _env_flag("STST_NO_PLUGIN_AUTOLOAD"):
            return
        disabled = _disabled_names()
        seen: dict[str, tuple[str | None, str]] = {}  # name → (distribution, value) of the entry point that has it
        for ep in sorted(_all_entry_points(), key=_entry_point_order):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                status="loaded",
                origin=f"entry point {ep.name} = {ep.value}",
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
            )
            if ep.name in seen:
                if seen[ep.name] != (info.distribution, ep.value):  # not merely the same distribution found twice on the path
                    self._shadow(info, kept=seen[ep.name][0])
                continue
            seen[ep.name] = (info.distribution, ep.value)
            if ep.name in disabled:
                self._infos[ep.name] = replace(info, status="disabled", origin=info.origin + " (STST_DISABLE_PLUGINS)")
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                self._register(plugin, ep.name)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must never take the toolkit down
                self._fail(info, exc)
                continue
            self._infos[ep.name] = replace(info, hooks=self._hook_names(ep.name), location=_location(plugin))
        self._registries = None

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object or module at runtime; returns its name."""
        self.load_entry_points()
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if self.pm.has_plugin(name) or self.pm.is_registered(plugin):
            raise RegistryError(f"a plugin named {name!r} is already registered; unregister it first or pick another name")
        self._register(plugin, name)
        self._infos[name] = PluginInfo(name=name, status="loaded", origin="registered at runtime", hooks=self._hook_names(name), location=_location(plugin))
        self._registries = None
        return name

    def unregister(self, name: str) -> None:
        """Remove a plugin by name (runtime or entry point); unknown names are ignored."""
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self._infos.pop(name, None)
        self._registries = None

    def _register(self, plugin: Any, name: str) -> None:
        self.pm.register(plugin, name=name)
        unknown = [c.name for c in self.pm.get_hookcallers(plugin) or [] if not c.has_spec()]
        if unknown:
            self.pm.unregister(name=name)
            known = ", ".join(n for n in dir(hookspecs) if n.startswith("stst_"))
            raise RegistryError(f"implements unknown hook(s) {', '.join(unknown)} (known hooks: {known})")

    def _hook_names(self, name: str) -> tuple[str, ...]:
        callers = self.pm.get_hookcallers(self.pm.get_plugin(name)) or []
        return tuple(sorted(c.name for c in callers))

    def _shadow(self, info: PluginInfo, *, kept: str | None) -> None:
        """A second entry point with a plugin name already taken: reported and skipped, never a silent replacement."""
        message = (
            f"stst plugin {info.name!r} of {info.distribution or 'an unknown distribution'} has the name of the plugin of "
            f"{kept or 'an unknown distribution'}, which is kept; rename its entry point in the stst.plugins group"
        )
        self._infos[f"{info.name} ({info.distribution})"] = replace(info, status="shadowed", error=message)
        warnings.warn(message, PluginLoadWarning, stacklevel=3)

    def _fail(self, info: PluginInfo, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if self.pm.has_plugin(info.name):
            self.pm.unregister(name=info.name)
        self._infos[info.name] = replace(info, status="failed", error=error)
        self._registries = None
        warnings.warn(f"stst plugin {info.name!r} failed and was skipped: {error}", PluginLoadWarning, stacklevel=3)

    # -- registries ----------------------------------------------------------------

    def registry(self, kind: str) -> Registry:
        """The registry of ``kind`` (one of :data:`KINDS`), built from the plugins' hooks."""
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}; expected one of {KINDS}")
        self.load_entry_points()
        while self._registries is None:
            self._registries = self._build_registries()
        return self._registries[kind]

    def _build_registries(self) -> dict[str, Registry] | None:
        registries = {kind: Registry(kind) for kind in KINDS}
        for kind in KINDS:
            hook = getattr(self.pm.hook, f"stst_register_{kind}")
            # pluggy lists implementations last-registered first; call them in
            # registration order so that the first plugin to claim a name keeps it
            for impl in reversed(hook.get_hookimpls()):
                registry = registries[kind]

                def register(name, factory, _registry=registry, _plugin=impl.plugin_name):
                    _registry.register(name, factory, plugin=_plugin)

                try:
                    impl.function(register=register)
                except Exception as exc:  # noqa: BLE001 - reported and skipped, as a failed import is
                    self._fail(self._infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "loaded", "registered at runtime"), exc)
                    return None  # start again without the failed plugin
        return registries

    def add_commands(self, cli: Any) -> None:
        """Let every plugin add its commands to the click group ``cli``."""
        self.load_entry_points()
        for impl in reversed(self.pm.hook.stst_register_commands.get_hookimpls()):
            try:
                impl.function(cli=cli)
            except Exception as exc:  # noqa: BLE001 - reported and skipped, as a failed import is
                self._fail(self._infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "loaded", "registered at runtime"), exc)

    def infos(self) -> list[PluginInfo]:
        """Every plugin seen: loaded, failed or disabled, sorted by name."""
        self.load_entry_points()
        if self._registries is None:
            self.registry(KINDS[0])  # building the registries can mark plugins as failed
        return [self._infos[n] for n in sorted(self._infos)]


_host = PluginHost()


def plugin_host() -> PluginHost:
    """The process-wide plugin host."""
    return _host


def get_registry(kind: str) -> Registry:
    """The registry of ``kind``: ``"backbones"``, ``"losses"``, ``"synthesizers"`` or ``"metrics"``.

    ``get_registry(kind).create(name, **options)`` makes a registered thing
    with its options checked against the factory's typed signature (an error
    names the key); ``.names(pattern)``, ``.get(name)`` (plugin, summary) and
    ``.options(name)`` (each option's type and default, in words) describe
    what is there.

    Examples
    --------
    >>> get_registry("metrics").create("flow", directions="16")        # doctest: +SKIP
    FlowDistance(directions=16)
    >>> get_registry("metrics").options("flow")                       # doctest: +SKIP
    {'directions': 'an integer ≥ 1, default 8'}
    """
    return _host.registry(kind)


def plugin_infos() -> list[PluginInfo]:
    """Every plugin seen, with its status, origin, distribution, version, hooks and module file."""
    return _host.infos()


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin module or object at runtime (tests, notebooks); returns its name."""
    return _host.register(plugin, name)


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered at runtime or through an entry point."""
    _host.unregister(name)


def reload_plugins() -> None:
    """Forget every plugin and discover them again (reads the environment variables anew)."""
    global _host
    _host = PluginHost()
