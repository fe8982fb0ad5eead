"""Metrics on synthetic videos whose answers are known, and the core metric contract."""

import math
from typing import Annotated, ClassVar

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import stst_metrics
from stst_core import ConfigError, Metric, Range, RegistryError, Video, VideoError, get_registry, hookimpl, write_video
from stst_core._metrics import check_comparable, create_metric, evaluate_metrics, list_metrics, read_stimulus
from stst_core.testing import registered_plugin
from stst_metrics import autocorrelation_curve, binned_power, flow_statistics, pixel_statistics

SIZE = 48


def texture(seed=0, size=SIZE, width=None, smooth=3):
    """A random colour texture, smoothed so that optical flow can follow it, stretched to [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 3, size, width or size, generator=generator), smooth, 1, smooth // 2)[0]
    return (base - base.min()) / (base.max() - base.min())


def drifting(dx=2.0, dy=0.0, frames=8, seed=0, smooth=3) -> Video:
    """A texture translating by (dx, dy) px/frame, cut from a larger one (sub-pixel shifts by bilinear sampling)."""
    big = texture(seed, size=SIZE * 3, smooth=smooth)
    clip = []
    for t in range(frames):
        top, left = SIZE - dy * t, SIZE - dx * t  # content moves by (dx, dy): the window by the opposite
        grid_y = (top + torch.arange(SIZE)) / (3 * SIZE - 1) * 2 - 1
        grid_x = (left + torch.arange(SIZE)) / (3 * SIZE - 1) * 2 - 1
        yy, xx = torch.meshgrid(grid_y, grid_x, indexing="ij")
        clip.append(F.grid_sample(big[None], torch.stack([xx, yy], -1)[None], align_corners=True)[0])
    return Video(torch.stack(clip, dim=1).clamp(0, 1).contiguous(), fps=25, source=f"drifting {dx},{dy}")


def reversed_(video: Video) -> Video:
    return Video(video.frames.flip(1).contiguous(), video.fps, "reversed")


@pytest.fixture(scope="module")
def clip():
    return drifting()


# -- every metric: 0 for identical videos ----------------------------------------------------


def test_every_metric_is_registered():
    assert set(list_metrics()) >= {"power_spectrum", "oriented_energy", "flow", "flicker", "autocorrelation", "pixels", "novelty", "gram"}
    assert list_metrics("flo*") == ["flow"]


def test_identical_videos_are_at_distance_zero(clip):
    values = evaluate_metrics(clip, clip)
    for key, value in values.items():
        if key.startswith("novelty."):
            assert value == pytest.approx(1.0, abs=1e-9), key  # a copy: the exception, 1 = exact copy
        else:
            assert value == pytest.approx(0.0, abs=1e-9), key
    assert {"flow.mean_speed", "power_spectrum.direction", "gram.level0", "pixels.kurtosis"} <= set(values)


# -- power spectrum ---------------------------------------------------------------------------


def test_power_spectrum_direction_bins_follow_the_motion(clip):
    power = binned_power(clip)
    assert np.nanargmax(power["direction"]) == 0  # rightward
    down = binned_power(drifting(dx=0.0, dy=2.0))
    assert power["direction_centres"][np.nanargmax(down["direction"])] == 90.0  # image coordinates: y down


def test_reversed_motion_changes_direction_bins_only(clip):
    values = create_metric("power_spectrum")(reversed_(clip), clip)
    for key in ("spatial", "temporal", "joint"):
        assert values[key] < 1e-9, key  # magnitudes are those of the original
    assert values["direction"] > 0.5  # a factor of 3 per direction bin, on average
    assert np.nanargmax(binned_power(reversed_(clip))["direction"]) == 4  # 180°: leftward


def test_power_spectrum_bins_of_a_short_clip_are_left_out_not_zero():
    short = drifting(frames=2)
    power = binned_power(short, temporal_bins=4)
    assert np.isnan(power["temporal"][1:4]).all() and np.isfinite(power["temporal"][[0, 4]]).all()  # |f_t| ∈ {0, 0.5}
    assert create_metric("power_spectrum")(short, short)["temporal"] == 0.0


# -- oriented energy --------------------------------------------------------------------------


def test_oriented_energy_separates_reversed_motion(clip):
    metric = create_metric("oriented_energy")
    reversed_distance = metric(reversed_(clip), clip)["distribution"]
    other_texture = metric(drifting(seed=5), clip)["distribution"]  # same motion, other pattern
    assert reversed_distance > 0.2
    assert other_texture < reversed_distance / 4


def test_oriented_energy_prefers_the_direction_of_motion():
    from stst_metrics.energy import energy_distributions

    distributions, _, steering = energy_distributions(drifting(dx=1.5), levels=1)
    best = steering[int(np.argmax(distributions[0][:-1]))]
    assert best.kind == "motion" and best.angle == 0.0 and best.speed == 1.5


def test_oriented_energy_needs_enough_frames(clip):
    short = Video(clip.frames[:, :4].contiguous(), clip.fps)
    with pytest.raises(VideoError, match="at least 5 frames"):
        create_metric("oriented_energy")(short, short)


# -- optical flow -----------------------------------------------------------------------------


@pytest.mark.parametrize("velocity", [(2.0, 0.0), (-1.0, 1.5)])
def test_flow_measures_a_known_velocity_within_ten_percent(velocity):
    stats = flow_statistics(drifting(*velocity))
    speed = math.hypot(*velocity)
    assert stats.mean_speed == pytest.approx(speed, rel=0.1)
    assert stats.mean_velocity == pytest.approx(velocity, abs=0.1 * speed)
    expected_bin = round(math.degrees(math.atan2(velocity[1], velocity[0])) % 360 / 45) % 8
    assert np.argmax(stats.direction_histogram) == expected_bin
    assert stats.smoothness < 0.1  # a rigid translation: a nearly constant field


def test_a_static_clip_has_zero_flow(clip):
    static = Video(clip.frames[:, :1].expand(-1, 6, -1, -1).contiguous(), clip.fps, "static")
    stats = flow_statistics(static)
    assert stats.mean_speed < 1e-3 and stats.smoothness < 1e-3
    assert stats.speed_histogram[0] == 1.0 and not stats.direction_histogram.any()
    values = create_metric("flow")(static, Video(clip.frames[:, :6].contiguous(), clip.fps))
    assert values["direction_histogram"] == 1.0  # no motion against motion
    assert values["mean_speed"] == pytest.approx(2.0, rel=0.1)


def test_reversed_motion_is_a_large_flow_direction_distance(clip):
    values = create_metric("flow")(reversed_(clip), clip)
    assert values["direction_histogram"] > 0.9
    assert values["speed_histogram"] < 0.2 and values["mean_speed"] < 0.2


# -- temporal autocorrelation -----------------------------------------------------------------


def test_the_speed_ratio_of_a_texture_twice_as_fast_is_one_octave():
    slow, fast = drifting(dx=1.0), drifting(dx=2.0)
    assert create_metric("flow")(fast, slow)["speed_log2_ratio"] == pytest.approx(1.0, abs=0.15)
    assert create_metric("flow")(slow, fast)["speed_log2_ratio"] == pytest.approx(-1.0, abs=0.15)


# -- flicker ------------------------------------------------------------------------------------


def grey_levels(levels, contrast=0.0):
    """Frames of one grey level each (plus a left/right step of ``contrast`` around it), 16x16."""
    step = torch.cat([torch.full((16, 8), -contrast), torch.full((16, 8), contrast)], dim=1)
    return Video(torch.stack([torch.full((16, 16), level) + step for level in levels])[None].repeat(3, 1, 1, 1), fps=25, source="levels")


def test_blink_by_hand():
    from stst_metrics import flicker

    # mean luma 0.2, 0.4, 0.3: changes 0.2, 0.1; a contrast of ±0.1 throughout: no contrast change
    measured = flicker(grey_levels([0.2, 0.4, 0.3], contrast=0.1))
    assert measured.luminance == pytest.approx(0.15, abs=1e-6) and measured.contrast == pytest.approx(0.0, abs=1e-6)
    ratio = create_metric("flicker")(grey_levels([0.2, 0.4, 0.3]), grey_levels([0.2, 0.3, 0.4]))
    assert ratio["luminance_log2_ratio"] == pytest.approx(math.log2((0.15 + 1e-4) / (0.1 + 1e-4)), abs=1e-4)
    assert ratio["contrast_log2_ratio"] == pytest.approx(0.0, abs=1e-4)


def test_blink_sees_brightness_and_contrast_pumping_but_hardly_motion(clip):
    pumped = Video((clip.frames * torch.tensor([1.0, 0.8] * 4).view(1, 8, 1, 1)).contiguous(), clip.fps, "pumped")
    assert create_metric("flicker")(pumped, clip)["luminance_log2_ratio"] > 3
    mean = clip.frames.mean(dim=(0, 2, 3), keepdim=True)
    contrasted = Video((mean + (clip.frames - mean) * torch.tensor([1.0, 0.6] * 4).view(1, 8, 1, 1)).clamp(0, 1).contiguous(), clip.fps, "contrast")
    assert create_metric("flicker")(contrasted, clip)["contrast_log2_ratio"] > 2
    assert abs(create_metric("flicker")(drifting(dx=3.0), clip)["luminance_log2_ratio"]) < 2


def test_shuffling_frames_lowers_the_autocorrelation():
    smooth = drifting(dx=1.0, smooth=7)
    shuffled = Video(smooth.frames[:, [0, 5, 2, 7, 3, 6, 1, 4]].contiguous(), smooth.fps, "shuffled")
    ordered, mixed = autocorrelation_curve(smooth), autocorrelation_curve(shuffled)
    assert ordered[0] == pytest.approx(1.0) and mixed[0] == pytest.approx(1.0)
    assert np.all(np.diff(ordered) < 0)  # moving away: frames further apart are less alike
    assert mixed[1] < ordered[1] - 0.2
    assert create_metric("autocorrelation")(shuffled, smooth) > 0.1


def test_autocorrelation_of_a_static_clip_is_one(clip):
    static = Video(clip.frames[:, :1].expand(-1, 5, -1, -1).contiguous(), clip.fps)
    np.testing.assert_allclose(autocorrelation_curve(static), 1.0)


# -- pixel statistics -------------------------------------------------------------------------


def test_pixel_statistics_known_values():
    frames = torch.full((3, 4, 8, 8), 0.25)
    frames[..., ::2] = 0.75  # half the pixels at each level: mean 0.5, std 0.25, kurtosis 1
    video = Video(frames, 25)
    stats = pixel_statistics(video)
    assert stats.mean_luminance == pytest.approx(0.5)
    assert stats.rms_contrast == pytest.approx(0.25)
    assert stats.kurtosis == pytest.approx(1.0)
    brighter = Video(frames + 0.1, 25)
    values = create_metric("pixels")(brighter, video)
    assert values["mean_luminance"] == pytest.approx(0.1)
    assert values["rms_contrast"] == pytest.approx(0.0, abs=1e-6) and values["kurtosis"] == pytest.approx(0.0, abs=1e-6)
    assert values["colour_histogram"] == 1.0  # every pixel moved to another bin


# -- novelty ----------------------------------------------------------------------------------


def test_novelty_of_a_copy_is_one_and_of_an_unrelated_texture_low(clip):
    metric = create_metric("novelty")
    shifted = Video(clip.frames[:, 2:].contiguous(), clip.fps)  # a copy of part of the target, elsewhere in time
    assert metric(shifted, clip)["max"] == pytest.approx(1.0, abs=1e-9)
    assert metric(shifted, clip)["mean"] == pytest.approx(1.0, abs=1e-9)
    unrelated = metric(drifting(seed=9, smooth=1), drifting(seed=3, smooth=1))
    assert unrelated["max"] < 0.35 and unrelated["mean"] < 0.2


def test_novelty_of_a_flat_video_is_undefined(clip):
    flat = Video(torch.full_like(clip.frames, 0.5), clip.fps)
    assert all(math.isnan(v) for v in create_metric("novelty")(flat, clip).values())


# -- model-based Gram distance ----------------------------------------------------------------


def small(video: Video, frames=5, size=24) -> Video:
    return Video(video.frames[:, :frames, :size, :size].contiguous(), video.fps, video.source)


def test_gram_distance_per_layer_of_any_backbone(clip):
    metric = create_metric("gram", backbone="msoe", weights="analytic")
    values = metric(small(reversed_(clip)), small(clip))
    assert list(values) == ["concat"] and values["concat"] > 0.01  # a motion-energy network sees the reversal
    spatial = create_metric("gram", options={"levels": 2, "channels": 16})
    assert set(spatial(reversed_(clip), clip)) == {"level0", "level1"}
    assert max(spatial(reversed_(clip), clip).values()) < 1e-9  # a per-frame network does not
    assert spatial(drifting(seed=4), clip)["level0"] > 0.01


def test_gram_distance_is_the_same_in_chunks(clip):
    whole = create_metric("gram", backbone="msoe", weights="analytic", chunk_frames=16)
    chunked = create_metric("gram", backbone="msoe", weights="analytic", chunk_frames=3)
    other, target = small(drifting(seed=4)), small(clip)
    assert chunked(other, target)["concat"] == pytest.approx(whole(other, target)["concat"], rel=1e-9)


def test_gram_rejects_unknown_layers():
    with pytest.raises(Exception, match="nosuchlayer"):
        create_metric("gram", layers=["nosuchlayer"])


# -- the core contract ------------------------------------------------------------------------


def test_create_metric_options_are_checked():
    with pytest.raises(ConfigError, match=r"metric 'flow' \(plugin 'metrics'\) has no option\(s\) 'nonsense'; its options: directions"):
        create_metric("flow", nonsense=1)
    with pytest.raises(ConfigError, match="^metric 'flow': directions must be an integer ≥ 1, got 0$"):
        create_metric("flow", directions=0)
    with pytest.raises(RegistryError, match="Did you mean 'flow'"):
        create_metric("flwo")
    assert create_metric("flow", directions="16").directions == 16  # as a command line gives it


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("power_spectrum", {"spatial_bins": 0}, "spatial_bins must be an integer ≥ 1, got 0"),
        ("oriented_energy", {"levels": 0}, "levels must be an integer ≥ 1, got 0"),
        ("oriented_energy", {"sigma": 0}, "sigma must be a number > 0, got 0.0"),
        ("oriented_energy", {"speeds": [0.5, -1]}, r"speeds.1 must be a number > 0, got -1.0"),
        ("oriented_energy", {"speeds": []}, "speeds must name at least one speed"),
        ("autocorrelation", {"max_lag": "none"}, "max_lag must be an integer ≥ 1, got 'none'"),
        ("pixels", {"bins": 1}, "bins must be an integer ≥ 2, got 1"),
        ("novelty", {"min_std": -0.1}, "min_std must be a number ≥ 0, got -0.1"),
        ("novelty", {"patch_size": 2.5}, "patch_size must be an integer ≥ 1, got 2.5"),
        ("gram", {"chunk_frames": 0}, "chunk_frames must be an integer ≥ 1, got 0"),
    ],
)
def test_each_metric_option_is_checked_by_its_annotation(name, options, message):
    with pytest.raises(ConfigError, match=f"metric '{name}': {message}"):
        create_metric(name, **options)
    with pytest.raises(ConfigError, match=message):  # constructing the class checks them too
        stst_metrics.METRICS[name](**options)


def test_option_values_are_converted_and_kept(clip):
    energy = create_metric("oriented_energy", speeds="1, 2", levels="1")
    assert energy.settings == {"directions": 8, "speeds": (1.0, 2.0), "levels": 1, "sigma": 1.0, "pool": 2.0, "epsilon": 0.1}
    rebuilt = type(energy)(**energy.settings)
    assert rebuilt(reversed_(clip), clip) == energy(reversed_(clip), clip)
    assert repr(create_metric("flow")) == "FlowDistance(directions=8)"


def test_incomparable_videos_are_refused_with_advice(clip):
    small = Video(clip.frames[:, :, :24, :24].contiguous(), clip.fps, "small.mp4")
    with pytest.raises(VideoError, match=r"24x24.*48x48.*--size"):
        evaluate_metrics(small, clip)
    wide = Video(clip.frames[:, :, :24].contiguous(), clip.fps, "wide.mp4")
    with pytest.raises(VideoError, match="aspect ratios differ.*crop"):
        check_comparable(wide, clip)
    faster = Video(clip.frames, 50, "fast.mp4")
    with pytest.raises(VideoError, match="50 fps.*25 fps"):
        check_comparable(faster, clip)
    one = Video(clip.frames[:, :1].contiguous(), clip.fps, "one.mp4")
    with pytest.raises(VideoError, match="flow needs at least 2 frames"):
        create_metric("flow")(one, one)


def test_plugin_metrics_are_flattened_and_checked(clip):
    class Plugin:
        @hookimpl
        def stst_register_metrics(self, register):
            register("brightness", lambda g, t: abs(float(g.frames.mean() - t.frames.mean())))
            register("parts", lambda g, t: {"a": 1, "b": np.float32(2.5)})
            register("broken", lambda g, t: "high")

    with registered_plugin(Plugin(), name="metrics-under-test"):
        assert evaluate_metrics(clip, clip, ["brightness", "part*"]) == {"brightness": 0.0, "parts.a": 1.0, "parts.b": 2.5}
        with pytest.raises(RegistryError, match="'broken'.*metrics-under-test.*str"):
            evaluate_metrics(clip, clip, ["broken"])
        with pytest.raises(ConfigError, match="takes no options"):
            create_metric("brightness", scale=2)


# -- a third-party metric on the base class ----------------------------------------------------


class MeanLevel(Metric):
    """Absolute difference of the mean grey level over the first frames (0 = as bright as the target)."""

    name = "mean_level"
    min_frames = 2

    frames: Annotated[int, Range(ge=1)] = 2
    calls: ClassVar[list] = []  # what compare() received: (generated channels, target channels)

    def compare(self, generated, target):
        self.calls.append((generated.channels, target.channels))
        level = [float(v.frames[:, : self.frames].mean()) for v in (generated, target)]
        return {"difference": abs(level[0] - level[1]), "generated": np.float32(level[0])}


class ColourLevel(MeanLevel):
    """The same, for a metric whose compare() needs RGB (a network's input)."""

    name = "colour_level"
    needs_rgb = True


@pytest.fixture
def third_party():
    class Plugin:
        @hookimpl
        def stst_register_metrics(self, register):
            register("mean_level", MeanLevel)
            register("colour_level", ColourLevel)

    MeanLevel.calls.clear()
    with registered_plugin(Plugin(), name="third-party-metrics"):
        yield


def test_a_metric_on_the_base_class_works_through_evaluate_metrics(third_party, clip):
    brighter = Video((clip.frames + 0.1).clamp(0, 1), clip.fps, "brighter")
    expected = float((brighter.frames[:, :3].mean() - clip.frames[:, :3].mean()).abs())
    values = evaluate_metrics(brighter, clip, ["mean_level"], options={"mean_level": {"frames": "3"}})
    assert values == {"mean_level.difference": pytest.approx(expected, abs=1e-6), "mean_level.generated": pytest.approx(float(brighter.frames[:, :3].mean()))}
    assert all(type(v) is float for v in values.values())  # numpy numbers become plain floats
    metric = create_metric("mean_level", frames=3)
    assert metric.evaluate(brighter, clip) == values  # the record, keyed by the metric's name
    assert (
        get_registry("metrics").get("mean_level").summary == "Absolute difference of the mean grey level over the first frames (0 = as bright as the target)."
    )
    assert get_registry("metrics").options("mean_level") == {"frames": "an integer ≥ 1, default 2"}


def test_the_base_checks_options_and_inputs_before_compare_runs(third_party, clip):
    with pytest.raises(ConfigError, match=r"^metric 'mean_level': frames must be an integer ≥ 1, got 0$"):
        create_metric("mean_level", frames=0)
    with pytest.raises(ConfigError, match=r"^metric 'mean_level': frames must be an integer ≥ 1, got 'all'$"):
        MeanLevel(frames="all")
    metric = create_metric("mean_level")
    with pytest.raises(VideoError, match=r"mean_level: .* is 24x24 .* 48x48"):
        metric(Video(clip.frames[:, :, :24, :24].contiguous(), clip.fps), clip)
    one = Video(clip.frames[:, :1].contiguous(), clip.fps, "one.mp4")
    with pytest.raises(VideoError, match="mean_level needs at least 2 frames, but one.mp4 has 1"):
        metric(one, one)
    assert MeanLevel.calls == []  # compare() never saw a video it could not compare


def test_grey_and_colour_videos_reach_compare_with_one_channel_count(third_party, clip):
    luma = Video((clip.frames * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1, 1)).sum(0, keepdim=True), clip.fps, "grey")
    assert create_metric("mean_level")(luma, clip)["difference"] == pytest.approx(0.0, abs=1e-6)  # the colour one judged as luma
    assert create_metric("mean_level")(clip, clip)["difference"] == 0.0
    create_metric("colour_level")(luma, clip)
    assert MeanLevel.calls == [(1, 1), (3, 3), (3, 3)]  # colour_level needs RGB: grey becomes three equal channels


def test_pixels_compares_grey_with_grey(clip):
    luma = Video((clip.frames * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1, 1)).sum(0, keepdim=True), clip.fps, "grey")
    values = create_metric("pixels")(luma, clip)
    assert values["colour_histogram"] < 0.01 and values["mean_luminance"] < 1e-6  # luma histograms of both


def test_read_stimulus_from_a_video_file(tmp_path, clip):
    path = write_video(clip, tmp_path / "clip.npz")
    video, target = read_stimulus(path, num_frames=4, size=24)
    assert video.shape == (3, 4, 24, 24) and target is None
    with pytest.raises(VideoError, match="no such file"):
        read_stimulus(tmp_path / "missing.mp4")


def test_the_plugin_exports_every_metric():
    assert set(stst_metrics.METRICS) == set(list_metrics()) & set(stst_metrics.METRICS)


def test_the_plugin_guides_metric_example_works(tmp_path, monkeypatch):
    """The worked example of the metric contract and its test, run as a reader would copy them."""
    import re
    import sys
    from pathlib import Path

    guide = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", guide, flags=re.M | re.S)
    (tmp_path / "stst_blink.py").write_text(next(b for b in blocks if b.startswith("# stst_blink.py")))
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = {}
    exec(compile(next(b for b in blocks if b.startswith("# test_blink.py")), "plugins.md", "exec"), namespace)
    try:
        namespace["test_blink"]()
    finally:
        sys.modules.pop("stst_blink", None)
