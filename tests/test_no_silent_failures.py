"""No silent wrong results: the NaN guard names the term that went non-finite first, and a run no better than its noise start is failed."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stst_core import OptimizedSynthesizer, StimulusStore, STSTError, Video, get_registry, write_video
from stst_core.testing import assert_cli_error


@pytest.fixture(scope="module")
def clip():
    return Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10)


def quick(method, clip, *overrides):
    cls = get_registry("synthesizers").get(method).factory
    config = cls.resolve(cls.quick_preset, None, [*cls.quick_overrides, *overrides])
    return cls({"content": clip}, config, seed=0)


# -- the noise comparison, on hand-made evaluations ------------------------------------


def judge(noise, result, weights, names=("a", "b")):
    """check_result of a method with these terms and weights, on a one-frame evaluation."""
    method = SimpleNamespace(
        terms=lambda: list(names),
        objective_weights=lambda noise: np.asarray(weights, float),
        nan_advice=lambda term=None: f"advice on {term}",
    )
    OptimizedSynthesizer.check_result(method, np.array([[noise], [result]], np.float32))


def test_a_result_is_judged_on_the_objectives_own_weighting():
    judge([1.0, 10.0], [0.5, 9.0], [1, 1])  # both fell
    # a fell by 0.5, b rose by 2: (0.5 + 12) / 11 = 1.14 of the noise's, and b is to blame
    with pytest.raises(STSTError, match=r"weighted loss is 1\.14× the noise's \(b: 1\.2× the noise's\).*advice on b"):
        judge([1.0, 10.0], [0.5, 12.0], [1, 1])
    judge([1.0, 10.0], [0.5, 12.0], [10, 1])  # (5 + 12) / 20 = 0.85: the weights say a counts more
    with pytest.raises(STSTError, match=r"did not move from it \(the weighted a term, 1e\+03, dominates\)"):
        judge([1.0, 10.0], [1.0, 10.0], [1000, 1])
    with pytest.raises(STSTError, match="its b term is nan"):
        judge([1.0, 10.0], [0.5, float("nan")], [1, 1])
    judge([1.0, float("nan")], [0.5, float("nan")], [1, 1])  # a term no frame has (temporal terms of one frame) is left out
    judge([1.0, 10.0], [0.5, 100.0], [1, 0])  # a term of weight 0 does not count


def test_stst_weighs_its_terms_relative_to_the_noise_when_it_equalises(clip):
    synth = quick("stst", clip)
    assert synth.config.equalize > 0
    weights = np.asarray(synth.term_weights())
    np.testing.assert_allclose(synth.objective_weights(np.array([2.0, 4.0, 8.0])), weights / [2.0, 4.0, 8.0])
    assert np.array_equal(quick("stst", clip, "equalize=0").objective_weights(np.array([2.0, 4.0, 8.0])), weights)


# -- real runs ---------------------------------------------------------------------------


def test_a_huge_learning_rate_ends_failed_not_complete(clip, tmp_path):
    with pytest.raises(STSTError, match=r"no better than the uniform noise it started from: its weighted loss is [\d.]+× the noise's .*octaves\.N\.lr"):
        quick("stst", clip, "octaves=[{scale=0, steps=2, lr=1e30}]").synthesize(tmp_path / "s.zarr", progress=False)
    store = StimulusStore(tmp_path / "s.zarr")
    assert store.status == "failed" and "no better than the uniform noise" in store.attrs["message"]
    assert store.units_done == store.units_total  # the frames stay, to look at; the status says they are no good
    with pytest.raises(STSTError, match="no better than the uniform noise"):  # running it again does not call it complete
        quick("stst", clip, "octaves=[{scale=0, steps=2, lr=1e30}]").synthesize(tmp_path / "s.zarr", progress=False)
    assert StimulusStore(tmp_path / "s.zarr").status == "failed"


def test_a_weight_that_overflows_is_named_even_though_only_the_gradient_saw_it(clip, tmp_path):
    # 1e38 × equalize overflows float32 at the octave's start: every term stays finite at step 0,
    # the steps after are NaN everywhere, and the first term of the list used to take the blame
    with pytest.raises(STSTError, match=r"the tv term \([\d.]+\) times its weight inf became inf at frame 1/4, step 0.*weights\.tv"):
        quick("stst", clip, "weights.tv=1e38").synthesize(tmp_path / "s.zarr", progress=False)
    assert StimulusStore(tmp_path / "s.zarr").status == "failed"


def test_a_run_that_never_moves_names_the_dominating_weight(clip, tmp_path):
    with pytest.raises(STSTError, match=r"did not move from it \(the weighted dynamics term, [\d.e+]+, dominates\).*Lower weights\.dynamics$"):
        quick("two-stream", clip, "weights.dynamics=1e38").synthesize(tmp_path / "t.zarr", progress=False)


def test_the_command_line_says_it_in_one_line(clip, tmp_path):
    video = write_video(clip, tmp_path / "clip.npz")
    cls = get_registry("synthesizers").get("two-stream").factory
    sets = [f"--set={o}" for o in (*cls.quick_overrides, "optimizer=adam", "lr=1e30")]
    assert_cli_error(
        "synth",
        "two-stream",
        video,
        "-o",
        tmp_path / "t.zarr",
        "--preset",
        cls.quick_preset,
        *sets,
        "--quiet",
        says=["no better than the uniform noise", "Lower lr"],
    )
    assert StimulusStore(tmp_path / "t.zarr").status == "failed"
