"""The STST synthesizer: a real (small) run, resume after interruption, the store, and bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr

from stst_core import ConfigError, STSTError, Video, get_registry, write_video
from stst_core._store import StimulusStore
from stst_styletransfer.synthesizer import STSTSynthesizer, mirror_sequence

# cheap settings: small random/analytic front ends, two short octaves
FAST = [
    "spatial.weights=random",
    "spatial.style_layers=['relu1_1','relu2_1','relu3_1']",
    "temporal.weights=analytic",
    "octaves=[{scale=-1, steps=6, lr=0.02}, {scale=0, steps=6, lr=0.02}]",
    "burn_in=2",
]


def moving_texture(frames=4, height=40, width=48, dx=2, seed=0) -> Video:
    generator = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 3, height * 2, width * 3, generator=generator), 5, 1, 2)[0]
    clip = torch.stack([torch.roll(base, shifts=dx * t, dims=2)[:, :height, :width] for t in range(frames)], dim=1)
    colour = torch.tensor([1.0, 0.7, 0.4]).view(3, 1, 1, 1)  # a tint, so colour transfer has work to do
    return Video((clip * colour).contiguous(), fps=25, source=f"moving texture {seed}")


def synthesizer(overrides=(), **targets):
    targets.setdefault("content", moving_texture())
    return STSTSynthesizer(targets, STSTSynthesizer.resolve("paper", overrides=[*FAST, *overrides]), seed=0)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out.zarr"
    store = synthesizer().synthesize(out, progress=False)
    return out, store


def test_registered():
    assert get_registry("synthesizers").get("stst").factory is STSTSynthesizer


@pytest.mark.parametrize(
    "frames, burn_in, expected",
    [(5, 3, [3, 2, 1, 0, 1, 2, 3, 4]), (3, 5, [1, 0, 1, 2, 1, 0, 1, 2]), (1, 2, [0, 0, 0]), (4, 1, [1, 0, 1, 2, 3])],
)
def test_true_mirror_padding(frames, burn_in, expected):
    assert mirror_sequence(frames, burn_in) == expected


@pytest.mark.parametrize(
    "frames, burn_in, expected",
    [(6, 5, [1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]), (4, 1, [1, 0, 1, 2, 3]), (3, 4, [1, 2, 1, 0, 0, 1, 2])],
)
def test_the_reference_padding_copies_forward(frames, burn_in, expected):
    # the reference's pad_frames_tar: targets[1 … b] before targets[0 …] (its first kept frame's motion is t_b → t_0)
    assert mirror_sequence(frames, burn_in, "reference") == expected
    synth = synthesizer([f"burn_in={burn_in}", "burn_in_padding=reference"], content=moving_texture(frames=frames))
    assert synth.sequence == expected


def tf2_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """TF2's tf.image.resize(method="bilinear", antialias=False) of (C, H, W), written out: half-pixel centres, edges clamped."""

    def taps(n_in, n_out):
        source = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        lower = np.floor(source)
        return np.maximum(lower, 0).astype(int), np.minimum(np.ceil(source), n_in - 1).astype(int), source - lower

    (y0, y1, fy), (x0, x1, fx) = taps(image.shape[1], size[0]), taps(image.shape[2], size[1])
    top = image[:, y0][:, :, x0] * (1 - fx) + image[:, y0][:, :, x1] * fx
    bottom = image[:, y1][:, :, x0] * (1 - fx) + image[:, y1][:, :, x1] * fx
    return top * (1 - fy[:, None]) + bottom * fy[:, None]


def test_reference_octave_targets_are_tf2_resizes_of_the_previous_octaves():
    switches = ["octave_resize=chained", "antialias=false", "octaves=[{scale=-2, steps=1, lr=0.02}, {scale=-1, steps=1, lr=0.02}, {scale=0, steps=1, lr=0.02}]"]
    synth = synthesizer(switches, content=moving_texture(height=57, width=71))
    sizes = [synth.octave_size(octave) for octave in synth.config.octaves]
    assert sizes == [(25, 31), (38, 47), (57, 71)]  # int(57·1.5⁻²) …, as the reference's int32 cast
    pair = synth.frames["spatial_style"][[0, 1]]
    expected, source = [], pair.double().numpy()
    for size in sizes:
        source = np.stack([tf2_bilinear(frame, size) for frame in source])
        expected.append(source)
    for got, want in zip(synth.resized(pair, sizes), expected):
        np.testing.assert_allclose(got.numpy(), want, atol=2e-6)
    # and they are what the octave's targets are computed from
    index = synth.config.burn_in + 1  # the transition from frame 0 to frame 1
    assert synth.sequence[index - 1 : index + 1] == [0, 1]
    prepared = synth.target_statistics(index, sizes)[-1]
    stream = synth.networks()["spatial"]
    direct = stream.prepare(stream(torch.from_numpy(expected[-1][1]).float()[None, :, None]), "style")
    for layer, value in prepared["spatial_style"].items():
        torch.testing.assert_close(value, direct[layer], rtol=1e-4, atol=1e-6)
    # the default resizes each octave from the full frames, antialiased: the last octave's targets are the frames themselves
    default = synthesizer(content=moving_texture(height=57, width=71))
    assert torch.equal(default.resized(pair, sizes)[-1], pair)
    assert not torch.allclose(torch.from_numpy(expected[-1]).float(), pair, atol=1e-2)


def test_each_layer_of_each_term_is_recorded(finished):
    out, _ = finished
    ds = xr.open_zarr(out)
    assert list(ds.layer_loss.dims) == ["transition", "step", "term_layer"]
    assert list(ds.term_layer.values) == ["spatial_style/relu1_1", "spatial_style/relu2_1", "spatial_style/relu3_1", "temporal_style/concat"]
    assert list(ds.term_layer_term.values) == ["spatial_style"] * 3 + ["temporal_style"]
    # a term is the mean of its layers
    for term in ("spatial_style", "temporal_style"):
        layers = ds.layer_loss.where(ds.term_layer_term == term, drop=True).mean("term_layer")
        np.testing.assert_allclose(layers.values, ds.loss.sel(term=term).values, rtol=1e-5)
    assert np.isfinite(ds.layer_loss.values).all()


def test_a_run_fills_the_store(finished):
    out, store = finished
    assert store.complete
    ds = xr.open_zarr(out)
    assert ds.attrs["status"] == "complete" and ds.attrs["method"] == "stst"
    assert ds.video.shape == (4, 3, 40, 48) and ds.target.shape == (4, 3, 40, 48)
    video = ds.video.values
    assert np.isfinite(video).all() and video.min() >= 0 and video.max() <= 1
    assert list(ds.transition.values) == [-1, 0, 1, 2, 3]
    assert list(ds.term.values) == ["spatial_style", "temporal_style", "tv"]
    assert ds.loss.shape == (5, 12, 3) and np.isfinite(ds.loss.values).all()
    assert list(ds.step_octave.values) == [0] * 6 + [1] * 6
    config = json.loads(ds.attrs["config"])
    assert config["burn_in"] == 2 and config["temporal"]["weights"] == "analytic"
    assert json.loads(ds.attrs["targets"])["content"]["source"] == "moving texture 0"
    assert {"torch", "stst-toolkit", "zarr"} <= set(json.loads(ds.attrs["versions"]))


def test_style_losses_fall_from_noise(finished):
    _, store = finished
    evaluation = store.evaluation()
    for term in ("spatial_style", "temporal_style"):
        noise = float(evaluation.sel(evaluated="noise", term=term).mean())
        result = float(evaluation.sel(evaluated="result", term=term).mean())
        assert result < noise / 3, (term, noise, result)
    # frame 0 has no previous frame to compare motion with
    assert np.isnan(evaluation.sel(evaluated="result", term="temporal_style", time=0))


def test_loss_equalisation_starts_every_term_at_its_weight(finished):
    out, _ = finished
    ds = xr.open_zarr(out)
    loss, weight = ds.loss.values, ds.loss_weight.values  # (transition, step, term), (transition, octave, term)
    expected = np.array([1.0, 1.0, 0.1]) * 1e4  # user weight × equalize, at the start of every octave
    np.testing.assert_allclose(loss[:, 0] * weight[:, 0], np.broadcast_to(expected, (5, 3)), rtol=1e-4)
    np.testing.assert_allclose(loss[:, 6] * weight[:, 1], np.broadcast_to(expected, (5, 3)), rtol=1e-4)


def test_colour_is_transferred_to_the_target(finished, tmp_path):
    out, _ = finished
    ds = xr.open_zarr(out)
    generated = ds.video.mean(dim=("time", "y", "x")).values
    target = ds.target.mean(dim=("time", "y", "x")).values
    plain = xr.open_zarr(synthesizer(["color_transfer=none"]).synthesize(tmp_path / "plain.zarr", progress=False).path)
    untransferred = plain.video.mean(dim=("time", "y", "x")).values
    # at 40x48 pixels regrain has a single level of 4 iterations and moves the colours only part of the way
    assert np.abs(generated - target).sum() < 0.8 * np.abs(untransferred - target).sum()


def test_complete_store_is_left_alone(finished):
    out, _ = finished
    before = xr.open_zarr(out).attrs["updated"]
    assert synthesizer().synthesize(out, progress=False).complete
    assert xr.open_zarr(out).attrs["updated"] == before


def test_resuming_with_another_config_is_refused(finished):
    out, _ = finished
    with pytest.raises(ConfigError, match=r"incompatible run.*blend: 1.0 → 0.5.*--overwrite"):
        synthesizer(["blend=0.5"]).synthesize(out, progress=False)
    other = STSTSynthesizer({"content": moving_texture(seed=1)}, STSTSynthesizer.resolve("paper", overrides=FAST), seed=0)
    with pytest.raises(ConfigError, match="target 'content': different frames"):
        other.synthesize(out, progress=False)


def test_output_that_is_not_a_store_is_never_touched(tmp_path):
    path = tmp_path / "precious"
    path.mkdir()
    (path / "data.txt").write_text("keep me")
    with pytest.raises(STSTError, match="not a stimulus store; refusing to overwrite"):
        synthesizer().synthesize(path, progress=False)
    with pytest.raises(STSTError, match="not a stimulus store"):
        synthesizer().synthesize(path, progress=False, overwrite=True)
    assert (path / "data.txt").read_text() == "keep me"


def test_nan_loss_stops_keeps_frames_and_names_the_term(tmp_path, monkeypatch):
    out = tmp_path / "nan.zarr"
    synth = synthesizer()
    original = synth.loss_terms
    calls = {"n": 0}

    def poisoned(previous, current, prepared):
        terms, layers = original(previous, current, prepared)
        calls["n"] += 1
        if calls["n"] > 60:  # after a few transitions
            terms = terms * torch.tensor([1.0, float("nan"), 1.0])
        return terms, layers

    monkeypatch.setattr(synth, "loss_terms", poisoned)
    with pytest.raises(STSTError, match=r"the temporal_style term became nan at (burn-in|frame) \d+/\d+, step \d+"):
        synth.synthesize(out, progress=False)
    store = StimulusStore(out)
    assert store.status == "failed" and "temporal_style" in store.attrs["message"]
    assert store.units_done >= 1


def test_dynamic_style_transfer_takes_each_style_from_its_own_video(tmp_path):
    synth = synthesizer(spatial_style=moving_texture(seed=3), temporal_style=moving_texture(seed=4, dx=-2))
    store = synth.synthesize(tmp_path / "dst.zarr", progress=False)
    roles = store.targets
    assert roles["spatial_style"]["source"] == "moving texture 3"
    assert roles["temporal_style"]["source"] == "moving texture 4"


@pytest.mark.parametrize(
    "style, message",
    [
        (moving_texture(frames=2), "has 2 frames but the input has 4"),
        (moving_texture(height=48), "is 48x48 but the input is 40x48"),
        (Video(moving_texture().frames, fps=30), "runs at 30 fps but the input at 25 fps"),
    ],
)
def test_bad_style_videos(style, message):
    with pytest.raises(ConfigError, match=message):
        synthesizer(spatial_style=style)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["optimiser=adam"], "unknown config key 'optimiser'; allowed keys: .*optimizer"),
        (["optimizer=sgd"], "config key 'optimizer' must be one of 'ngd', 'adam', 'lbfgs'; got 'sgd'"),
        (["octaves.0.steps=-3"], "octave steps must be at least 1"),
        (["octaves.5.steps=3"], "'5' is not a position in a list of 2"),
        (["weights.spatial_stlye=1"], "unknown loss term 'spatial_stlye'"),
        (["burn_in=two"], "config key 'burn_in' must be an integer, got 'two'"),
    ],
)
def test_bad_config_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        STSTSynthesizer.resolve("paper", overrides=[*FAST, *overrides])


def test_unknown_backbone_or_layer_fails_before_running(tmp_path):
    with pytest.raises(Exception, match="unknown backbone 'vgg91'"):
        synthesizer(["spatial.backbone=vgg91"]).synthesize(tmp_path / "a.zarr", progress=False)
    with pytest.raises(Exception, match="no layer.*relu9_1"):
        synthesizer(["spatial.style_layers=['relu9_1']"]).synthesize(tmp_path / "b.zarr", progress=False)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_other_optimizers_run(tmp_path, optimizer):
    lr = "0.02"
    synth = synthesizer([f"optimizer={optimizer}", "octaves=[{scale=0, steps=4, lr=%s}]" % lr, "burn_in=1"])
    store = synth.synthesize(tmp_path / f"{optimizer}.zarr", progress=False)
    losses = store.loss_history().sel(term="spatial_style").values
    assert np.isfinite(losses).all() and losses[:, -1].mean() < losses[:, 0].mean()


def test_cli_kill_and_resume_matches_an_uninterrupted_run(tmp_path):
    """A run killed with SIGKILL resumes from its last committed frame to the same result."""
    clip = tmp_path / "clip.npz"
    write_video(moving_texture(frames=5), clip)
    stst = str(Path(sys.executable).parent / "stst")
    args = ["synth", "stst", str(clip), "--preset", "paper", "--quiet", "--seed", "3", *[a for s in FAST for a in ("--set", s)]]
    subprocess.run([stst, *args, "-o", str(tmp_path / "whole.zarr")], check=True, capture_output=True)

    killed = tmp_path / "killed.zarr"
    process = subprocess.Popen([stst, *args, "-o", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (killed / "zarr.json").exists() and StimulusStore(killed).units_done >= 3:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = StimulusStore(killed)
    assert not partial.complete and 3 <= partial.units_done
    result = subprocess.run([stst, *args, "-o", str(killed)], check=True, capture_output=True, text=True)
    assert "resumed" in result.stdout
    np.testing.assert_array_equal(xr.open_zarr(killed).video.values, xr.open_zarr(tmp_path / "whole.zarr").video.values)


def test_missing_weights_fail_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("STST_OFFLINE", "1")
    out = tmp_path / "never.zarr"
    with pytest.raises(STSTError, match="imagenet"):
        synthesizer(["spatial.weights=imagenet"]).synthesize(out, progress=False)
    assert not out.exists()


def test_progress_bars_name_the_frame_and_calibrate_the_cost(tmp_path, capsys):
    synth = synthesizer(["octaves=[{scale=0, steps=2, lr=0.02}]", "burn_in=1"], content=moving_texture(frames=2))
    synth.synthesize(tmp_path / "bars.zarr", progress=True)
    err = capsys.readouterr().err
    assert "frame 2/2" in err and "100%" in err
    assert len(synth._costs) == 1 and synth._costs[0] > 0  # seconds per step, measured before the run


@pytest.mark.slow
def test_the_reference_preset_from_the_command_line(tmp_path):
    """`stst synth stst CLIP --preset reference --set spatial.weights=<a Keras-layout h5>`: every switch of the reference, end to end."""
    from test_vgg import write_keras_vgg19

    from stst_core import write_video
    from stst_core.testing import run_cli

    clip = write_video(moving_texture(frames=3), tmp_path / "clip.npz")
    weights = tmp_path / "vgg19_notop.h5"
    write_keras_vgg19(weights)
    out = tmp_path / "reference.zarr"
    settings = [f"spatial.weights={weights}", "temporal.weights=analytic", "octaves=[{scale=-1, steps=2, lr=0.002}, {scale=0, steps=2, lr=0.005}]", "burn_in=2"]
    result = run_cli("synth", "stst", clip, "--preset", "reference", "-o", out, "--quiet", *[a for s in settings for a in ("--set", s)])
    assert result.exit_code == 0, result.output
    ds = xr.open_zarr(out)
    assert ds.attrs["status"] == "complete" and ds.video.shape == (3, 3, 40, 48)
    synth = STSTSynthesizer({"content": moving_texture(frames=3)}, STSTSynthesizer.resolve("reference", overrides=settings))
    cfg = synth.config
    assert (cfg.burn_in_padding, cfg.octave_resize, cfg.antialias, cfg.color_mapping) == ("reference", "chained", False, "reference")
    assert synth.sequence == [1, 2, 0, 1, 2] and synth.networks()["spatial"].net.card.extra["normalization"] == "caffe"
