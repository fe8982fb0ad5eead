"""`stst metrics` and `stst compare-methods` end to end, on tiny stores."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

from stst_core import Video, write_video
from stst_core._store import StimulusStore, video_fingerprint
from stst_core.cli import build_cli
from stst_stps import STPSSynthesizer
from stst_styletransfer import STSTSynthesizer

# the offline preset, cut down to seconds: the metrics need a real STST store, not a good one
TINY_STST = ["octaves=[{scale=0, steps=2, lr=0.01}]", "burn_in=1", "spatial.options={levels=2, channels=16}", "spatial.style_layers=['level0','level1']"]
FRAMES, SIZE = 5, 24  # the fewest frames oriented energy takes
FAST_METRICS = ["--metric", "pixels", "--metric", "flow", "--metric", "power_spectrum", "--metric", "autocorrelation"]


def drifting(frames=FRAMES, size=SIZE, seed=0) -> Video:
    generator = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 3, size, size * 2, generator=generator), 3, 1, 1)[0]
    clip = torch.stack([torch.roll(base, 2 * t, dims=2)[:, :, :size] for t in range(frames)], dim=1)
    return Video(((clip - clip.min()) / (clip.max() - clip.min())).contiguous(), fps=25, source="drifting")


def run(*args):
    return CliRunner().invoke(build_cli(), [str(a) for a in args])


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A tiny STST metamer and an STPS stimulus of one target (also saved as ``target.npz``)."""
    folder = tmp_path_factory.mktemp("stores")
    target = drifting()
    write_video(target, folder / "target.npz")
    config = STSTSynthesizer.resolve("offline", overrides=TINY_STST)
    metamer = STSTSynthesizer({"content": target}, config, seed=0).synthesize(folder / "stst.zarr", progress=False)
    scrambled = STPSSynthesizer({"content": target}, seed=0).synthesize(folder / "stps.zarr", progress=False)
    return folder, target, metamer, scrambled


def test_metrics_of_two_stores_against_their_own_target(stores, tmp_path):
    _, _, metamer, scrambled = stores
    report, table, figure = tmp_path / "report.json", tmp_path / "table.csv", tmp_path / "card.png"
    result = run("metrics", metamer.path, scrambled.path, "-o", report, "--csv", table, "--plot", figure, "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["METRIC", "stst.zarr", "stps.zarr"]
    assert any(line.startswith("flow.direction_histogram") for line in lines)
    record = json.loads(report.read_text())
    assert [row["method"] for row in record["stimuli"]] == ["stst", "stps"]
    assert set(record["metrics"]) == {"power_spectrum", "oriented_energy", "flow", "flicker", "autocorrelation", "pixels", "novelty", "gram"}
    stps_values = record["stimuli"][1]["values"]
    # phase scrambling keeps the spectrum: only the clipping into [0, 1] moves it
    assert stps_values["power_spectrum.joint"] < 0.1
    assert record["stimuli"][0]["target"]["sha256"] == record["stimuli"][1]["target"]["sha256"]
    rows = list(csv.DictReader(table.open()))
    assert [r["method"] for r in rows] == ["stst", "stps"] and float(rows[1]["power_spectrum.joint"]) == pytest.approx(stps_values["power_spectrum.joint"])
    assert set(record["columns"]) <= set(rows[0])
    picture = np.asarray(Image.open(figure))
    assert picture.shape[0] > 600 and picture.std() > 20


def test_metrics_of_a_video_file_against_a_target(stores, tmp_path):
    _, target, metamer, _ = stores
    generated = write_video(metamer.video(), tmp_path / "metamer.npz")
    result = run("metrics", generated, "--target", metamer.path, *FAST_METRICS, "--quiet")  # a store as target: its target
    assert result.exit_code == 0, result.output
    values = {line.split()[0]: float(line.split()[1]) for line in result.output.splitlines()[2:]}
    assert {k.split(".")[0] for k in values} == {"pixels", "flow", "power_spectrum", "autocorrelation"}
    self_check = run("metrics", write_video(target, tmp_path / "target.npz"), "--target", tmp_path / "target.npz", "--metric", "pixels", "--quiet")
    assert all(float(line.split()[1]) == 0 for line in self_check.output.splitlines()[2:])


def test_metric_options_from_the_command_line(stores, tmp_path):
    _, _, metamer, _ = stores
    result = run(
        "metrics", metamer.path, "--metric", "gram", "--option", "gram.backbone=msoe", "--option", "gram.weights=analytic", "-o", tmp_path / "r.json", "--quiet"
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "r.json").read_text())
    assert list(record["stimuli"][0]["values"]) == ["gram.concat"]
    assert record["metrics"]["gram"]["options"] == {"backbone": "msoe", "weights": "analytic"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["{stst}"], None),
        (["{video}"], "records no target; give one with --target"),
        (["{small}", "--target", "{video}"], "--size PX"),
        (["missing.mp4", "--target", "{video}"], "no such file"),
        (["{stst}", "--metric", "nosuch"], "unknown metric 'nosuch'"),
        (["{stst}", "--option", "backbone=msoe"], "METRIC.KEY=VALUE"),
        (["{stst}", "--set", "gram.backbone=msoe"], "--option METRIC.KEY=VALUE"),
        (["{stst}", "--metric", "pixels", "--option", "flow.directions=4"], "not evaluated"),
        ([], "at least one GENERATED"),
    ],
)
def test_metrics_errors_say_what_to_do(stores, tmp_path, args, message):
    _, target, metamer, _ = stores
    paths = {
        "stst": metamer.path,
        "video": write_video(target, tmp_path / "video.npz"),
        "small": write_video(Video(target.frames[:, :, :16, :16].contiguous(), target.fps), tmp_path / "small.npz"),
    }
    result = (
        run("metrics", *[a.format(**paths) for a in args], "--metric", "pixels", "--quiet")
        if message is None
        else run("metrics", *[a.format(**paths) for a in args], "--quiet")
    )
    if message is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_one_report_card_needs_one_target(stores, tmp_path):
    _, _, metamer, _ = stores
    other = STPSSynthesizer({"content": drifting(seed=1)}, seed=0).synthesize(tmp_path / "other.zarr", progress=False)
    result = run("metrics", metamer.path, other.path, "--metric", "pixels", "--plot", tmp_path / "card.png", "--quiet")
    assert result.exit_code != 0 and "different targets" in result.output and "METRIC" not in result.output  # refused before measuring
    assert run("metrics", metamer.path, other.path, "--metric", "pixels", "--quiet").exit_code == 0  # each against its own: fine


def test_metrics_list():
    result = run("metrics", "list")
    assert result.exit_code == 0
    assert "novelty" in result.output and "Farnebäck" in result.output
    assert run("metrics", "--list").output == result.output
    flow_only = run("metrics", "list", "flow*").output
    assert "flow" in flow_only and "novelty" not in flow_only


def test_compare_methods_makes_each_stimulus_then_measures_it(stores, tmp_path):
    folder, target, metamer, _ = stores
    out = tmp_path / "compare"
    out.mkdir()
    # an STST store of the same input and settings is resumed, here: already complete, so reused as it is
    shutil.copytree(metamer.path, out / "stst.zarr")
    args = ["compare-methods", folder / "target.npz", "-o", out, "--size", SIZE, *FAST_METRICS, "--quiet", *[f"--set=stst:{o}" for o in TINY_STST]]
    result = run(*args)
    assert result.exit_code == 0, result.output
    for name in ("stst.zarr", "stst.mp4", "stps.zarr", "stps.mp4", "target.mp4", "metrics.json", "metrics.csv", "report.png"):
        assert (out / name).exists(), name
    record = json.loads((out / "metrics.json").read_text())
    assert [row["method"] for row in record["stimuli"]] == ["stst", "stps"]
    assert record["stimuli"][0]["target"]["sha256"] == video_fingerprint(target)["sha256"]
    assert StimulusStore(out / "stst.zarr").attrs["elapsed_seconds"] == metamer.attrs["elapsed_seconds"]  # not run again
    torch.testing.assert_close(StimulusStore(out / "stps.zarr").video().frames, StimulusStore(folder / "stps.zarr").video().frames)
    assert "flow.mean_speed" in result.output and "stst" in result.output.splitlines()[0]
    # other settings for an existing store are refused rather than mixed into it
    changed = run(*args, "--set=stst:weights.tv=0.5")
    assert changed.exit_code != 0 and "--overwrite" in changed.output


def test_compare_methods_uses_the_offline_preset_of_stst_by_default():
    from stst_metrics.cli import method_configs

    configs = method_configs(["stst", "stps"], presets=(), overrides=())
    assert configs["stst"][0] == "offline" and configs["stst"][1].spatial.backbone == "random-multiscale"
    assert configs["stps"][0] == "default"
    assert method_configs(["stst"], presets=("stst=paper",), overrides=())["stst"][0] == "paper"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "stst,nosuch"], "unknown synthesizer 'nosuch'"),
        (["--preset", "stps"], "METHOD=PRESET"),
        (["--preset", "two-stream=paper"], "not one of the methods compared"),
        (["--set", "stst:nosuchkey=1"], "nosuchkey"),
    ],
)
def test_compare_methods_errors(tmp_path, args, message):
    clip = write_video(drifting(), tmp_path / "clip.npz")
    result = run("compare-methods", clip, "-o", tmp_path / "out", *args, "--quiet")
    assert result.exit_code != 0 and message in result.output, result.output
    assert not (tmp_path / "out").exists()  # nothing is written before the settings are checked
