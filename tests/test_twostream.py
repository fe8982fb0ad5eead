"""Two-stream dynamic texture synthesis: the variants, dynamics style transfer, resume, the CLI on DynTex."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr

from stst_core import ConfigError, Video, get_registry
from stst_core.testing import check_resume_after_every_write
from stst_twostream.synthesizer import TwoStreamSynthesizer

FAST = [
    "appearance.backbone=random-multiscale",
    "appearance.weights=random",
    "appearance.options={levels=2, channels=32, kernel_size=5}",
    "appearance.style_layers=['level0','level1']",
    "dynamics.weights=analytic",
    "steps=12",
    "checkpoint_every=4",
]


def drifting(frames=4, size=32, dx=2, seed=0, colour=(1.0, 0.8, 0.5)) -> Video:
    generator = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 3, size, size * 3, generator=generator), 3, 1, 1)[0]
    clip = torch.stack([torch.roll(base, dx * t, dims=2)[:, :, :size] for t in range(frames)], dim=1)
    return Video((clip * torch.tensor(colour).view(3, 1, 1, 1)).contiguous(), fps=25, source=f"drifting {seed}")


def synthesizer(overrides=(), **targets):
    targets.setdefault("content", drifting())
    return TwoStreamSynthesizer(targets, TwoStreamSynthesizer.resolve("paper", overrides=[*FAST, *overrides]), seed=0)


def test_registered():
    assert get_registry("synthesizers").get("two-stream").factory is TwoStreamSynthesizer


def test_standard_run_lowers_both_terms(tmp_path):
    store = synthesizer().synthesize(tmp_path / "dts.zarr", progress=False)
    assert store.complete and store.units_done == 12 and store.unit == "step"
    ds = xr.open_zarr(tmp_path / "dts.zarr")
    assert ds.video.shape == (4, 3, 32, 32) and np.isfinite(ds.video.values).all()
    assert ds.loss.dims == ("step", "term")
    loss = ds.loss.values
    assert list(ds.term.values) == ["appearance", "dynamics"]
    assert (loss[-1] < loss[0] / 3).all()
    evaluation = store.evaluation()
    assert np.isnan(evaluation.sel(evaluated="result", term="dynamics", time=0))
    for term in ("appearance", "dynamics"):
        noise = float(evaluation.sel(evaluated="noise", term=term).mean())
        assert float(evaluation.sel(evaluated="result", term=term).mean()) < noise / 3


def test_incremental_keeps_the_given_first_frame(tmp_path):
    first = drifting(frames=1, seed=7)
    store = synthesizer(["variant=incremental"], first_frame=first).synthesize(tmp_path / "inc.zarr", progress=False)
    video = store.video().frames
    torch.testing.assert_close(video[:, 0], first.frames[:, 0])
    assert not torch.allclose(video[:, 1], first.frames[:, 0])


def test_incremental_defaults_to_the_targets_first_frame(tmp_path):
    target = drifting()
    store = synthesizer(["variant=incremental"], content=target).synthesize(tmp_path / "inc.zarr", progress=False)
    torch.testing.assert_close(store.video().frames[:, 0], target.frames[:, 0])


def test_infinite_includes_the_loop_transition(tmp_path):
    synth = synthesizer(["variant=infinite"])
    store = synth.synthesize(tmp_path / "inf.zarr", progress=False)
    # frame 0's dynamics is the last→first pair: measured, and brought down like the others
    evaluation = store.evaluation()
    loop = float(evaluation.sel(evaluated="result", term="dynamics", time=0))
    noise = float(evaluation.sel(evaluated="noise", term="dynamics", time=0))
    assert np.isfinite(loop) and loop < noise / 2


def test_dynamics_style_transfer_from_a_still_image(tmp_path):
    still = Video(drifting(frames=1, size=48, seed=9, colour=(0.3, 0.6, 1.0)).frames, fps=25, source="still")
    store = synthesizer(appearance=still).synthesize(tmp_path / "dst.zarr", progress=False)
    assert store.targets["appearance"]["source"] == "still"
    # the appearance (here: blue) comes from the still, not from the orange input
    mean = store.video().frames.mean(dim=(1, 2, 3))
    assert mean[2] > mean[0]


def test_a_first_frame_needs_the_incremental_variant():
    with pytest.raises(ConfigError, match="only used by variant='incremental'"):
        synthesizer(first_frame=drifting(frames=1))


@pytest.mark.parametrize("optimizer", ["adam"])
def test_a_kill_after_any_write_resumes_bit_identically(tmp_path, optimizer):
    """Adam's moments are in the checkpoint, so resume is exact (L-BFGS: the conformance suite, whose quick preset uses it)."""
    overrides = [f"optimizer={optimizer}", "steps=6", "checkpoint_every=2", "lr=0.02"]
    writes = check_resume_after_every_write(lambda: synthesizer(overrides), tmp_path)
    assert writes.count("checkpoint") == 3


def test_cli_on_a_dyntex_clip(tmp_path, shared_data_dir):
    clip = shared_data_dir / "dyntex" / "flag.avi"
    stst = str(Path(sys.executable).parent / "stst")
    out = tmp_path / "flag.zarr"
    args = [stst, "synth", "two-stream", str(clip), "-o", str(out), "--frames", "4", "--size", "48", "--quiet", "--preset", "offline", "--set", "steps=5"]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ds = xr.open_zarr(out)
    assert ds.attrs["status"] == "complete" and ds.video.shape == (4, 3, 39, 48)
    assert "flag.avi" in ds.attrs["targets"]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_cli_killed_mid_run_resumes_to_the_uninterrupted_result(tmp_path, optimizer):
    """`stst synth two-stream` killed with SIGKILL, run again: the same clip, bit for bit."""
    import os
    import signal
    import time

    from stst_core import StimulusStore, write_video

    clip = write_video(drifting(), tmp_path / "clip.npz")
    stst = str(Path(sys.executable).parent / "stst")
    settings = [*FAST, "steps=40", "checkpoint_every=4", f"optimizer={optimizer}", "lr=0.02"]
    args = [stst, "synth", "two-stream", str(clip), "--preset", "paper", "--quiet", *[a for s in settings for a in ("--set", s)]]
    subprocess.run([*args, "-o", str(tmp_path / "whole.zarr")], check=True, capture_output=True)
    killed = tmp_path / "killed.zarr"
    process = subprocess.Popen([*args, "-o", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (killed.exists() and StimulusStore(killed).units_done >= 8):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 8 <= StimulusStore(killed).units_done < 40
    subprocess.run([*args, "-o", str(killed)], check=True, capture_output=True)
    assert StimulusStore(killed).complete
    np.testing.assert_array_equal(xr.open_zarr(killed).video.values, xr.open_zarr(tmp_path / "whole.zarr").video.values)
    np.testing.assert_array_equal(xr.open_zarr(killed).loss.values, xr.open_zarr(tmp_path / "whole.zarr").loss.values)


# -- the reference's settings ------------------------------------------------------------


def test_the_reference_start_is_the_imagenet_mean_colour_with_noise_of_one_grey_level():
    synth = synthesizer(["init=reference"])
    start = synth.initial()
    torch.testing.assert_close(synth.noise_start(start), start)  # the result is judged against this start, not uniform noise
    means = start.mean(dim=(0, 2, 3)) * 255
    torch.testing.assert_close(means, torch.tensor([123.68, 116.779, 103.939]), atol=0.1, rtol=0)  # R, G, B
    assert abs(float(start.std(dim=(0, 2, 3)).mean()) * 255 - 1) < 0.05


def test_a_budget_of_evaluations_unbounded_then_clipped(tmp_path):
    settings = ["budget=evaluations", "bounds=false", "steps=10", "checkpoint_every=5"]
    store = synthesizer(settings).synthesize(tmp_path / "budget.zarr", progress=False)
    ds = xr.open_zarr(tmp_path / "budget.zarr")
    evaluations = ds.evaluations.values
    assert ds.evaluations.dims == ("step",) and (np.diff(evaluations) >= 0).all()
    # every iteration evaluates at least once (the first twice): the iteration that passes the budget is the last
    assert evaluations[0] >= 2 and 10 < evaluations[-1] <= 10 + 20 and (evaluations[:-1] <= 10).all()
    assert store.complete and 0 <= ds.video.min() and ds.video.max() <= 1
    # the counters resume exactly with the rest
    check_resume_after_every_write(lambda: synthesizer(settings), tmp_path / "kills")


def test_equalisation_starts_every_term_at_its_weight_times_equalize(tmp_path):
    synth = synthesizer(["equalize=1e4", "weights={appearance=1, dynamics=3}", "steps=2"])
    store = synth.synthesize(tmp_path / "eq.zarr", progress=False)
    first = xr.open_zarr(tmp_path / "eq.zarr").loss.values[0]
    np.testing.assert_allclose(synth.weights.cpu().numpy() * first, [1e4, 3e4], rtol=1e-4)
    assert store.complete


def test_each_layer_of_each_term_is_recorded(tmp_path):
    synthesizer(["steps=3"]).synthesize(tmp_path / "layers.zarr", progress=False)
    ds = xr.open_zarr(tmp_path / "layers.zarr")
    assert list(ds.term_layer.values) == ["appearance/level0", "appearance/level1", "dynamics/concat"]
    for term in ("appearance", "dynamics"):
        layers = ds.layer_loss.where(ds.term_layer_term == term, drop=True).mean("term_layer")
        np.testing.assert_allclose(layers.values, ds.loss.sel(term=term).values, rtol=1e-5)


def gatys_vgg19_file(path):
    """A VGG-19 state dict named as Gatys et al.'s PyTorch port names it (conv1_1.weight …), random values."""
    generator = torch.Generator().manual_seed(0)
    state, channels = {}, 3
    for block, (convs, width) in enumerate([(2, 64), (2, 128), (4, 256), (4, 512), (4, 512)], 1):
        for i in range(1, convs + 1):
            state[f"conv{block}_{i}.weight"] = torch.randn(width, channels, 3, 3, generator=generator) * (2 / (9 * channels)) ** 0.5
            state[f"conv{block}_{i}.bias"] = torch.zeros(width)
            channels = width
    torch.save(state, path)
    return path


def test_the_reference_preset_without_gatys_file_says_where_it_goes(tmp_path, monkeypatch):
    from stst_core import WeightsError

    monkeypatch.chdir(tmp_path)
    synth = TwoStreamSynthesizer({"content": drifting()}, TwoStreamSynthesizer.resolve("reference", overrides=["dynamics.weights=analytic"]))
    with pytest.raises(WeightsError, match=r"vgg_conv\.pth .*--set appearance\.weights=PATH; --set appearance\.weights=keras"):
        synth.streams()


@pytest.mark.slow
def test_the_reference_preset_from_the_command_line(tmp_path):
    """`stst synth two-stream CLIP --preset reference --crop square --size N` with Gatys' VGG-19 given as a file."""
    from stst_core import write_video
    from stst_core.testing import run_cli

    wide = Video(torch.rand(3, 3, 48, 64, generator=torch.Generator().manual_seed(1)), fps=25, source="wide")
    clip = write_video(wide, tmp_path / "wide.npz")
    weights = gatys_vgg19_file(tmp_path / "vgg_conv.pth")
    out = tmp_path / "reference.zarr"
    settings = [f"appearance.weights={weights}", "dynamics.weights=analytic", "steps=6", "checkpoint_every=3"]
    result = run_cli(
        "synth",
        "two-stream",
        clip,
        "--preset",
        "reference",
        "--crop",
        "square",
        "--size",
        "40",
        "-o",
        out,
        "--quiet",
        *[a for s in settings for a in ("--set", s)],
    )
    assert result.exit_code == 0, result.output
    ds = xr.open_zarr(out)
    assert ds.video.shape == (3, 3, 40, 40) and ds.attrs["status"] == "complete"
    assert ds.evaluations.values[-1] >= 2 and list(ds.term_layer.values)[0] == "appearance/relu1_1"
    synth = TwoStreamSynthesizer({"content": wide}, TwoStreamSynthesizer.resolve("reference", overrides=settings))
    assert synth.config.budget == "evaluations" and not synth.config.bounds and synth.config.init == "reference"
    assert synth.streams()["dynamics"].net.card.extra["upsampling"] == "tf1_legacy"
    assert synth.streams()["appearance"].net.card.extra["normalization"] == "caffe"
