"""The `stst` command line: listings, info, weights, errors without tracebacks, plugin commands."""

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

import stst_core
import stst_msoe
from stst_core.cli import build_cli, cli
from stst_core.testing import registered_plugin


def run(*args):
    result = CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)
    return result


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"stst {stst_core.__version__}"


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "stst"
    out = subprocess.run([str(script), "backbones", "list"], capture_output=True, text=True, check=True)
    assert "msoe" in out.stdout and "vgg19" in out.stdout


def test_plugins_list():
    result = run("plugins", "list")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()[2:]}
    assert {"vgg", "msoe", "losses"} <= set(lines)
    assert "stst-toolkit" in lines["msoe"] and "backbones" in lines["msoe"] and "entry point" in lines["msoe"]
    records = json.loads(run("plugins", "list", "--json").output)
    assert {r["name"]: r["status"] for r in records}["vgg"] == "loaded"
    verbose = {line.split()[0]: line for line in run("plugins", "list", "-v").output.splitlines()[2:]}
    assert verbose["msoe"].rstrip().endswith(str(Path("stst_msoe") / "__init__.py"))


def test_backbones_list_with_pattern():
    assert run("backbones", "list").output.count("\n") >= 4
    listed = run("backbones", "list", "vgg*").output
    assert "vgg19" in listed and "msoe" not in listed


def test_backbones_info_msoe():
    result = run("backbones", "info", "msoe", "--size", "96")
    assert result.exit_code == 0
    assert "Tesfaldet" in result.output and "tesfaldet" in result.output and "analytic" in result.output
    record = json.loads(run("backbones", "info", "msoe", "--size", "96", "--json").output)
    layers = {layer["name"]: layer for layer in record["layers"]}
    assert layers["concat"] == {
        "name": "concat",
        "axes": "CTHW",
        "channels": 320,
        "shape": [1, 320, 3, 96, 96],
        "description": "all levels upsampled to full size",
    }
    assert layers["scale2"]["shape"] == [1, 64, 3, 24, 24]
    assert record["temporal_window"] == 2 and record["default_weights"] == "tesfaldet"


def test_backbones_info_vgg19():
    record = json.loads(run("backbones", "info", "vgg19", "--size", "64", "--frames", "1", "--json").output)
    layers = {layer["name"]: layer for layer in record["layers"]}
    assert layers["relu3_1"]["shape"] == [1, 256, 1, 16, 16]
    assert record["licence"] and "Simonyan" in record["paper"]
    assert record["options"]["pooling"] == "one of 'max', 'avg', default 'max'"
    assert {c["tag"] for c in record["weights_choices"]} == {"imagenet", "keras", "random"}


def test_losses_list():
    output = run("losses", "list").output
    for name in ("gram", "mse", "tv", "mean_embedding"):
        assert name in output


def test_weights_path_and_list(monkeypatch, tmp_path):
    monkeypatch.setenv("STST_CACHE_DIR", str(tmp_path / "weights"))
    assert run("weights", "path").output.strip() == str(tmp_path / "weights")
    listing = run("weights", "list").output
    assert "msoe.tesfaldet" in listing and "vgg19.imagenet" in listing


def test_weights_fetch_downloads_into_the_cache(file_server, monkeypatch, msoe_weights):
    folder, base, _ = file_server
    (folder / "w.npz").write_bytes(msoe_weights.read_bytes())
    local = stst_msoe.TESFALDET.__class__(**{**stst_msoe.TESFALDET.__dict__, "urls": (f"{base}/w.npz",)})
    choices = tuple(stst_msoe.WeightsChoice(c.tag, c.description, c.licence, local) if c.file else c for c in stst_msoe.MSOE.weights_choices)
    monkeypatch.setattr(stst_msoe.MSOE, "weights_choices", choices)
    result = run("weights", "fetch", "msoe")
    assert result.exit_code == 0, result.output
    assert (stst_core.cache_dir() / "msoe_tesfaldet_weights.npz").is_file()
    assert "yes" in run("weights", "list").output.split("msoe.tesfaldet")[1].splitlines()[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (("backbones", "info", "nosuch"), "unknown backbone 'nosuch'"),
        (("weights", "fetch", "nosuch"), "no downloadable weights called 'nosuch'"),
        (("weights", "fetch", "vgg19.imagenet"), "could not download vgg19.imagenet"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_plugin_adds_a_command():
    class Plugin:
        @stst_core.hookimpl
        def stst_register_commands(self, cli):
            @cli.command()
            @click.argument("name")
            def hello(name):
                "Say hello."
                click.echo(f"Hello, {name}!")

    with registered_plugin(Plugin(), name="greeter"):
        try:
            assert run("hello", "lab").output == "Hello, lab!\n"
        finally:
            cli.commands.pop("hello", None)


def test_backbones_info_names_a_classifiers_classes():
    record = json.loads(run("backbones", "info", "r3d_18", "--size", "32", "--frames", "2", "--json").output)
    assert len(record["classes"]) == 400 and record["classes"][0] == "abseiling"  # Kinetics-400, in the logits' order
    text = run("backbones", "info", "r3d_18", "--size", "32", "--frames", "2").output
    assert "400 in the logits layer (abseiling," in text
    assert json.loads(run("backbones", "info", "msoe", "--size", "32", "--json").output)["classes"] == []


def test_synthesizers_list_and_show_config_round_trip(tmp_path):
    listed = run("synthesizers", "list").output
    assert "stst" in listed and "paper*, reference, offline" in listed and "stps" in listed
    shown = run("synth", "stst", "--show-config", "--preset", "offline", "--set", "octaves.0.steps=7")
    assert shown.exit_code == 0, shown.output
    (tmp_path / "mine.toml").write_text(shown.output)
    from stst_styletransfer import STSTSynthesizer

    again = STSTSynthesizer.resolve(None, tmp_path / "mine.toml")  # the paper preset, overridden by every shown setting
    assert again == STSTSynthesizer.resolve("offline", overrides=["octaves.0.steps=7"])
    assert again.octaves[0].steps == 7


def test_synth_takes_the_frame_rate_of_an_input_without_one(tmp_path):
    from PIL import Image

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = torch.Generator().manual_seed(0)
    for t in range(3):
        Image.fromarray((torch.rand(12, 16, 3, generator=rng) * 255).byte().numpy()).save(frames / f"frame_{t}.png")
    result = run("synth", "stps", str(frames), "-o", str(tmp_path / "s.zarr"), "--fps", "12", "--quiet")
    assert result.exit_code == 0, result.output
    assert stst_core.StimulusStore(tmp_path / "s.zarr").video().fps == 12
    default = run("synth", "stps", str(frames), "-o", str(tmp_path / "d.zarr"), "--quiet")
    assert default.exit_code == 0 and stst_core.StimulusStore(tmp_path / "d.zarr").video().fps == 25  # read_video's default for frames without a rate
