"""The documentation builds without warnings and documents every hook."""

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stst_core import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
HOOKS = [name for name, obj in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("stst_")]


def test_there_are_hooks():
    assert {"stst_register_backbones", "stst_register_commands"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docstring_with_an_example(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc) > 80 and "Example::" in doc and "@hookimpl" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_in_the_plugin_guide(hook):
    assert f"stst_core.hookspecs.{hook}" in (DOCS / "plugins.md").read_text()


def test_docs_build_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert (tmp_path / "html" / "plugins.html").is_file()


def _code_blocks(markdown: str, language: str) -> list[str]:
    blocks, inside, current = [], False, []
    for line in markdown.splitlines():
        if line.startswith("```") and not inside and line[3:].strip() == language:
            inside, current = True, []
        elif line.startswith("```") and inside:
            inside = False
            blocks.append("\n".join(current))
        elif inside:
            current.append(line)
    return blocks


def test_plugin_guide_example_works(tmp_path, monkeypatch):
    """The guide's plugin module and its test, run as a reader would copy them."""
    blocks = _code_blocks((DOCS / "plugins.md").read_text(), "python")
    plugin_source = next(b for b in blocks if "class TinyNet" in b)
    test_source = next(b for b in blocks if "def test_tinynet_shapes" in b)
    (tmp_path / "stst_tinynet.py").write_text(plugin_source)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = {}
    exec(compile(test_source, "plugins.md", "exec"), namespace)
    namespace["test_tinynet_shapes"]()
    sys.modules.pop("stst_tinynet", None)


def test_the_guides_new_method_keeps_the_contract_and_samples(tmp_path, monkeypatch):
    """The Langevin example of the synthesizer contract: resumes exactly after a kill at any write, and lowers its energy."""
    from stst_core import Video
    from stst_core.testing import check_synthesizer, registered_plugin

    source = next(b for b in _code_blocks((DOCS / "plugins.md").read_text(), "python") if "class GramLangevin" in b)
    (tmp_path / "gram_langevin.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    import gram_langevin

    try:
        base = torch.rand(3, 1, 32, 64, generator=torch.Generator().manual_seed(5))
        clip = Video(torch.cat([torch.roll(base, 2 * t, dims=3)[..., :32] for t in range(4)], dim=1).contiguous(), fps=25, source="drifting noise")
        with registered_plugin(gram_langevin, name="gram-langevin-under-test"):
            cls = gram_langevin.GramLangevin
            check_synthesizer(cls, clip, tmp_path / "contract", overrides=cls.quick_overrides, bad_overrides=["steps=0", "sigma=-1"])
            store = cls({"content": clip}, seed=0).synthesize(tmp_path / "sample.zarr", progress=False)
            energy = store.loss_history().sel(term="gram").values
            assert energy[-1] < energy[0] / 10  # the figure the guide quotes: 0.27 → 0.007
            assert store.video().shape == clip.shape
    finally:
        sys.modules.pop("gram_langevin", None)


def test_the_guides_command_example_works(tmp_path, monkeypatch):
    """The command contract's worked example and its test, as a reader would copy them."""
    blocks = _code_blocks((DOCS / "plugins.md").read_text(), "python")
    (tmp_path / "stst_brightness.py").write_text(next(b for b in blocks if "# stst_brightness.py" in b))
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = {}
    exec(compile(next(b for b in blocks if "def test_brightness" in b), "plugins.md", "exec"), namespace)
    try:
        namespace["test_brightness"](tmp_path)
    finally:
        from stst_core.cli import cli

        cli.commands.pop("brightness", None)
        sys.modules.pop("stst_brightness", None)
