"""Writes docs/api.md from ``stst_core.__all__`` when the docs are built (conf.py calls :func:`write`).

One section per private module behind the flat namespace, in the order of
``SECTIONS``; every exported name gets its autodoc directive, so a name added
to ``__all__`` is documented without anyone editing a page, and the test suite
checks that each has a docstring.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import stst_core

SECTIONS = [
    ("Videos", ("_video",)),
    ("Backbones", ("_backbone",)),
    ("Losses", ("_losses",)),
    ("Synthesis", ("_synthesis", "_optim", "_config")),
    ("Learned models", ("_learned",)),
    ("Stimulus stores", ("_store", "_report", "_files")),
    ("Metrics", ("_metrics",)),
    ("Activations and comparison", ("_activations", "_comparison")),
    ("Plugins and registries", ("_plugins", "hookspecs", "_table")),
    ("Weights", ("_weights",)),
    ("Devices and errors", ("_device", "_errors", "_lock")),
]

INTRO = """# Python API

Everything public is importable from `stst_core` (the modules behind it are
private: a plugin that imports `stst_core._something` may break with any
release). This page is generated from `stst_core.__all__` when the
documentation is built. Besides the flat namespace, three submodules are
public: `stst_core.hookspecs` (the hooks, in the [plugin guide](plugins.md)),
`stst_core.testing` (fixtures, fault injection and conformance suites) and
`stst_core.similarity` (the measures behind `stst compare`).
"""


def module_of(name: str) -> str:
    if name == "hookimpl":  # pluggy's marker object, made in stst_core.hookspecs
        return "hookspecs"
    return getattr(stst_core, name).__module__.rsplit(".", 1)[-1]


def directive(name: str) -> str:
    obj = getattr(stst_core, name)
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return f".. autoexception:: stst_core.{name}\n"
    if inspect.isclass(obj):
        return f".. autoclass:: stst_core.{name}\n   :members:\n"
    if inspect.isroutine(obj):
        return f".. autofunction:: stst_core.{name}\n"
    return f".. autodata:: stst_core.{name}\n   :annotation:\n"


def render() -> str:
    placed = {module: title for title, modules in SECTIONS for module in modules}
    unplaced = sorted(name for name in stst_core.__all__ if module_of(name) not in placed)
    if unplaced:
        raise RuntimeError(f"docs/_api.py: no section for {unplaced} (modules {[module_of(n) for n in unplaced]}); add them to SECTIONS")
    parts = [INTRO]
    for title, modules in SECTIONS:
        names = [name for name in stst_core.__all__ if module_of(name) in modules]
        if names:
            parts.append(f"## {title}\n\n```{{eval-rst}}\n" + "\n".join(directive(n) for n in names) + "```\n")
    parts.append(
        "## Testing\n\n```{eval-rst}\n.. automodule:: stst_core.testing\n   :members: kill_after_writes, recorded_writes, SimulatedKill, "
        "check_resume_after_every_write, assert_same_run, store_contents, registered_plugin\n```\n"
    )
    parts.append("## Similarity measures\n\n```{eval-rst}\n.. automodule:: stst_core.similarity\n   :members:\n```\n")
    return "\n".join(parts)


def write(folder: Path) -> Path:
    path = folder / "api.md"
    text = render()
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path
