"""STGConvNet: the reference's networks and padding, Langevin and learning against hand computations, exact resume."""

import re

import numpy as np
import pytest
import torch

from stst_core import ConfigError, StimulusStore, STSTError, Video
from stst_core.testing import check_synthesizer
from stst_stgconvnet import ARCHITECTURES, EnergyNet, Layer, STGConvNetSynthesizer, from_model, langevin, learning_loss, same_padding, to_model
from stst_stgconvnet.energy import plan


@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [
        (100, 15, 7, (6, 7)),  # 15 outputs: (14·7 + 15 − 100) = 13 zeros, the odd one after
        (10, 3, 2, (0, 1)),  # 5 outputs: 1 zero, after (TensorFlow), not before (PyTorch's padding=1 would give 2)
        (70, 7, 3, (3, 3)),  # 24 outputs: 23·3 + 7 − 70 = 6 zeros
        (8, 15, 7, (7, 7)),  # a kernel longer than the input: padded to fit it
        (9, 1, 2, (0, 0)),
    ],
)
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected
    before, after = expected
    assert (size + before + after - kernel) // stride + 1 == -(-size // stride)  # ceil(n / stride) outputs


@pytest.mark.parametrize(
    "architecture, size, shapes",
    [  # the feature shapes of the reference's nets at the sizes its README runs them (fact sheet §2.2)
        ("ST", (70, 100, 100), [(120, (10, 15, 15)), (40, (4, 5, 5)), (20, (4, 3, 3))]),
        ("FC_S", (70, 100, 100), [(120, (35, 50, 50)), (30, (18, 1, 1)), (5, (19, 1, 1))]),
        ("FC_S_large", (70, 224, 224), [(120, (24, 75, 75)), (30, (13, 1, 1)), (5, (14, 1, 1))]),
    ],
)
def test_the_reference_architectures_have_the_reference_feature_shapes(architecture, size, shapes):
    steps = plan(ARCHITECTURES[architecture], size)
    assert [(out, shape) for _, out, _, _, shape in steps] == shapes
    if architecture == "FC_S":  # the spatially fully connected layer covers the whole 50x50 map
        assert steps[1][2] == (5, 50, 50)


def test_the_built_network_outputs_the_planned_shape():
    for architecture, size in [("ST", (9, 20, 18)), ("ST_small", (16, 39, 48)), ("FC_S", (6, 12, 12))]:
        net = EnergyNet(ARCHITECTURES[architecture], size)
        assert tuple(net(torch.zeros(2, 3, *size)).shape[1:]) == net.output_shape


def test_a_clip_too_small_for_a_layer_is_a_clear_error():
    layers = (Layer(4, (5, 3, 3), (1, 1, 1), (0, 0, 0)),)
    with pytest.raises(
        ConfigError, match=r"layer 1 of the energy network needs at least \(5, 3, 3\).*gets \(3, 8, 8\) from a 3-frame 8x8 video; use more frames"
    ):
        EnergyNet(layers, (3, 8, 8))


def tiny_net():
    """f(Y) = Σ relu(w · Y + b) over positions: one 1x1x1 filter, weights chosen by hand."""
    net = EnergyNet((Layer(1, (1, 1, 1), (1, 1, 1)),), (2, 3, 3))
    with torch.no_grad():
        net.convolutions[0].weight.copy_(torch.tensor([0.5, -1.0, 2.0]).reshape(1, 3, 1, 1, 1))
        net.convolutions[0].bias.fill_(0.1)
    return net


def test_a_langevin_step_is_the_hand_computed_one():
    net, w, b = tiny_net(), np.array([0.5, -1.0, 2.0]), 0.1
    y = torch.randn(2, 3, 2, 3, 3, generator=torch.Generator().manual_seed(1))
    delta, sigma = 0.3, 0.7
    out, stats = langevin(net, y, steps=1, step_size=delta, sigma=sigma, generator=torch.Generator().manual_seed(5))
    noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(5)).numpy()
    values = y.numpy()
    active = (np.einsum("c,bcthw->bthw", w, values) + b > 0)[:, None]
    gradient = w.reshape(1, 3, 1, 1, 1) * active  # ∂/∂Y of Σ relu(w·Y + b)
    expected = values - delta**2 / 2 * (values / sigma**2 - gradient) + delta * noise
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert stats["gradient_rms"] == pytest.approx(np.sqrt((gradient**2).mean()), rel=1e-5)


def test_langevin_with_a_clamp_samples_only_the_occluded_entries():
    net = tiny_net()
    observed = torch.rand(1, 3, 2, 3, 3)
    visible = torch.rand(1, 1, 2, 3, 3, generator=torch.Generator().manual_seed(0)) > 0.5
    out, _ = langevin(net, torch.zeros_like(observed), steps=3, step_size=0.3, sigma=1.0, generator=torch.Generator().manual_seed(0), clamp=(visible, observed))
    mask = visible.expand_as(observed)
    assert torch.equal(out[mask], observed[mask]) and not torch.equal(out[~mask], torch.zeros_like(out[~mask]))


def test_the_learning_gradient_is_mean_synthesized_minus_mean_observed():
    net, w, b = tiny_net(), np.array([0.5, -1.0, 2.0]), 0.1
    generator = torch.Generator().manual_seed(2)
    observed, synthesized = torch.randn(1, 3, 2, 3, 3, generator=generator), torch.randn(3, 3, 2, 3, 3, generator=generator)
    loss, data, samples = learning_loss(net, observed, synthesized)
    loss.backward()

    def mean_gradient(videos):  # ∂/∂w_c and ∂/∂b of Σ relu(w·Y + b), averaged over the videos
        v = videos.numpy()
        active = np.einsum("c,bcthw->bthw", w, v) + b > 0
        return np.einsum("bcthw,bthw->c", v, active) / len(v), active.sum() / len(v)

    (gw_syn, gb_syn), (gw_obs, gb_obs) = mean_gradient(synthesized), mean_gradient(observed)
    np.testing.assert_allclose(net.convolutions[0].weight.grad.reshape(3).numpy(), gw_syn - gw_obs, rtol=1e-5)
    assert float(net.convolutions[0].bias.grad) == pytest.approx(gb_syn - gb_obs)
    assert float(loss.detach()) == pytest.approx(float(samples - data))


def test_the_units_are_the_references_and_convert_in_one_place():
    frames = torch.rand(3, 4, 5, 5)
    mean = float(frames.mean()) * 255
    model = to_model(frames, mean)
    assert float(model.mean()) == pytest.approx(0, abs=1e-3) and float(model.max()) <= 255
    torch.testing.assert_close(from_model(model, mean), frames)
    assert float(from_model(torch.full((1,), 1e4), mean)) == 1.0  # clipped, as the reference clips to 0..255


def drifting_grating(frames=8, size=16):
    t = torch.linspace(0, 1, size)
    video = [torch.stack([(torch.sin(12 * t[None, :] - 0.8 * k + c) * torch.ones(size, 1) + 1) / 2 for c in range(3)]) for k in range(frames)]
    return Video(torch.stack(video, 1), fps=10, source="drifting grating")


def test_the_synthesizer_contract_holds_resume_is_exact(tmp_path):
    cls = STGConvNetSynthesizer
    check_synthesizer(cls, drifting_grating(), tmp_path, preset=cls.quick_preset, overrides=cls.quick_overrides, bad_overrides=("step_size=nan", "chains=0"))


def test_a_run_writes_chains_as_samples_histories_snapshots_and_the_learned_model(tmp_path):
    from stst_core import load_model

    cls = STGConvNetSynthesizer
    config = cls.resolve(cls.quick_preset, overrides=list(cls.quick_overrides))
    store = cls({"content": drifting_grating()}, config, seed=0).synthesize(tmp_path / "s.zarr", progress=False)
    assert store.complete and store.samples == 2 and store.shape == (2, 8, 3, 16, 16)
    loss = store.loss_history()
    assert loss.dims == ("iteration", "term") and list(loss.term.values) == ["data_score", "sample_score", "score_gap", "gradient_rms", "update_rms"]
    np.testing.assert_allclose(loss.sel(term="score_gap"), loss.sel(term="data_score") - loss.sel(term="sample_score"), rtol=1e-5)
    snapshots = store.array("snapshots")
    assert snapshots.shape == (2, 2, 3, 16, 16) and list(snapshots.snapshot.values) == [2, 4] and np.isfinite(snapshots.values).all()
    for chain in range(2):  # the last snapshot is taken at the end: the middle frame of each chain as stored
        np.testing.assert_array_equal(snapshots.values[-1, chain], store.video(chain).frames[:, 4].numpy())
    state, card = load_model(store.path / "model.safetensors", architecture="stgconvnet")
    assert card["options"] == {"architecture": "ST_small", "size": [8, 16, 16]} and set(state) == {
        f"convolutions.{i}.{p}" for i in range(3) for p in ("weight", "bias")
    }


def dominant_frequency(video: Video) -> tuple[int, int, int]:
    """The (t, y, x) index of the strongest non-constant component of the luma's 3-D spectrum, folded to one half-space."""
    luma = video.frames.mean(0).numpy()
    power = np.abs(np.fft.fftn(luma - luma.mean()))
    index = np.array(np.unravel_index(np.argmax(power), power.shape))
    shape = np.array(power.shape)
    signed = np.where(index > shape // 2, index - shape, index)
    return tuple(int(v) for v in (signed if signed[np.flatnonzero(signed)[0]] > 0 else -signed))


@pytest.mark.slow
def test_a_model_learned_from_a_drifting_grating_samples_its_motion_and_frequency(tmp_path):
    """A world with a known truth: the chains move like the grating (direction and speed) at its spatial frequency; noise does not."""
    from stst_core import evaluate_metrics

    def grating(speed):
        t = torch.linspace(0, 1, 32)
        frames = [torch.stack([(torch.sin(12 * t[None, :] - speed * k) * torch.ones(32, 1) + 1) / 2] * 3) for k in range(16)]
        return Video(torch.stack(frames, 1), fps=10)

    target = grating(0.8)
    cls = STGConvNetSynthesizer
    config = cls.resolve("fast", overrides=["architecture=ST", "iterations=40", "chains=2", "checkpoint_every=40"])
    store = cls({"content": target}, config, seed=0).synthesize(tmp_path / "s.zarr", progress=False)
    noise = Video(torch.rand(3, 16, 32, 32, generator=torch.Generator().manual_seed(0)), fps=10)

    def motion_distance(video):  # distributions of spacetime oriented energy over directions
        return evaluate_metrics(video, target, ["oriented_energy"])["oriented_energy.distribution"]

    for chain in range(2):
        sample = store.video(chain)
        assert dominant_frequency(sample)[1:] == dominant_frequency(target)[1:]  # the grating's spatial frequency (2 cycles across)
        assert motion_distance(sample) < 0.2  # measured 0.051 (2026-12-03)
    assert motion_distance(noise) > 0.5 and motion_distance(grating(-0.8)) > 0.5  # 0.72 and 0.62: the metric tells directions apart


# -- masks -----------------------------------------------------------------------------


def test_the_references_mat_masks_read_as_occluded_frames(tmp_path):
    from scipy.io import savemat

    from stst_stgconvnet.masks import read_mask

    masks = np.zeros((6, 5, 4, 3), np.uint8)  # (H, W, T, C) as the reference stores them, 1 = occluded
    masks[1:3, 2:4, 1, :] = 1
    masks[:, :, 3, :] = 1
    savemat(tmp_path / "m.mat", {"masks": masks})
    mask = read_mask(tmp_path / "m.mat", (3, 6, 5))  # the first 3 of its 4 frames
    assert mask.shape == (3, 6, 5) and mask.dtype == torch.bool
    assert int(mask[1].sum()) == 4 and bool(mask[1, 1:3, 2:4].all()) and not mask[0].any() and not mask[2].any()
    assert torch.equal(read_mask(tmp_path / "m.mat", (2, 6, 5), start=1, stride=2), mask_frames(masks)[[1, 3]])  # as the video's frames
    doubled = read_mask(tmp_path / "m.mat", (4, 12, 5))  # drawn on squashed frames: each axis resized on its own
    assert torch.equal(doubled, mask_frames(masks).repeat_interleave(2, dim=1))
    with pytest.raises(ConfigError, match=r"has 4 frames but the video 9; read fewer frames \(--frames 4\)"):
        read_mask(tmp_path / "m.mat", (9, 6, 5))
    with pytest.raises(ConfigError, match=r"has 4 frames but the video 2 \(frames 1\.\.4 of the source\)"):
        read_mask(tmp_path / "m.mat", (2, 6, 5), start=1, stride=3)


def mask_frames(masks: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(masks.any(axis=3).transpose(2, 0, 1).copy())


def test_the_shipped_region_and_missing_frame_masks_are_what_the_fact_sheet_says(shared_data_dir):
    from stst_stgconvnet.masks import read_mask

    region = read_mask(shared_data_dir / "recovery" / "fountain_region_mask.mat", (70, 150, 150))
    assert float(region.float().mean()) == pytest.approx(0.16) and (region.sum(dim=(1, 2)) == 3600).all()  # one 60x60 box a frame
    missing = read_mask(shared_data_dir / "recovery" / "fountain_missing_frame_mask.mat", (70, 150, 150))
    assert int(missing.all(dim=(1, 2)).sum()) == 35 and bool((missing.all(dim=(1, 2)) | ~missing.any(dim=(1, 2))).all())


def test_array_and_image_masks_and_their_errors(tmp_path):
    from PIL import Image

    from stst_stgconvnet.masks import read_mask

    mask = np.zeros((2, 4, 4), bool)
    mask[0, 0, 0] = True
    np.save(tmp_path / "m.npy", mask)
    np.savez(tmp_path / "m.npz", mask=mask[..., None].repeat(3, axis=-1))
    (tmp_path / "frames").mkdir()
    for t in range(2):
        Image.fromarray((mask[t] * 255).astype(np.uint8)).save(tmp_path / "frames" / f"{t:03d}.png")
    for source in ("m.npy", "m.npz", "frames"):
        assert torch.equal(read_mask(tmp_path / source, (2, 4, 4)), torch.from_numpy(mask)), source
    np.save(tmp_path / "none.npy", np.zeros((2, 4, 4), bool))
    with pytest.raises(ConfigError, match="occludes no pixel"):
        read_mask(tmp_path / "none.npy", (2, 4, 4))
    np.save(tmp_path / "all.npy", np.ones((2, 4, 4), bool))
    with pytest.raises(ConfigError, match="occludes every pixel"):
        read_mask(tmp_path / "all.npy", (2, 4, 4))
    with pytest.raises(ConfigError, match="a mask is a .mat, .npy or .npz file or a folder of images"):
        read_mask(tmp_path / "frames" / "000.png", (2, 4, 4))


@pytest.mark.parametrize("kind", ["salt-and-pepper", "region", "missing-frames"])
def test_generated_masks_occlude_the_ratio_asked_for_reproducibly(kind):
    from stst_stgconvnet.masks import generate_mask

    mask = generate_mask(kind, (12, 20, 20), ratio=0.25, seed=3)
    assert float(mask.float().mean()) == pytest.approx(0.25, abs=0.01)
    assert torch.equal(mask, generate_mask(kind, (12, 20, 20), ratio=0.25, seed=3)) and not torch.equal(
        mask, generate_mask(kind, (12, 20, 20), ratio=0.25, seed=4)
    )
    per_frame = mask.float().mean(dim=(1, 2))
    if kind == "missing-frames":
        assert set(per_frame.tolist()) == {0.0, 1.0}
    else:  # every frame occluded alike, at other places
        assert torch.allclose(per_frame, per_frame[0]) and not torch.equal(mask[0], mask[1])
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        generate_mask(kind, (12, 20, 20), ratio=1.0)


# -- recovery ----------------------------------------------------------------------------


RECOVERY_QUICK = ("iterations=3", "langevin_steps=2", "chains=2", "snapshot_every=3", "checkpoint_every=2")


def test_recovery_keeps_the_synthesizer_contract_resume_is_exact(tmp_path):
    cls = STGConvNetSynthesizer
    check_synthesizer(
        cls,
        drifting_grating(),
        tmp_path,
        preset="recovery",
        overrides=(*RECOVERY_QUICK, "mask_type=salt-and-pepper"),
        bad_overrides=("mask_type=blobs", "mask_ratio=1", "mask_ratio=nan"),
    )


def test_a_recovery_store_holds_the_recovered_video_the_chains_the_mask_and_the_error(tmp_path):
    from stst_stgconvnet.masks import generate_mask, mask_video
    from stst_stgconvnet.recovery import recovery_error

    cls = STGConvNetSynthesizer
    clip = drifting_grating()
    mask = generate_mask("region", (8, 16, 16), ratio=0.25, seed=3)
    occluded = clip.frames.clone()
    occluded[:, mask] = 0.0  # what the camera saw: the occluded pixels' values are unknown to the method
    config = cls.resolve("recovery", overrides=list(RECOVERY_QUICK))
    store = cls({"content": Video(occluded, fps=10), "mask": mask_video(mask, 10), "truth": clip}, config, seed=0).synthesize(
        tmp_path / "r.zarr", progress=False
    )
    recovered = store.video()
    assert store.samples is None and recovered.shape == clip.shape
    visible = ~mask.expand_as(clip.frames)
    np.testing.assert_allclose(recovered.frames[visible].numpy(), occluded[visible].numpy(), atol=1e-6)  # seen pixels are kept
    assert not torch.allclose(recovered.frames[~visible], occluded[~visible])  # the occluded ones were filled in
    assert store.array("chains").shape == (2, 8, 3, 16, 16) and np.isfinite(store.array("chains").values).all()
    np.testing.assert_array_equal(store.array("mask").values, mask.float().numpy())
    error = store.loss_history().sel(term="recovery_error").values
    assert error[-1] == pytest.approx(recovery_error(recovered.frames, clip.frames, mask), rel=1e-5)
    with pytest.raises(STSTError, match="target 'mask': different frames"):  # another mask is another run
        cls({"content": Video(occluded, fps=10), "mask": mask_video(~mask, 10), "truth": clip}, config, seed=0).synthesize(store.path, progress=False)


def test_recovery_input_errors_come_before_anything_is_written(tmp_path):
    from stst_stgconvnet.masks import generate_mask, mask_video

    cls = STGConvNetSynthesizer
    clip = drifting_grating()
    config = cls.resolve("recovery", overrides=list(RECOVERY_QUICK))
    mask = generate_mask("salt-and-pepper", (8, 16, 16), seed=0)
    cases = [
        ({"mask": mask_video(mask[:4], 10)}, config, "the mask is 4 frames of 16x16 but the input 8 frames of 16x16"),
        ({"truth": clip}, config, "give a mask"),
        ({"mask": mask_video(mask, 10), "truth": clip.select(num_frames=4)}, config, "the truth is 4 frames"),
        ({"mask": mask_video(mask, 10)}, cls.resolve("recovery", overrides=[*RECOVERY_QUICK, "mask_type=region"]), "not both"),
    ]
    for extra, cfg, says in cases:
        with pytest.raises(ConfigError, match=says):
            cls({"content": clip, **extra}, cfg, seed=0).synthesize(tmp_path / "r.zarr", progress=False)
        assert not (tmp_path / "r.zarr").exists()


def test_stst_recover_from_a_mask_file_and_a_generated_one(tmp_path):
    from stst_core import write_video
    from stst_core.testing import assert_cli_error, run_cli

    clip = drifting_grating()
    clip_path = write_video(clip, tmp_path / "clip.npz")
    quick = [f"--set={o}" for o in RECOVERY_QUICK]
    result = run_cli("recover", clip_path, "--mask-type", "region", "--mask-ratio", "0.25", "-o", tmp_path / "g.zarr", *quick, "--quiet")
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and re.search(r"recovery error \d+\.\d\d: mean \|recovered - truth\| over the occluded", result.output)
    assert StimulusStore(tmp_path / "g.zarr").config["mask_type"] == "region"
    mask = np.zeros((8, 16, 16), bool)
    mask[:, 4:8, 4:8] = True
    np.save(tmp_path / "m.npy", mask)
    result = run_cli("recover", clip_path, "--mask", tmp_path / "m.npy", "-o", tmp_path / "f.zarr", *quick, "--quiet")
    assert result.exit_code == 0 and "recovery error" not in result.output, result.output  # no truth, no score
    np.testing.assert_array_equal(StimulusStore(tmp_path / "f.zarr").array("mask").values, mask)
    assert_cli_error("recover", clip_path, "--mask", tmp_path / "m.npy", "--mask-type", "region", "-o", tmp_path / "x.zarr", says=["not both"])
    np.save(tmp_path / "short.npy", mask[:3])
    assert_cli_error("recover", clip_path, "--mask", tmp_path / "short.npy", "-o", tmp_path / "x.zarr", says=["has 3 frames but the video 8"])
    np.save(tmp_path / "none.npy", np.zeros_like(mask))
    assert_cli_error("recover", clip_path, "--mask", tmp_path / "none.npy", "-o", tmp_path / "x.zarr", says=["occludes no pixel"])
    assert not (tmp_path / "x.zarr").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind, ratio", [("salt-and-pepper", 0.5), ("region", 0.16)])
def test_recovery_of_a_drifting_grating_beats_temporal_interpolation(tmp_path, kind, ratio):
    """A world with a known truth: what a learned model fills in is closer to the hidden grating than interpolation in time."""
    from stst_stgconvnet.masks import generate_mask
    from stst_stgconvnet.recovery import recovery_error, temporal_interpolation

    t = torch.linspace(0, 1, 32)
    clip = Video(torch.stack([torch.stack([(torch.sin(12 * t[None, :] - 0.8 * k) * torch.ones(32, 1) + 1) / 2] * 3) for k in range(16)], 1), fps=10)
    mask = generate_mask(kind, (16, 32, 32), ratio=ratio, seed=0)
    # the grating moves 0.8 rad a frame: a pixel's nearest visible frames see other phases, so interpolation in time blurs it
    interpolated = recovery_error(temporal_interpolation(clip.frames, mask), clip.frames, mask)
    cls = STGConvNetSynthesizer
    config = cls.resolve(
        "recovery", overrides=["architecture=ST", "iterations=40", "chains=1", f"mask_type={kind}", f"mask_ratio={ratio}", "checkpoint_every=40"]
    )
    store = cls({"content": clip}, config, seed=0).synthesize(tmp_path / "r.zarr", progress=False)
    error = store.loss_history().sel(term="recovery_error").values
    assert error[-1] < 0.8 * interpolated, (error[::5], interpolated)
    assert error[-1] < 0.6 * error[0]  # learned, not a lucky start


def test_a_learned_model_samples_new_chains_without_learning(tmp_path):
    from safetensors.torch import load_file

    from stst_core import write_video
    from stst_core.testing import assert_cli_error, run_cli

    clip_path = write_video(drifting_grating(), tmp_path / "clip.npz")
    quick = [f"--set={o}" for o in STGConvNetSynthesizer.quick_overrides]
    assert run_cli("synth", "stgconvnet", clip_path, "-o", tmp_path / "learned.zarr", *quick, "--quiet").exit_code == 0
    result = run_cli("synth", "stgconvnet", clip_path, "-o", tmp_path / "sampled.zarr", "--model", tmp_path / "learned.zarr", *quick, "--seed", "5", "--quiet")
    assert result.exit_code == 0, result.output
    learned, sampled = StimulusStore(tmp_path / "learned.zarr"), StimulusStore(tmp_path / "sampled.zarr")
    weights = [load_file(store.path / "model.safetensors") for store in (learned, sampled)]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])  # the model as it was learned
    data_score = sampled.loss_history().sel(term="data_score").values
    assert np.ptp(data_score) == 0 and np.ptp(learned.loss_history().sel(term="data_score").values) > 0  # fixed weights: the data's score stays
    assert not torch.equal(sampled.video(0).frames, learned.video(0).frames)  # new chains
    write_video(drifting_grating(frames=4), tmp_path / "short.npz")
    assert_cli_error(
        "synth",
        "stgconvnet",
        tmp_path / "short.npz",
        "-o",
        tmp_path / "x.zarr",
        "--model",
        tmp_path / "learned.zarr",
        says=["was learned on 8 frames of 16x16", "--frames 8"],
    )
    assert_cli_error("synth", "stgconvnet", clip_path, "-o", tmp_path / "x.zarr", "--model", tmp_path / "nothing.safetensors", says=["no such model file"])
    assert not (tmp_path / "x.zarr").exists()


def test_one_model_learns_from_several_videos_with_chains_for_each(tmp_path):
    from stst_core import write_video
    from stst_core.testing import assert_cli_error, run_cli

    folder = tmp_path / "videos"
    write_video(drifting_grating(), folder / "a.npz")
    write_video(Video(drifting_grating().frames.flip(1), fps=10), folder / "b.npz")  # drifting the other way
    quick = [f"--set={o}" for o in STGConvNetSynthesizer.quick_overrides]  # 2 chains
    result = run_cli("synth", "stgconvnet", folder, "-o", tmp_path / "both.zarr", *quick, "--quiet")
    assert result.exit_code == 0 and "4 samples of 8 frames" in result.output, result.output
    store = StimulusStore(tmp_path / "both.zarr")
    assert sorted(store.targets) == ["content", "content.1"] and store.targets["content.1"]["source"].endswith("b.npz")
    assert store.array("snapshots").sizes["sample"] == 4
    one = STGConvNetSynthesizer({"content": drifting_grating()}, STGConvNetSynthesizer.resolve("fast", overrides=list(STGConvNetSynthesizer.quick_overrides)))
    one.prepare()
    both = STGConvNetSynthesizer({"content": drifting_grating(), "content.1": Video(drifting_grating().frames.flip(1), fps=10)}, one.config)
    both.prepare()
    assert both.observed.shape[0] == 2 and both.mean == pytest.approx(one.mean)  # one scalar mean over every video
    write_video(drifting_grating(frames=4), tmp_path / "short.npz")
    assert_cli_error(
        "synth", "stgconvnet", folder / "a.npz", tmp_path / "short.npz", "-o", tmp_path / "x.zarr", says=["input 2", "4 frames of 16x16", "--frames"]
    )
    assert_cli_error("recover", folder / "a.npz", folder / "b.npz", "--mask-type", "region", "-o", tmp_path / "x.zarr", says=["one video; got 2 inputs"])
    assert_cli_error("synth", "stps", folder / "a.npz", folder / "b.npz", "-o", tmp_path / "x.zarr", says=["stps makes a stimulus from one INPUT, got 2"])
    assert not (tmp_path / "x.zarr").exists()
