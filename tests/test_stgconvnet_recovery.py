"""STGConvNet recovery: the paper's error and the two baselines against hand-computed values."""

import pytest
import torch

from stst_core import ConfigError, Video
from stst_stgconvnet.recovery import recovery_error, telea_inpaint, temporal_interpolation


def one_pixel(values, occluded):
    """A 1-channel 1x1 video over len(values) frames and its mask."""
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1), torch.tensor(occluded).view(-1, 1, 1)


def test_recovery_error_is_the_mean_over_occluded_entries_on_the_255_scale():
    truth = torch.zeros(2, 3, 1, 1)
    recovered = truth.clone()
    recovered[0, 1] = 0.1  # occluded: counts
    recovered[1, 1] = 0.3  # occluded: counts
    recovered[:, 0] = 1.0  # visible: ignored
    mask = torch.tensor([False, True, False]).view(3, 1, 1)
    # two occluded entries (one pixel, two channels) differing by 0.1 and 0.3: 255 * 0.2
    assert recovery_error(recovered, truth, mask) == pytest.approx(51.0)
    recovered[1, 1] = 0.1
    assert recovery_error(recovered, truth, mask) == pytest.approx(25.5)
    # Videos are accepted too (a third channel, off by 0.4 on the occluded pixel: (0.1 + 0.1 + 0.4) / 3)
    recovered, truth = torch.cat([recovered, recovered[:1] + 0.3]), torch.cat([truth, truth[:1]])
    assert recovery_error(Video(recovered, fps=25), Video(truth, fps=25), mask) == pytest.approx(51.0)


def test_recovery_error_rejects_mismatched_shapes_and_empty_masks():
    truth = torch.zeros(3, 4, 5, 6)
    mask = torch.zeros(4, 5, 6, dtype=torch.bool)
    mask[0, 0, 0] = True
    with pytest.raises(ConfigError, match=r"recovered video is 3x4x5x5 .* true video 3x4x5x6"):
        recovery_error(torch.zeros(3, 4, 5, 5), truth, mask)
    with pytest.raises(ConfigError, match=r"mask is 4x5x5 .* video 3x4x5x6"):
        recovery_error(truth, truth, mask[:, :, :5])
    with pytest.raises(ConfigError, match="occludes no pixel"):
        recovery_error(truth, truth, torch.zeros_like(mask))
    with pytest.raises(ConfigError, match="boolean"):
        recovery_error(truth, truth, mask.float())


def test_temporal_interpolation_is_linear_between_visible_frames_and_holds_at_the_ends():
    video, mask = one_pixel([0.0, 7.0, 7.0, 0.9, 7.0], [False, True, True, False, True])
    filled = temporal_interpolation(video, mask).flatten().tolist()
    assert filled == pytest.approx([0.0, 0.3, 0.6, 0.9, 0.9])
    # occluded at the start: the first visible value is held backwards
    video, mask = one_pixel([7.0, 7.0, 0.4, 0.2], [True, True, False, False])
    assert temporal_interpolation(video, mask).flatten().tolist() == pytest.approx([0.4, 0.4, 0.4, 0.2])


def test_temporal_interpolation_is_per_pixel_and_per_channel():
    video = torch.full((2, 3, 1, 2), float("nan"))
    video[:, 0] = torch.tensor([[[0.0, 1.0]], [[0.2, 0.5]]])
    video[:, 2] = torch.tensor([[[1.0, 0.0]], [[0.4, 0.5]]])
    mask = torch.zeros(3, 1, 2, dtype=torch.bool)
    mask[1] = True
    filled = temporal_interpolation(video, mask)
    assert filled[:, 1, 0].flatten().tolist() == pytest.approx([0.5, 0.5, 0.3, 0.5])  # (channel, pixel)


def test_a_pixel_occluded_in_every_frame_gets_its_frames_mean_or_the_videos():
    video = torch.tensor([[0.2, 0.4, 999.0], [0.6, 0.8, 999.0]]).view(1, 2, 1, 3).repeat(2, 1, 1, 1)
    video[1] = 1 - video[1]  # a second channel with other values: the means are per channel
    mask = torch.zeros(2, 1, 3, dtype=torch.bool)
    mask[:, 0, 2] = True  # the last pixel, in both frames
    filled = temporal_interpolation(video, mask)
    assert filled[0, :, 0, 2].tolist() == pytest.approx([0.3, 0.7])  # frame means of channel 0: (0.2+0.4)/2, (0.6+0.8)/2
    assert filled[1, :, 0, 2].tolist() == pytest.approx([0.7, 0.3])
    # frame 1 wholly occluded as well: its occluded-everywhere pixel falls back to the mean of all visible entries
    mask[1] = True
    filled = temporal_interpolation(video, mask)
    assert filled[0, 1, 0].tolist() == pytest.approx([0.2, 0.4, 0.3])  # held from frame 0, held, overall mean
    assert filled[1, 1, 0, 2].item() == pytest.approx(0.7)


def test_baselines_leave_visible_entries_unchanged():
    generator = torch.Generator().manual_seed(0)
    video = torch.rand(3, 4, 12, 10, generator=generator)
    mask = torch.rand(4, 12, 10, generator=generator) < 0.4
    mask[2] = True  # a frame with no visible pixel, for Telea's fallback
    for method in (temporal_interpolation, telea_inpaint):
        recovered = method(video, mask)
        assert recovered.shape == video.shape and recovered.dtype == video.dtype
        assert torch.equal(recovered[:, ~mask], video[:, ~mask]), method.__name__
        assert not torch.equal(recovered[:, mask], video[:, mask]), method.__name__  # the occluded entries were actually filled
        assert torch.isfinite(recovered).all()


def test_baselines_do_not_read_occluded_entries():
    generator = torch.Generator().manual_seed(1)
    video = torch.rand(3, 3, 8, 8, generator=generator)
    mask = torch.rand(3, 8, 8, generator=generator) < 0.3
    spoiled = torch.where(mask, torch.tensor(float("nan")), video)
    for method in (temporal_interpolation, telea_inpaint):
        assert torch.equal(method(spoiled, mask), method(video, mask)), method.__name__


def gradient_video(frames=2, size=32):
    ramp = torch.linspace(0, 1, size)
    image = torch.stack([ramp[None, :].expand(size, size), ramp[:, None].expand(size, size), (ramp[None, :] + ramp[:, None]) / 2])
    return image[:, None].expand(3, frames, size, size).contiguous()


def test_telea_fills_a_small_hole_in_a_smooth_gradient_closely():
    video = gradient_video()
    mask = torch.zeros(2, 32, 32, dtype=torch.bool)
    mask[:, 4:9, 20:25] = True  # off the centre, where the gradient is far from its mean
    telea = recovery_error(telea_inpaint(video, mask), video, mask)
    zeros = recovery_error(torch.where(mask, 0.0, video), video, mask)
    mean = recovery_error(torch.where(mask, video[:, ~mask].mean(dim=1)[:, None, None, None], video), video, mask)
    assert zeros > 100 and mean > 40  # the hole lies off the mean, so the naive fills are far off (115 and 49)
    assert telea < 7, telea  # 4.6: Telea's first-order estimates bend a linear ramp a little over a 5-pixel hole
    assert telea < mean / 5 and telea < zeros / 15


def test_telea_falls_back_to_interpolation_for_a_wholly_occluded_frame():
    video = gradient_video(frames=3, size=16)
    video[:, 2] = 1 - video[:, 2]
    mask = torch.zeros(3, 16, 16, dtype=torch.bool)
    mask[1] = True
    mask[0, 5:8, 5:8] = True
    recovered = telea_inpaint(video, mask)
    # frame 1 is the temporal mean of frames 0 and 2 where those are visible, i.e. 0.5 everywhere but the hole of frame 0
    expected = temporal_interpolation(video, mask)[:, 1]
    assert torch.equal(recovered[:, 1], expected)
    assert expected[:, 0, 0].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert expected[:, 6, 6].tolist() == pytest.approx(video[:, 2, 6, 6].tolist())  # held from frame 2 under frame 0's hole


def test_baselines_reject_masks_that_do_not_fit():
    video = torch.rand(3, 4, 5, 6)
    with pytest.raises(ConfigError, match=r"mask is 4x6x5"):
        temporal_interpolation(video, torch.zeros(4, 6, 5, dtype=torch.bool))
    with pytest.raises(ConfigError, match="occludes every pixel"):
        telea_inpaint(video, torch.ones(4, 5, 6, dtype=torch.bool))
    with pytest.raises(ConfigError, match="radius"):
        telea_inpaint(video, torch.zeros(4, 5, 6, dtype=torch.bool), radius=0)
