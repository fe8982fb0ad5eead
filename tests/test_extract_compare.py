"""`stst extract` and `stst compare`: stored values, appends, labels, bad inputs, and the numbers by hand."""

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr
from click.testing import CliRunner

from stst_core import STSTError, Video, activation_layer, create_backbone, extract, load_inputs, write_video
from stst_core._comparison import Selection, compare
from stst_core.cli import build_cli
from stst_core.similarity import linear_cka

STST = str(Path(sys.executable).parent / "stst")


def clip(seed, frames=4, size=32):
    generator = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 3, size, size * 3, generator=generator), 3, 1, 1)[0]
    return Video(torch.stack([torch.roll(base, 2 * t, dims=2)[:, :, :size] for t in range(frames)], 1).contiguous(), 25)


@pytest.fixture
def videos(tmp_path):
    paths = []
    for i in range(4):
        path = tmp_path / f"clip{i}.npz"
        write_video(clip(i), path)
        paths.append(path)
    return paths


def run(*args):
    return CliRunner().invoke(build_cli(), [str(a) for a in args], catch_exceptions=False)


def test_stored_values_equal_a_direct_forward_pass(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    result = run("extract", *videos, "-o", out, "--backbone", "msoe", "--weights", "analytic", "--layers", "scale1,concat", "--batch", "3", "--quiet")
    assert result.exit_code == 0, result.output
    ds = xr.open_zarr(out)
    assert list(ds.stimulus.values) == ["clip0", "clip1", "clip2", "clip3"]
    assert set(ds.condition.values) == {"natural"} and list(ds.source.values) == [str(p) for p in videos]
    net = create_backbone("msoe", weights="analytic")
    direct = net(clip(2).batch(), ["concat"])["concat"][0]  # (C, T, H, W)
    stored = activation_layer(ds, "msoe.concat").sel(stimulus="clip2")
    assert stored.dims == ("time", "channel", "y", "x")
    np.testing.assert_allclose(stored.values, direct.permute(1, 0, 2, 3).numpy(), rtol=1e-5, atol=1e-7)
    attrs = ds["msoe.concat"].attrs
    assert attrs["backbone"] == "msoe" and attrs["weights"] == "analytic" and attrs["layer"] == "concat"
    assert attrs["pool"] == "none" and "stst-toolkit" in ds.attrs["versions"]


def test_append_keeps_earlier_values_and_adds_layers(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    run("extract", *videos[:2], "-o", out, "--backbone", "random-multiscale", "--option", "levels=2", "--quiet")
    before = xr.open_zarr(out)["random-multiscale.level1"].values.copy()
    run("extract", *videos[2:], "-o", out, "--backbone", "random-multiscale", "--option", "levels=2", "--condition", "metamer", "--quiet")
    run("extract", *videos, "-o", out, "--backbone", "msoe", "--weights", "analytic", "--pool", "mean", "--quiet")
    ds = xr.open_zarr(out)
    assert ds.sizes["stimulus"] == 4
    np.testing.assert_array_equal(ds["random-multiscale.level1"].values[:2], before)
    assert list(ds.condition.values) == ["natural", "natural", "metamer", "metamer"]
    assert ds["msoe.concat"].dims == ("stimulus", "msoe.concat.channel")  # mean over time, y, x
    assert np.isfinite(ds["msoe.concat"].values).all()


def test_bad_inputs_leave_the_store_untouched(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    run("extract", *videos[:2], "-o", out, "--backbone", "msoe", "--weights", "analytic", "--quiet")
    snapshot = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def unchanged():
        return {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot

    def refused(result, message):
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert re.search(message, result.output), result.output
        assert unchanged()

    analytic = ["--backbone", "msoe", "--weights", "analytic", "--quiet"]
    refused(run("extract", *videos[2:], "-o", out, *analytic, "--layers", "concatt"), "no layer.*concatt")
    bigger = tmp_path / "big.npz"
    write_video(clip(9, size=48), bigger)
    refused(
        run("extract", bigger, "-o", out, *analytic), r"holds msoe.concat made with other settings: input shape \(CxTxHxW\) 3x4x32x32 there, 3x4x48x48 here"
    )
    refused(run("extract", videos[2], bigger, "-o", out, *analytic), "stimuli differ in size")
    refused(
        run("extract", videos[0], "-o", out, *analytic, "--frames", "3"),
        r"already holds a stimulus 'clip0' with other frames \(preprocessing \{\} there, \{\"frames\": 3\} here\)",
    )
    not_a_store = tmp_path / "notes"
    not_a_store.mkdir()
    assert "not an activation store" in run("extract", videos[0], "-o", not_a_store, *analytic).output
    metadata = out / "zarr.json"
    metadata.write_bytes(metadata.read_bytes()[:-40])  # cut short: a damaged store, not "no store here"
    snapshot = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    refused(run("extract", videos[2], "-o", out, *analytic), r"is damaged: its metadata .*zarr\.json cannot be read .*removed and extracted again")


def test_crop_fits_clips_of_other_shapes_into_one_store(videos, tmp_path):
    wide = tmp_path / "wide.npz"
    write_video(Video(clip(5, size=48).frames[:, :, :32, :], 25), wide)  # 32x48 beside 32x32 clips
    out = tmp_path / "acts.zarr"
    analytic = ["--backbone", "msoe", "--weights", "analytic", "--layers", "concat", "--quiet"]
    assert "stimuli differ in size" in run("extract", videos[0], wide, "-o", out, *analytic).output
    result = run("extract", videos[0], wide, "-o", out, *analytic, "--crop", "24x32")
    assert result.exit_code == 0, result.output
    stored = activation_layer(xr.open_zarr(out), "msoe.concat").sel(stimulus="wide")
    net = create_backbone("msoe", weights="analytic")
    direct = net(clip(5, size=48).frames[:, :, 4:28, 8:40].contiguous()[None], ["concat"])["concat"][0]
    np.testing.assert_allclose(stored.values, direct.permute(1, 0, 2, 3).numpy(), rtol=1e-5, atol=1e-7)
    assert "HEIGHTxWIDTH" in run("extract", videos[0], "-o", tmp_path / "b.zarr", *analytic, "--crop", "24by32").output


def test_read_only_path_check_is_made_before_anything(videos, tmp_path, monkeypatch):
    # root ignores permissions, so the check itself is exercised through os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(STSTError, match="is read-only; choose another output path"):
        extract(load_inputs(videos[:1]), tmp_path / "acts.zarr", backbone="msoe", weights="analytic", progress=False)
    assert not (tmp_path / "acts.zarr").exists()


def test_stimulus_stores_link_to_their_source(tmp_path):
    from stst_styletransfer.synthesizer import STSTSynthesizer

    source = tmp_path / "river.npz"
    write_video(clip(5), source)
    from stst_core import read_video

    config = STSTSynthesizer.resolve(
        "offline", overrides=["octaves=[{scale=0, steps=2, lr=0.01}]", "burn_in=1", "spatial.options={levels=2}", "spatial.style_layers=['level0','level1']"]
    )
    STSTSynthesizer({"content": read_video(source)}, config).synthesize(tmp_path / "river-stst.zarr", progress=False)
    stimuli = load_inputs([tmp_path / "river-stst.zarr"], include_targets=True)
    assert [(s.id, s.condition, s.source_stimulus) for s in stimuli] == [("river-stst", "stst", "river"), ("river", "natural", "")]
    direct = load_inputs([source])[0]
    assert direct.sha256 == stimuli[1].sha256  # the store's target is the same frames as the source file


def test_compare_recomputed_by_hand_from_the_store(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    run("extract", *videos, "-o", out, "--backbone", "random-multiscale", "--option", "levels=2", "--option", "channels=8", "--quiet")
    # call three clips "metamers" of three others, paired in stored order (CKA needs 3 pairs: with 2 it is always 1)
    ds = xr.open_zarr(out)
    videos = videos + [tmp_path / "extra4.npz", tmp_path / "extra5.npz"]
    for seed in (4, 5):
        write_video(clip(seed), videos[seed])
    metamers = tmp_path / "acts2.zarr"
    run("extract", *videos[:3], "-o", metamers, "--backbone", "random-multiscale", "--option", "levels=2", "--option", "channels=8", "--quiet")
    run(
        "extract",
        *videos[3:],
        "-o",
        metamers,
        "--backbone",
        "random-multiscale",
        "--option",
        "levels=2",
        "--option",
        "channels=8",
        "--condition",
        "metamer",
        "--quiet",
    )
    table = compare(metamers, Selection.parse("condition=natural"), Selection.parse("condition=metamer"), pair_by="order", bootstrap=50)
    independent = xr.open_zarr(metamers)
    for _, row in table.iterrows():
        values = independent[row["variable"]].values.reshape(6, -1).astype(np.float64)
        assert row["value"] == pytest.approx(linear_cka(values[:3], values[3:]), rel=1e-9)
        assert row["ci_low"] <= row["ci_high"]
    assert list(table["layer"]) == ["level0", "level1"] and list(table["depth"]) == [0.0, 1.0]
    assert ds.sizes["stimulus"] == 4


def test_compare_cli_writes_table_and_figure(videos, tmp_path):
    out = tmp_path / "acts.zarr"
    run("extract", *videos[:2], "-o", out, "--backbone", "msoe", "--weights", "analytic", "--pool", "spatial-mean", "--quiet")
    run("extract", *videos[2:], "-o", out, "--backbone", "msoe", "--weights", "analytic", "--pool", "spatial-mean", "--condition", "metamer", "--quiet")
    result = run(
        "compare",
        out,
        "--between",
        "condition=natural",
        "--and",
        "condition=metamer",
        "--pair-by",
        "order",
        "--metric",
        "paired-corr",
        "--bootstrap",
        "20",
        "-o",
        tmp_path / "r.csv",
        "--plot",
        tmp_path / "r.png",
    )
    assert result.exit_code == 0, result.output
    assert "concat" in result.output and (tmp_path / "r.csv").read_text().startswith("variable,backbone,layer")
    assert (tmp_path / "r.png").stat().st_size > 5000
    bad = run("compare", out, "--between", "condition=natural", "--and", "condition=stps")
    assert bad.exit_code == 1 and "no stimulus has condition=stps" in bad.output


def test_rsatoolbox_export(videos, tmp_path):
    from stst_core._comparison import to_rsatoolbox

    out = tmp_path / "acts.zarr"
    run("extract", *videos, "-o", out, "--backbone", "msoe", "--weights", "analytic", "--pool", "mean", "--quiet")
    dataset = to_rsatoolbox(out, "msoe.concat")
    assert dataset.measurements.shape == (4, 320)
    assert list(dataset.obs_descriptors["stimulus"]) == ["clip0", "clip1", "clip2", "clip3"]
    np.testing.assert_allclose(dataset.measurements, xr.open_zarr(out)["msoe.concat"].values)
