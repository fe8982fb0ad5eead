"""Every command meets bad input the same way: one line, ``Error: …``, exit status 1, no traceback.

The commands are found by walking the CLI (plugins' commands included), so a
new command must be added to ``VALID`` below: a test fails until it is.
"""

import signal
import subprocess
import sys

import click
import pytest
import torch

from stst_core import Video, create_backbone, extract, load_inputs, write_video
from stst_core.cli import build_cli
from stst_core.testing import assert_cli_error, run_cli
from stst_stps import STPSSynthesizer

# arguments each command accepts, so that exactly one thing is wrong in each case below
VALID = {
    "backbones info": ["msoe"],
    "backbones list": [],
    "compare": ["{acts}", "--between", "condition=natural", "--and", "condition=stps", "--bootstrap", "0"],
    "compare-methods": ["{clip}", "-o", "{out}/methods"],
    "demo": ["-o", "{out}/demo", "--input", "{clip}"],
    "export": ["{store}", "{out}/exported.mp4"],
    "extract": ["{clip}", "-o", "{out}/acts.zarr", "--backbone", "random-multiscale"],
    "leaps-eval": ["{store}", "--judge", "toy-judge"],
    "losses list": [],
    "metrics": ["{store}"],
    "plugins list": [],
    "prednet eval": ["{clip}", "--condition", "natural={clip}"],
    "prednet train": ["{clip}", "-o", "{out}/prednet.safetensors"],
    "present": ["{store}"],
    "recover": ["{clip}", "--mask-type", "region", "-o", "{out}/r.zarr"],
    "synth leaps": ["{clip}", "-o", "{out}/s.zarr", "--backbone", "r3d_18", "--weights", "random", "--class", "0"],
    "synth stgconvnet": ["{clip}", "-o", "{out}/s.zarr"],
    "synth stps": ["{clip}", "-o", "{out}/s.zarr"],
    "synth stst": ["{clip}", "-o", "{out}/s.zarr"],
    "synth two-stream": ["{clip}", "-o", "{out}/s.zarr"],
    "synthesizers list": [],
    "toyworld make": ["-o", "{out}/world"],
    "toyworld train": ["{out}", "-o", "{out}/models"],
    "weights fetch": ["msoe"],
    "weights list": [],
    "weights path": [],
}

MISSING_FILE = [
    ("compare", ["{missing}", "--between", "condition=natural", "--and", "condition=stps"]),
    ("compare-methods", ["{missing}", "-o", "{out}/methods"]),
    ("demo", ["--input", "{missing}"]),
    ("export", ["{missing}", "{out}/exported.mp4"]),
    ("extract", ["{missing}", "-o", "{out}/acts.zarr", "--backbone", "random-multiscale"]),
    ("extract", ["{clip}", "-o", "{out}/acts.zarr", "--backbone", "vgg19", "--weights", "{missing}.safetensors"]),
    ("metrics", ["{missing}", "--target", "{clip}"]),
    ("metrics", ["{store}", "--target", "{missing}"]),
    ("prednet eval", ["{missing}", "--condition", "natural={clip}"]),
    ("prednet train", ["{missing}", "-o", "{out}/prednet.safetensors"]),
    ("present", ["{missing}"]),
    ("leaps-eval", ["{missing}", "--judge", "toy-judge"]),
    ("toyworld train", ["{missing}", "-o", "{out}/models"]),
    ("recover", ["{missing}", "--mask-type", "region", "-o", "{out}/r.zarr"]),
    ("recover", ["{clip}", "--mask", "{missing}.npy", "-o", "{out}/r.zarr"]),
    ("synth leaps", ["{missing}", "-o", "{out}/s.zarr", "--backbone", "r3d_18", "--weights", "random"]),
    ("synth stgconvnet", ["{missing}", "-o", "{out}/s.zarr"]),
    ("synth stps", ["{missing}", "-o", "{out}/s.zarr"]),
    ("synth stst", ["{missing}", "-o", "{out}/s.zarr"]),
    ("synth two-stream", ["{missing}", "-o", "{out}/s.zarr"]),
    ("synth stst", ["{clip}", "-o", "{out}/s.zarr", "--config", "{missing}"]),
]

# (command, arguments, what the message must name)
BAD_SETTING = [
    ("synth stst", ["{clip}", "-o", "{out}/s.zarr", "--set", "nosuch=1"], "nosuch"),
    ("synth stst", ["{clip}", "-o", "{out}/s.zarr", "--preset", "nosuch"], "nosuch"),
    ("synth two-stream", ["{clip}", "-o", "{out}/s.zarr", "--set", "steps=zero"], "steps"),
    ("synth leaps", ["{clip}", "-o", "{out}/s.zarr", "--backbone", "r3d_18", "--weights", "random", "--class", "no such class"], "no such class"),
    ("synth leaps", ["{clip}", "-o", "{out}/s.zarr", "--backbone", "msoe", "--weights", "analytic"], "logits"),
    ("synth stps", ["{clip}", "-o", "{out}/s.zarr", "--frames", "0"], "--frames"),
    ("demo", ["-o", "{out}/demo", "--input", "{clip}", "--set", "nosuch=1"], "nosuch"),
    ("compare-methods", ["{clip}", "-o", "{out}/methods", "--set", "stst:nosuch=1"], "nosuch"),
    ("compare-methods", ["{clip}", "-o", "{out}/methods", "--methods", "nosuch"], "nosuch"),
    ("extract", ["{clip}", "-o", "{out}/acts.zarr", "--backbone", "random-multiscale", "--option", "nosuch=1"], "nosuch"),
    ("extract", ["{clip}", "-o", "{out}/acts.zarr", "--backbone", "nosuch"], "nosuch"),
    ("extract", ["{clip}", "-o", "{out}/acts.zarr", "--backbone", "random-multiscale", "--layers", "nosuch"], "nosuch"),
    ("extract", ["{clip}", "-o", "{out}/acts.zarr", "--backbone", "random-multiscale", "--crop", "2by3"], "HEIGHTxWIDTH"),
    ("metrics", ["{store}", "--option", "gram.nosuch=1", "--metric", "gram"], "nosuch"),
    ("metrics", ["{store}", "--metric", "nosuch"], "nosuch"),
    ("compare", ["{acts}", "--between", "nosuch=1", "--and", "condition=stps"], "nosuch"),
    ("export", ["{store}", "{out}/exported.mp4", "--sample", "3"], "sample"),
    ("backbones info", ["nosuch"], "nosuch"),
    ("weights fetch", ["nosuch"], "nosuch"),
    ("prednet train", ["{clip}", "-o", "{out}/prednet.pt"], "safetensors"),
    ("synth stps", ["{clip}", "-o", "{out}/s.zarr", "--seed", "1" + "0" * 22], "--seed"),
    ("synth stps", ["{clip}", "-o", "{out}/s.zarr", "--seed", "-1"], "--seed"),
    ("extract", ["{clip}", "-o", "{out}/acts.zarr", "--backbone", "random-multiscale", "--seed", "1" + "0" * 22], "--seed"),
    ("synth stps", ["{clip}", "-o", "{out}/s.zarr", "--size", "100000"], "--size"),
    ("synth stst", ["{clip}", "-o", "{out}/s.zarr", "--set", "weights.spatial_style=nan"], "finite"),
    ("synth two-stream", ["{clip}", "-o", "{out}/s.zarr", "--set", "weights.dynamics=1e39"], "float32"),
    ("recover", ["{clip}", "-o", "{out}/r.zarr"], "--mask-type"),
    ("recover", ["{clip}", "--mask-type", "blobs", "-o", "{out}/r.zarr"], "blobs"),
    ("recover", ["{clip}", "--mask-type", "region", "--mask-ratio", "1", "-o", "{out}/r.zarr"], "--mask-ratio"),
]


def leaf_commands() -> dict[str, click.Command]:
    found = {}

    def walk(command, path, ctx):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name], ctx)
        else:
            found[" ".join(path)] = command

    cli = build_cli()
    walk(cli, [], click.Context(cli))
    return found


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-errors")
    clip = Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10)
    clip_path = write_video(clip, folder / "clip.npz")
    store = STPSSynthesizer({"content": clip}, seed=0).synthesize(folder / "stimulus.zarr", progress=False)
    acts = folder / "acts.zarr"
    extract(load_inputs([clip_path, store.path]), acts, backbone="random-multiscale", options={"levels": 2}, progress=False)
    create_backbone("msoe", weights="analytic")  # warm: the first build imports the plugin
    return {"clip": clip_path, "store": store.path, "acts": acts, "out": folder / "out", "missing": folder / "no-such-file.mp4"}


def filled(args, paths):
    return [str(a).format(**paths) for a in args]


def test_every_command_is_covered():
    assert sorted(leaf_commands()) == sorted(VALID), "add the new command to VALID (and to the tables it belongs in)"


@pytest.mark.parametrize("command", sorted(VALID))
def test_an_unknown_option(command, paths):
    assert_cli_error(*command.split(), *filled(VALID[command], paths), "--no-such-option", says=["--no-such-option", f"stst {command} --help"])


DEVICE_COMMANDS = sorted(name for name, command in leaf_commands().items() if any("--device" in getattr(p, "opts", ()) for p in command.params))


def test_the_device_commands_are_found():
    assert {"extract", "synth stst", "demo", "prednet train", "compare-methods"} <= set(DEVICE_COMMANDS)


@pytest.mark.parametrize("command", DEVICE_COMMANDS)
@pytest.mark.parametrize("device", ["gpu", "cuda:7"])
def test_an_unknown_device(command, device, paths):
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    assert_cli_error(*command.split(), *filled(VALID[command], paths), "--device", device, says=[repr(device), "cpu"])


@pytest.mark.parametrize("command, args", MISSING_FILE, ids=[f"{c}-{i}" for i, (c, _) in enumerate(MISSING_FILE)])
def test_a_missing_file(command, args, paths):
    assert_cli_error(*command.split(), *filled(args, paths), says=["no-such-file"])


@pytest.mark.parametrize("command, args, named", BAD_SETTING, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BAD_SETTING)])
def test_a_bad_setting(command, args, named, paths):
    assert_cli_error(*command.split(), *filled(args, paths), says=[named])


def test_nothing_was_written(paths):
    """Every refusal above came before any output was made."""
    assert not paths["out"].exists() or not any(paths["out"].iterdir())


def test_run_cli_reports_success(paths):
    result = run_cli("synthesizers", "list")
    assert result.exit_code == 0 and "stps" in result.output


def test_ctrl_c_while_the_toolkit_is_still_loading_is_one_line(tmp_path):
    """Loading torch takes seconds: a Ctrl-C then ends like one later (one line, status 1), not in an import traceback."""
    # the entry point as the `stst` script calls it, with the torch import held up so that the signal lands inside it
    launcher = (
        "import builtins, sys, time\n"
        "real = builtins.__import__\n"
        "def held(name, *args, **kwargs):\n"
        "    if name == 'torch':\n"
        "        print('loading', flush=True); time.sleep(60)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = held\n"
        "sys.argv = ['stst', 'plugins', 'list']\n"
        "from stst_core._entry import main\n"
        "main()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", launcher], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert process.stdout.readline().strip() == "loading"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1 and err.strip() == "Aborted!", err
