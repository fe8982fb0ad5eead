"""The example third-party plugin, installed with pip, found through its entry point and used from the CLI.

The distribution under ``plugins/examples/stst-example-plugin`` is installed
(with a deliberately broken plugin beside it) into a temporary folder that
acts as site-packages; a fresh Python process with that folder on its path
then runs ``stst`` commands, as a user would after ``pip install``.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import setuptools
import torch

from stst_core import list_backbones, list_losses, write_video
from stst_core._store import StimulusStore
from stst_core.testing import temporary_plugins

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "plugins" / "examples" / "stst-example-plugin"

BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "stst-broken-plugin"
version = "0.0.1"

[project.entry-points."stst.plugins"]
broken = "broken_stst_plugin"

[tool.setuptools]
py-modules = ["broken_stst_plugin"]
"""

# One fresh process, with the installed plugins on its path, runs what a user would after
# `pip install`: `stst` commands, then the plugin's own test suite (one process: Python's start-up
# with torch is the slow part).
DRIVER = """
import json, sys
import pytest
from click.testing import CliRunner
from stst_core.cli import build_cli

cli, runner, results = build_cli(), CliRunner(), {}
for name, args in json.loads(sys.argv[1]).items():
    if args[0] not in cli.commands:
        results[name] = None
        continue
    result = runner.invoke(cli, args)
    results[name] = {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
results["pytest"] = int(pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[2]]))
print(json.dumps(results))
"""

STST_SETTINGS = [
    "temporal.backbone=example-tiny3d",
    "temporal.weights=random",
    "temporal.style_layers=['conv1','conv2']",
    "temporal.content_layers=[]",
    "temporal.style_loss=example-moments",
    "spatial.options={levels=2}",
    "spatial.style_layers=['level0','level1']",
    "octaves=[{scale=0, steps=2, lr=0.01}]",
    "burn_in=1",
    "color_transfer=none",
]


def _environment(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STST_DISABLE_PLUGINS", "STST_NO_PLUGIN_AUTOLOAD")}
    env["PYTHONPATH"] = str(site)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example and a broken plugin pip-installed into a temporary site folder; and a short clip."""
    root = tmp_path_factory.mktemp("plugins")
    # build from copies, so that setuptools' build folders never land in the repository
    source = shutil.copytree(EXAMPLE, root / "stst-example-plugin", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    broken = root / "stst-broken-plugin"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "broken_stst_plugin.py").write_text('raise RuntimeError("this plugin is broken on purpose")\n')
    site = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--disable-pip-version-check"]
    subprocess.run([*pip, "--target", str(site), str(source), str(broken)], check=True, capture_output=True, text=True)
    clip = torch.stack([torch.roll(torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(0)), 2 * t, dims=2) for t in range(3)], dim=1)
    video = write_video(clip, root / "clip.mp4", fps=25)
    return site, source, video, root


@pytest.fixture(scope="module")
def session(installed):
    """Outputs of the commands a user would run after installing the plugin."""
    site, source, video, root = installed
    commands = {
        "plugins": ["plugins", "list", "--json"],
        "backbones": ["backbones", "list", "example*"],
        "losses": ["losses", "list"],
        "info": ["backbones", "info", "example-tiny3d", "--size", "32", "--json"],
        "synth": ["synth", "stst", str(video), "-o", str(root / "stst.zarr"), "--preset", "offline", "--quiet"]
        + [arg for setting in STST_SETTINGS for arg in ("--set", setting)],
        "extract": [
            "extract",
            str(video),
            "-o",
            str(root / "activations.zarr"),
            "--backbone",
            "example-tiny3d",
            "--weights",
            "random",
            "--layers",
            "conv1,pool",
            "--quiet",
        ],
    }
    done = subprocess.run(  # noqa: PLW1510 - the return code is asserted below, with stderr
        [sys.executable, "-c", DRIVER, json.dumps(commands), str(source / "tests")],
        cwd=root,  # not the source folder: the installed copy must be the one imported
        env=_environment(site),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    *pytest_output, results = done.stdout.strip().splitlines()
    return json.loads(results), root, "\n".join(pytest_output)


def test_the_installed_plugin_is_found_through_its_entry_point(session, installed):
    results = session[0]
    assert results["plugins"]["exit_code"] == 0, results["plugins"]
    infos = {info["name"]: info for info in json.loads(results["plugins"]["stdout"])}
    example = infos["example"]
    assert example["status"] == "loaded"
    assert (example["distribution"], example["version"]) == ("stst-example-plugin", "0.1.0")
    assert example["origin"] == "entry point example = example_stst_plugin"
    assert example["location"] == str(installed[0] / "example_stst_plugin" / "__init__.py")  # the installed copy
    assert example["hooks"] == ["stst_register_backbones", "stst_register_losses"]
    # the broken plugin beside it is reported, and skipped
    assert infos["broken"]["status"] == "failed"
    assert "RuntimeError: this plugin is broken on purpose" in infos["broken"]["error"]
    assert infos["vgg"]["status"] == "loaded"
    assert "example-tiny3d" in results["backbones"]["stdout"] and "example" in results["backbones"]["stdout"]
    assert "example-moments" in results["losses"]["stdout"]


def test_backbones_info_describes_the_plugins_backbone(session):
    record = json.loads(session[0]["info"]["stdout"])
    assert record["plugin"] == "example" and record["temporal_window"] == 2
    assert {layer["name"]: layer["shape"] for layer in record["layers"]} == {"conv1": [1, 8, 3, 32, 32], "conv2": [1, 16, 3, 16, 16], "pool": [1, 16]}


def test_stst_synth_takes_the_plugins_backbone_and_loss_by_name(session):
    results, root, _ = session
    assert results["synth"]["exit_code"] == 0, results["synth"]
    store = StimulusStore(root / "stst.zarr")
    assert store.complete and store.video().num_frames == 3
    config = json.loads(store.attrs["config"])
    assert config["temporal"]["backbone"] == "example-tiny3d" and config["temporal"]["style_loss"] == "example-moments"


def test_stst_extract_takes_the_plugins_backbone_by_name(session):
    results, root, _ = session
    if results["extract"] is None:
        pytest.skip("this toolkit has no `stst extract` command")
    assert results["extract"]["exit_code"] == 0, results["extract"]
    import xarray as xr

    store = xr.open_zarr(root / "activations.zarr")
    variables = set(store.data_vars)
    assert {"example-tiny3d.conv1", "example-tiny3d.pool"} <= variables
    assert store["example-tiny3d.conv1"].attrs["backbone"] == "example-tiny3d"


def test_the_example_plugins_own_tests_pass_when_installed(session):
    results, _, output = session
    assert results["pytest"] == 0, output
    assert "7 passed" in output


def test_temporary_plugins_adds_the_plugin_and_leaves_a_loaded_one_alone(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import example_stst_plugin

    try:
        with temporary_plugins() as register:
            assert register(example_stst_plugin, name="example-under-test") == "example-under-test"
            assert register(example_stst_plugin, name="again") == "example-under-test"  # already loaded: left alone
            assert "example-tiny3d" in list_backbones() and "example-moments" in list_losses()
        assert "example-tiny3d" not in list_backbones()
    finally:
        for name in [m for m in sys.modules if m.startswith("example_stst_plugin")]:
            del sys.modules[name]


def test_the_main_distribution_does_not_ship_the_example():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {p for where in config["where"] for p in setuptools.find_packages(where=str(REPO / where), include=config["include"])}
    assert "stst_core" in packages and "stst_videomodels" in packages and "stst_timm" in packages
    assert not any("example" in p for p in packages)
    example = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert example["entry-points"]["stst.plugins"] == {"example": "example_stst_plugin"}


def test_the_plugin_guide_walks_through_the_example():
    guide = (REPO / "docs" / "plugins.md").read_text()
    for snippet in (
        "pip install -e plugins/examples/stst-example-plugin",
        'pytest_plugins = ["stst_core.testing"]',
        "stst synth stst",
        "stst extract",
        "--backbone example-tiny3d",
    ):
        assert snippet in guide, snippet
    for module in ("__init__.py", "backbone.py", "losses.py"):
        # the guide shows the example's modules as they are
        code = (EXAMPLE / "example_stst_plugin" / module).read_text()
        assert textwrap.dedent(code).strip() in guide, module
