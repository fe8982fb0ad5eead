"""`stst compare` with RSA against rsatoolbox, and what it does with too few stimuli for a metric."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import xarray as xr
from click.testing import CliRunner

from stst_core import STSTError, Video, to_rsatoolbox, write_video
from stst_core._comparison import Selection, compare
from stst_core.cli import build_cli

NATURAL, METAMER = Selection.parse("condition=natural"), Selection.parse("condition=metamer")


def clip(seed, frames=4, size=32):
    generator = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 3, size, size * 3, generator=generator), 3, 1, 1)[0]
    return Video(torch.stack([torch.roll(base, 2 * t, dims=2)[:, :, :size] for t in range(frames)], 1).contiguous(), 25)


def run(*args):
    return CliRunner().invoke(build_cli(), [str(a) for a in args], catch_exceptions=False)


def store_of(tmp_path, pairs):
    """``pairs`` natural clips and as many noisy copies of them (condition ``metamer``), paired in stored order."""
    natural, metamers = [], []
    for i in range(pairs):
        video = clip(i)
        noisy = Video((video.frames + 0.2 * torch.rand(video.frames.shape, generator=torch.Generator().manual_seed(100 + i))).clamp(0, 1), 25)
        for folder, frames in ((natural, video), (metamers, noisy)):
            folder.append(tmp_path / f"{'clip' if folder is natural else 'metamer'}{i}.npz")
            write_video(frames, folder[-1])
    out = tmp_path / "acts.zarr"
    extract = ["extract", "-o", out, "--backbone", "random-multiscale", "--option", "levels=2", "--option", "channels=8", "--quiet"]
    assert run(*extract, *natural).exit_code == 0
    assert run(*extract, *metamers, "--condition", "metamer").exit_code == 0
    return out


def rsatoolbox_tau_a(store, variable, pairs, rdm_method):
    from rsatoolbox.rdm import calc_rdm
    from rsatoolbox.rdm import compare as compare_rdms

    a = to_rsatoolbox(store, variable, rows=range(pairs))
    b = to_rsatoolbox(store, variable, rows=range(pairs, 2 * pairs))
    return compare_rdms(calc_rdm(a, method=rdm_method), calc_rdm(b, method=rdm_method), method="tau-a")[0, 0]


def test_rsa_kendall_equals_rsatoolbox(tmp_path):
    store = store_of(tmp_path, 7)
    for rdm_metric in ("correlation", "euclidean"):  # rsatoolbox's Euclidean RDM is squared (and /p): the same order
        table = compare(store, NATURAL, METAMER, metric="rsa", rdm_metric=rdm_metric, rdm_comparison="kendall", pair_by="order", bootstrap=200)
        assert len(table) == 2
        for row in table.itertuples():
            assert row.value == pytest.approx(rsatoolbox_tau_a(store, row.variable, 7, rdm_metric), abs=1e-12)
            assert row.ci_low <= row.value <= row.ci_high and row.pairs == 7


def test_one_pair_is_refused_for_geometry_metrics_and_compared_by_paired_correlation(tmp_path):
    store = store_of(tmp_path, 1)
    for metric, options in (("cka", {}), ("rsa", {}), ("cka", {"debiased": True})):
        with pytest.raises(STSTError, match=r"needs at least [34] pairs; condition=natural and condition=metamer make 1: .*--metric paired-corr"):
            compare(store, NATURAL, METAMER, metric=metric, pair_by="order", **options)
    table = compare(store, NATURAL, METAMER, metric="paired-corr", pair_by="order")
    dataset = xr.open_zarr(store)
    for row in table.itertuples():
        values = dataset[row.variable].values.reshape(2, -1).astype(np.float64)
        assert row.value == pytest.approx(np.corrcoef(values[0], values[1])[0, 1], rel=1e-9)
        assert np.isnan(row.ci_low) and np.isnan(row.ci_high)  # one pair: nothing to resample

    result = run("compare", store, "--between", "condition=natural", "--and", "condition=metamer", "--pair-by", "order")
    assert result.exit_code == 1 and "CKA compares the geometry" in result.output and "Traceback" not in result.output
    result = run("compare", store, "--between", "condition=natural", "--and", "condition=metamer", "--pair-by", "order", "--metric", "paired-corr")
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output.lower() and "n/a" in result.output and "1 pair: no bootstrap interval" in result.output


def test_cli_rsa_kendall_prints_rsatoolbox_values(tmp_path):
    store = store_of(tmp_path, 5)
    args = ["--between", "condition=natural", "--and", "condition=metamer", "--pair-by", "order", "--metric", "rsa", "--rdm-compare", "kendall"]
    result = run("compare", store, *args, "--bootstrap", "100", "-o", tmp_path / "rsa.csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "rsa.csv")
    for row in table.itertuples():
        expected = rsatoolbox_tau_a(store, row.variable, 5, "correlation")
        assert row.value == pytest.approx(expected, abs=1e-12)
        assert f"{expected:.3f}" in result.output
