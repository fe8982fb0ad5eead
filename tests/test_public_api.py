"""One explicit plugin API: the flat ``stst_core`` namespace, documented name by name."""

import ast
import inspect
import sys
from pathlib import Path

import pytest

import stst_core

REPO = Path(__file__).resolve().parents[1]
PUBLIC_SUBMODULES = {"stst_core", "stst_core.hookspecs", "stst_core.testing", "stst_core.similarity", "stst_core.cli"}
FIRST_PARTY = sorted([*(REPO / "plugins").rglob("*.py"), *(REPO / "stst_psychopy").rglob("*.py")])


def core_imports(path: Path) -> list[str]:
    """Every ``stst_core…`` module a file imports, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stst_core"):
            found.append(f"{node.lineno}: from {node.module} import …")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.startswith("stst_core")]
    return found


def test_first_party_plugins_use_only_the_public_api():
    offenders = []
    for path in FIRST_PARTY:
        for line in core_imports(path):
            module = line.split(" ")[2] if line.split(" ")[1] in ("from", "import") else ""
            if module not in PUBLIC_SUBMODULES:
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert not offenders, "plugins import private core modules:\n" + "\n".join(offenders)


def test_the_check_catches_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from stst_core._store import StimulusStore\nimport stst_core._video\n")
    assert [line.split(" ")[2] for line in core_imports(bad)] == ["stst_core._store", "stst_core._video"]


@pytest.mark.parametrize("name", stst_core.__all__)
def test_every_exported_name_resolves_and_has_a_docstring(name):
    obj = getattr(stst_core, name)
    assert len(inspect.getdoc(obj) or "") > 20, f"stst_core.{name} needs a docstring"


def test_the_api_page_documents_every_exported_name():
    sys.path.insert(0, str(REPO / "docs"))
    try:
        import _api
    finally:
        sys.path.pop(0)
    page = _api.render()
    missing = [name for name in stst_core.__all__ if f"stst_core.{name}\n" not in page]
    assert not missing


def test_lazy_names_are_listed_and_unknown_ones_fail():
    assert set(stst_core.__all__) <= set(dir(stst_core))
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        stst_core.no_such_thing
