"""What an activation store records about the network and the frames behind each number, and what it refuses to mix."""

import hashlib
import json
import re
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr
import zarr
from click.testing import CliRunner
from torch import nn

from stst_core import (
    Backbone,
    BackboneCard,
    LayerSpec,
    StimulusStore,
    STSTError,
    Video,
    WeightsChoice,
    activation_layer,
    create_backbone,
    extract,
    hookimpl,
    is_weights_path,
    load_inputs,
    load_state_dict,
    read_video,
    write_video,
)
from stst_core._activations import Preprocessing, network_sha256
from stst_core.cli import build_cli
from stst_core.testing import temporary_plugins

FORMAT1 = Path(__file__).parent / "data" / "format1" / "acts-v1.zarr"
RANDOM = ["--backbone", "random-multiscale", "--option", "levels=1", "--option", "channels=4", "--quiet"]


def clip(seed, frames=4, size=16, width=None):
    """A drifting blurred noise texture, ``frames`` × ``size`` × ``width``."""
    width = width or size
    generator = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 3, size, width * 3, generator=generator), 3, 1, 1)[0]
    return Video(torch.stack([torch.roll(base, 2 * t, dims=2)[:, :, :width] for t in range(frames)], 1).contiguous(), 25)


def saved(video, path):
    write_video(video, path)
    return path


def run(*args):
    return CliRunner().invoke(build_cli(), [str(a) for a in args], catch_exceptions=False)


def contents(folder):
    return {p.relative_to(folder): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


def refused(result, pattern, store, before):
    """Exit 1 with one line matching ``pattern``, and not a byte of the store changed."""
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert re.search(pattern, result.output), result.output
    assert contents(store) == before


# -- a backbone with a pretrained body and, optionally, a random head ------------------------


class Headed(Backbone):
    """A 1×3×3 convolution (random, or read from a file) and, with ``head=True``, a linear head that no file holds."""

    weights_choices = (WeightsChoice("random", "PyTorch's initialisation under the seed"),)
    default_weights = "random"

    def __init__(self, weights=None, *, head: bool = False, gain: float = 1.0):
        weights = weights or "random"
        tag = f"file:{weights}" if is_weights_path(weights) else self.weights_choice(weights).tag
        layers = [LayerSpec("body", "CTHW", 4)] + ([LayerSpec("head", "C", 2)] if head else [])
        super().__init__(BackboneCard("headed", tag, source=str(weights), input_normalization="none: [0,1] RGB"), layers, ["body"])
        self.body = nn.Conv3d(3, 4, (1, 3, 3), padding=(0, 1, 1))
        self.head = nn.Linear(4, 2) if head else None
        self.gain = gain
        if tag.startswith("file:"):
            self.body.load_state_dict(load_state_dict(weights))  # the head, if any, keeps its seeded initialisation

    def compute(self, video, layers):
        body = torch.relu(self.body(video)) * self.gain
        outputs = {"body": body}
        if self.head is not None:
            outputs["head"] = self.head(body.mean(dim=(2, 3, 4)))
        return outputs


class HeadedPlugin:
    @hookimpl
    def stst_register_backbones(self, register):
        register("headed", Headed)


@pytest.fixture
def headed():
    with temporary_plugins() as register:
        register(HeadedPlugin(), "headed-test")
        yield


@pytest.fixture
def videos(tmp_path):
    return [saved(clip(i), tmp_path / f"clip{i}.npz") for i in range(3)]


def body_file(path, seed):
    torch.manual_seed(seed)
    torch.save(nn.Conv3d(3, 4, (1, 3, 3), padding=(0, 1, 1)).state_dict(), path)
    return path


# -- the seed, the weights and the options --------------------------------------------------


def test_another_seed_of_random_weights_is_refused_naming_the_seed(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    assert run("extract", videos[0], "-o", out, *RANDOM, "--seed", "0").exit_code == 0
    before = contents(out)
    result = run("extract", videos[1], "-o", out, *RANDOM, "--seed", "1")
    refused(result, r"holds random-multiscale.level0 made with other settings: seed 0 there, 1 here, which build another network", out, before)
    assert "--label random-multiscale-seed1" in result.output
    # the way out the message names: both networks in one store, under two labels
    assert run("extract", videos[1], "-o", out, *RANDOM, "--seed", "1", "--label", "random-multiscale-seed1").exit_code == 0
    ds = xr.open_zarr(out)
    assert ds["random-multiscale.level0"].attrs["seed"] == 0 and ds["random-multiscale-seed1.level0"].attrs["seed"] == 1
    net = create_backbone("random-multiscale", levels=1, channels=4, seed=1)
    direct = net(clip(1).batch(), ["level0"])["level0"][0].permute(1, 0, 2, 3).numpy()  # (T, C, H, W)
    np.testing.assert_allclose(activation_layer(ds, "random-multiscale-seed1.level0").sel(stimulus="clip1").values, direct, rtol=1e-5, atol=1e-6)
    assert np.isnan(ds["random-multiscale.level0"].sel(stimulus="clip1").values).all()  # nothing of seed 1 under the seed-0 name


def test_the_seed_of_a_network_without_random_weights_does_not_matter(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    analytic = ["--backbone", "msoe", "--weights", "analytic", "--layers", "scale1", "--pool", "mean", "--quiet"]
    assert run("extract", videos[0], "-o", out, *analytic, "--seed", "0").exit_code == 0
    result = run("extract", videos[1], "-o", out, *analytic, "--seed", "7")
    assert result.exit_code == 0, result.output
    ds = xr.open_zarr(out)
    assert ds["msoe.scale1"].attrs["seed"] == 0  # the first run's; seed 7 built the very same network
    direct = create_backbone("msoe", weights="analytic", seed=7)(clip(1).batch(), ["scale1"])["scale1"][0].mean(dim=(1, 2, 3))
    np.testing.assert_allclose(ds["msoe.scale1"].sel(stimulus="clip1").values, direct.numpy(), rtol=1e-5, atol=1e-7)


def test_weights_files_are_compared_by_what_they_hold(headed, videos, tmp_path):
    out = tmp_path / "acts.zarr"
    first = body_file(tmp_path / "a.pt", seed=1)
    copy = tmp_path / "elsewhere" / "a-copy.pt"
    copy.parent.mkdir()
    shutil.copy(first, copy)

    def into_store(video, weights, **options):
        return extract(load_inputs([video]), out, backbone="headed", weights=str(weights), progress=False, **options)

    into_store(videos[0], first, seed=0)
    attrs = xr.open_zarr(out)["headed.body"].attrs
    assert attrs["weights_sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    into_store(videos[1], copy, seed=5)  # the same tensors from another path, under another seed: the same network
    before = contents(out)
    other = body_file(tmp_path / "b.pt", seed=2)
    with pytest.raises(STSTError, match=r"weights 'file:.*a.pt' there, 'file:.*b.pt' here; weights file sha256 '[0-9a-f]{64}' there, .* which build another"):
        into_store(videos[2], other)
    assert contents(out) == before


def test_a_random_head_on_pretrained_weights_makes_the_seed_matter(headed, videos, tmp_path):
    out = tmp_path / "acts.zarr"
    weights = str(body_file(tmp_path / "body.pt", seed=1))
    extract(load_inputs(videos[:1]), out, backbone="headed", weights=weights, layers="head", options={"head": True}, seed=0, progress=False)
    before = contents(out)
    with pytest.raises(STSTError, match=r"headed.head made with other settings: seed 0 there, 3 here, which build another network"):
        extract(load_inputs(videos[1:2]), out, backbone="headed", weights=weights, layers="head", options={"head": True}, seed=3, progress=False)
    assert contents(out) == before


def test_options_are_compared_with_their_defaults_filled_in(headed, videos, tmp_path):
    out = tmp_path / "acts.zarr"
    extract(load_inputs(videos[:1]), out, backbone="headed", seed=0, progress=False)
    extract(load_inputs(videos[1:2]), out, backbone="headed", seed=0, options={"gain": 1}, progress=False)  # the default, spelt out as --option gain=1
    before = contents(out)
    with pytest.raises(STSTError, match=r'options \{"gain": 1.0, "head": false\} there, \{"gain": 2.0, "head": false\} here'):
        extract(load_inputs(videos[2:]), out, backbone="headed", seed=0, options={"gain": 2.0}, progress=False)
    assert contents(out) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pool": "mean"}, r"pool 'none' there, 'mean' here\. .*--label msoe-mean"),
        ({"dtype": "float16"}, r"dtype 'float32' there, 'float16' here\. .*--label msoe-float16"),
        (
            {"options": {"grey": "luma"}},
            r'options \{"grey": "sum", "upsampling": "half_pixel"\} there, \{"grey": "luma", "upsampling": "half_pixel"\} here; input normalisation',
        ),
        ({"weights": "random"}, r"weights 'analytic' there, 'random' here, which build another network"),
    ],
)
def test_each_setting_that_changes_the_numbers_is_named(videos, tmp_path, change, message):
    out = tmp_path / "acts.zarr"
    settings = {"backbone": "msoe", "weights": "analytic", "layers": "scale1", "progress": False}
    extract(load_inputs(videos[:1]), out, **settings)
    before = contents(out)
    with pytest.raises(STSTError, match=message):
        extract(load_inputs(videos[1:2]), out, **{**settings, **change})
    assert contents(out) == before


def test_an_option_the_backbone_gained_since_is_matched_at_its_default(videos, tmp_path):
    import json

    out = tmp_path / "acts.zarr"
    settings = {"backbone": "msoe", "weights": "analytic", "layers": "scale1", "progress": False}
    extract(load_inputs(videos[:1]), out, **settings)
    variable = zarr.open_group(str(out), mode="r+")["msoe.scale1"]
    variable.attrs["options"] = json.dumps({"grey": "sum"})  # as a store made before msoe had `upsampling`
    extract(load_inputs(videos[1:2]), out, **settings)  # the default builds that network: the rows join
    assert xr.open_zarr(out)["msoe.scale1"].shape[0] == 2
    with pytest.raises(STSTError, match="options"):  # another value of the new option does not
        extract(load_inputs(videos[2:3]), out, **{**settings, "options": {"upsampling": "tf1_legacy"}})


def test_a_network_that_changed_under_the_same_settings_is_refused(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    settings = {"backbone": "msoe", "weights": "analytic", "layers": "scale1", "progress": False}
    extract(load_inputs(videos[:1]), out, **settings)
    zarr.open_group(str(out), mode="r+")["msoe.scale1"].attrs["network_sha256"] = "0" * 64  # as if the plugin's filters had changed
    with pytest.raises(
        STSTError, match=r"network digest '?000000000000\.\.\.'? there, .* with the same backbone, weights, seed and options: its plugin's code"
    ):
        extract(load_inputs(videos[1:2]), out, **settings)


def test_provenance_round_trips_through_xarray(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    extract(load_inputs(videos[:2], frames=3, stride=1), out, backbone="random-multiscale", options={"levels": 1, "channels": 4}, seed=4, progress=False)
    ds = xr.open_zarr(out)
    attrs = ds["random-multiscale.level0"].attrs
    net = create_backbone("random-multiscale", levels=1, channels=4, seed=4)
    assert attrs["network_sha256"] == network_sha256(net) and attrs["seed"] == 4 and attrs["plugin"] == "randomnets"
    assert json.loads(attrs["options"]) == {"levels": 1, "channels": 4, "kernel_size": 7, "shared": True}
    assert attrs["input_shape"] == [3, 3, 16, 16] and attrs["pool"] == "none" and attrs["weights"] == "random" and attrs["weights_sha256"] == ""
    assert json.loads(attrs["versions"])["torch"] == metadata.version("torch")
    assert ds.attrs["format_version"] == 2
    assert list(ds.preprocessing.values) == ['{"frames": 3}'] * 2  # 4-frame clips cut to 3
    assert "preprocessing" in ds["random-multiscale.level0"].coords


# -- what the backbone saw: the shape, and the steps that changed each stimulus's frames ----------


def test_a_stimulus_store_made_at_the_size_joins_a_natural_clip_cut_to_it(tmp_path):
    natural = saved(clip(3, frames=12, size=24, width=36), tmp_path / "river.npz")
    metamer = tmp_path / "river-stps.zarr"
    synth = run("synth", "stps", natural, "--frames", "8", "--size", "16", "-o", metamer, "--quiet")
    assert synth.exit_code == 0, synth.output
    out = tmp_path / "acts.zarr"
    assert run("extract", natural, "-o", out, *RANDOM, "--frames", "8", "--size", "16").exit_code == 0
    result = run("extract", metamer, "-o", out, *RANDOM, "--include-targets")  # the store's own frames: no flags
    assert result.exit_code == 0, result.output
    ds = xr.open_zarr(out)
    assert list(ds.stimulus.values) == ["river", "river-stps"]  # the store's target is the natural clip, not a third row
    assert list(ds.preprocessing.values) == ['{"frames": 8, "size": 16}', "{}"]
    assert list(ds.source_stimulus.values) == ["", "river"] and ds["random-multiscale.level0"].attrs["input_shape"] == [3, 8, 11, 16]
    net = create_backbone("random-multiscale", levels=1, channels=4)
    direct = net(StimulusStore(metamer).video().batch(), ["level0"])["level0"][0].permute(1, 0, 2, 3).numpy()
    np.testing.assert_allclose(activation_layer(ds, "random-multiscale.level0").sel(stimulus="river-stps").values, direct, rtol=1e-5, atol=1e-6)
    # flags that change nothing of the store's frames are no steps; a step that changes them gives another shape, refused
    assert run("extract", metamer, "-o", out, *RANDOM, "--frames", "8", "--size", "16").exit_code == 0
    before = contents(out)
    refused(
        run("extract", metamer, "-o", out, *RANDOM, "--stride", "2", "--id", "fast"),
        r"input shape \(CxTxHxW\) 3x8x11x16 there, 3x4x11x16 here\. To add these rows, give these stimuli the store's shape",
        out,
        before,
    )


@pytest.mark.parametrize(
    ("steps", "recorded", "expected"),
    [
        ({"frames": 6, "size": 30}, {}, lambda f: f),  # the clip has 6 frames, 20x30 pixels: nothing to do
        ({"crop": (20, 30)}, {}, lambda f: f),
        ({"frames": 4}, {"frames": 4}, lambda f: f[:, :4]),
        ({"start": 1, "stride": 2}, {"start": 1, "stride": 2}, lambda f: f[:, 1::2]),
        ({"frames": 1, "stride": 2}, {"frames": 1}, lambda f: f[:, :1]),  # one frame: the stride skips nothing
        ({"crop": 10}, {"crop": [10, 10]}, lambda f: f[:, :, 5:15, 10:20]),
        ({"size": 15}, {"size": 15}, None),
    ],
)
def test_only_steps_that_change_the_frames_are_recorded(tmp_path, steps, recorded, expected):
    video = clip(6, frames=6, size=20, width=30)
    path = saved(video, tmp_path / "clip.npz")
    stored = read_video(path)
    (stimulus,) = load_inputs([path], **steps)
    assert json.loads(stimulus.preprocessing) == recorded
    frames = stimulus.load().frames
    want = expected(stored.frames) if expected else stored.resized(15).frames
    assert torch.equal(frames, want)
    # frames in memory (a stimulus store) take the same steps as a file read from disk
    again, in_memory = Preprocessing(**steps).apply(stored)
    assert in_memory == recorded and torch.equal(again.frames, want)


# -- stores of format 1 --------------------------------------------------------------------


@pytest.fixture
def format1(tmp_path):
    store = tmp_path / "acts-v1.zarr"
    shutil.copytree(FORMAT1, store)
    clips = [saved(clip(i), tmp_path / f"clip{i}.npz") for i in range(3)]  # clip0 and clip1 are the stored ones
    return store, clips


def test_format1_store_reads_and_refuses_rows_its_variables_cannot_vouch_for(format1):
    store, clips = format1
    ds = xr.open_zarr(store)
    assert ds.attrs["format_version"] == 1 and "seed" not in ds["random-multiscale.level0"].attrs
    assert ds["msoe.scale1"].shape == (2, 64) and np.isfinite(ds["msoe.scale1"].values).all()
    before = contents(store)
    pooled = [*RANDOM, "--pool", "mean"]
    refused(
        run("extract", clips[2], "-o", store, *pooled),
        r"holds random-multiscale.level0 from an activation store of format 1, which recorded neither the seed nor a digest",
        store,
        before,
    )


def test_format1_store_takes_new_layers_and_stimuli(format1):
    store, clips = format1
    old = xr.open_zarr(store)["msoe.scale1"].values.copy()
    assert [s.sha256 for s in load_inputs(clips[:2])] == list(xr.open_zarr(store).sha256.values)
    result = run("extract", *clips, "-o", store, "--backbone", "msoe", "--weights", "analytic", "--layers", "concat", "--pool", "mean", "--quiet")
    assert result.exit_code == 0, result.output
    ds = xr.open_zarr(store)
    assert ds.attrs["format_version"] == 2 and list(ds.stimulus.values) == ["clip0", "clip1", "clip2"]
    assert list(ds.preprocessing.values) == ["unknown", "unknown", "{}"]
    np.testing.assert_array_equal(ds["msoe.scale1"].values[:2], old)
    assert np.isnan(ds["msoe.scale1"].values[2]).all() and np.isfinite(ds["msoe.concat"].values).all()
    assert ds["msoe.concat"].attrs["seed"] == 0 and "network_sha256" in ds["msoe.concat"].attrs


def test_a_store_of_a_newer_format_is_not_written(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    extract(load_inputs(videos[:1]), out, backbone="msoe", weights="analytic", layers="scale1", progress=False)
    zarr.open_group(str(out), mode="r+").attrs["format_version"] = 3
    with pytest.raises(STSTError, match="format 3, newer than this toolkit writes"):
        extract(load_inputs(videos[1:2]), out, backbone="msoe", weights="analytic", layers="scale1", progress=False)
