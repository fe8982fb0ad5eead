"""Tests of stst_core._video on small synthetic videos made here."""

from __future__ import annotations

import errno
import json
import re

import av
import numpy as np
import pytest
import torch
from PIL import Image

from stst_core._errors import VideoError
from stst_core._video import Video, read_video, round_trip_error, video_format, write_video


def moving_gradient(num_frames: int = 8, height: int = 32, width: int = 48) -> np.ndarray:
    """A smooth colour pattern that drifts a little each frame: (T, H, W, 3) uint8."""
    t, y, x = np.meshgrid(np.arange(num_frames) / num_frames, np.arange(height) / height, np.arange(width) / width, indexing="ij")
    red = 0.5 + 0.4 * np.sin(2 * np.pi * (x + t))
    green = 0.5 + 0.4 * np.cos(2 * np.pi * (y + t))
    blue = 0.3 + 0.2 * (x + y)
    return np.round(np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)


@pytest.fixture
def video() -> Video:
    """8 frames of 32x48 at 30 fps, exactly representable in 8 bits."""
    return Video.from_array(moving_gradient(), fps=30, source="moving gradient")


def mean_abs_error(a: Video, b: Video) -> float:
    return (a.frames - b.frames).abs().mean().item()


def colour_bars(num_frames: int = 2, height: int = 16, width: int = 64) -> np.ndarray:
    """Saturated and grey bars, where the RGB/YUV matrix matters most: (T, H, W, 3) uint8."""
    levels = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0), (64, 64, 64), (191, 128, 32)]
    columns = np.array(levels, np.uint8)[np.arange(width) * len(levels) // width]
    return np.broadcast_to(columns, (num_frames, height, width, 3)).copy()


def bt709_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Limited-range Y'CbCr planes (3, ...) of 8-bit RGB by the formulas of ITU-R BT.709 itself (Kr 0.2126, Kb 0.0722)."""
    r, g, b = np.moveaxis(rgb / 255, -1, 0)
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return np.stack([16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748])


def raises_naming(path, problem: str):
    """pytest.raises for a VideoError whose message names ``path`` and matches ``problem``."""
    return pytest.raises(VideoError, match=f"(?s){re.escape(str(path))}.*{problem}|{problem}.*{re.escape(str(path))}")


# Round trips -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fps, max_error",
    [
        ("clip.mp4", 30, 0.03),  # H.264 with half-resolution colour
        ("clip.mkv", 30, 0),  # FFV1
        ("clip.gif", 100 / 3, 0.03),  # 256 colours; a 3/100 s delay per frame
        ("frames", 30, 0),
        ("clip.npz", 30, 0),
        ("clip.npy", 25, 0),  # no fps stored: the default
    ],
)
def test_round_trip(tmp_path, video, name, fps, max_error):
    path = write_video(video, tmp_path / name)
    assert path == tmp_path / name

    back = read_video(path)

    assert back.shape == video.shape
    assert back.frames.dtype == torch.float32
    assert mean_abs_error(back, video) <= max_error
    assert back.fps == pytest.approx(fps)
    assert back.source == str(path)


def test_gif_error_is_bounded_everywhere(tmp_path, video):
    back = read_video(write_video(video, tmp_path / "clip.gif"))
    assert (back.frames - video.frames).abs().max() < 0.25


def test_lossless_formats_keep_floats_exactly(tmp_path):
    video = Video(torch.rand(3, 4, 8, 8), fps=12.5)
    for name in ("clip.npz", "clip.npy"):
        assert torch.equal(read_video(write_video(video, tmp_path / name)).frames, video.frames)


@pytest.mark.parametrize("fps", [30, 29.97, 30000 / 1001, 59.94, 60000 / 1001, 12.5])
def test_mp4_keeps_fps(tmp_path, video, fps):
    back = read_video(write_video(video, tmp_path / "clip.mp4", fps=fps))
    assert back.fps == pytest.approx(fps, rel=1e-9)


@pytest.mark.parametrize("fps, played", [(25, 25), (10, 10), (30, 100 / 3), (24, 25), (60, 50)])
def test_gif_fps_is_rounded_to_hundredths_of_a_second(tmp_path, video, fps, played):
    path = write_video(video, tmp_path / "clip.gif", fps=fps)
    assert read_video(path).fps == pytest.approx(played)
    with Image.open(path) as gif:
        assert gif.n_frames == video.num_frames
        assert gif.info["loop"] == 0  # forever


def test_gif_keeps_repeated_frames(tmp_path):
    frames = moving_gradient()
    frames[3:6] = frames[2]
    back = read_video(write_video(frames, tmp_path / "still.gif", fps=25))
    assert back.num_frames == 8


def test_mp4_pads_odd_sizes_by_repeating_the_edge(tmp_path):
    odd = Video.from_array(moving_gradient(height=33, width=49), fps=30)

    back = read_video(write_video(odd, tmp_path / "odd.mp4"))

    assert back.shape == (3, 8, 34, 50)
    assert mean_abs_error(Video(back.frames[:, :, :33, :49], 30), odd) < 0.03
    assert (back.frames[:, :, 33] - back.frames[:, :, 32]).abs().mean() < 0.03
    assert (back.frames[..., 49] - back.frames[..., 48]).abs().mean() < 0.03


def test_grey_is_kept_when_written_and_made_rgb_when_read(tmp_path):
    grey = Video.from_array(moving_gradient()[..., 1], fps=30)
    assert grey.channels == 1
    for name in ("grey.mp4", "grey.mkv", "grey.gif", "grey-frames", "grey.npz", "grey.npy"):
        back = read_video(write_video(grey, tmp_path / name))
        assert back.shape == (3, 8, 32, 48)
        assert torch.equal(back.frames[0], back.frames[1]) and torch.equal(back.frames[1], back.frames[2])


def test_write_creates_folders_and_accepts_arrays(tmp_path):
    path = write_video(torch.rand(4, 8, 8, 3), tmp_path / "a" / "b" / "clip.npz", fps=24)
    assert read_video(path).fps == 24


def test_failed_write_leaves_the_earlier_file(tmp_path, video, monkeypatch):
    path = write_video(video, tmp_path / "clip.npz")
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_video(video, path)

    assert path.read_bytes() == before
    assert [file.name for file in tmp_path.iterdir()] == ["clip.npz"]


# Quality and colour ------------------------------------------------------------


@pytest.mark.parametrize("name", ["clip.mkv", "frames"])
def test_lossless_files_hold_the_frames_rounded_to_8_bits_exactly(tmp_path, name):
    # floats between the 8-bit levels, an odd size (which 4:2:0 could not hold), saturated colours
    video = Video(torch.rand(3, 5, 33, 47, generator=torch.Generator().manual_seed(0)), fps=30)

    path = write_video(video, tmp_path / name, lossless=True)

    back = read_video(path)
    assert back.shape == video.shape
    np.testing.assert_array_equal(back.to_uint8(), video.to_uint8())
    assert round_trip_error(video, path) == (0.0, 0.0)


@pytest.mark.parametrize(
    "options, max_error, mean_error",
    [
        # measured on the moving gradient (32x48): the bounds are those figures plus a margin (x264's
        # lossy modes move the largest error by a level or two from run to run on a busy machine)
        ({}, 32, 3.7),  # yuv420p, crf 18: the default
        ({"crf": 0}, 15, 2.3),  # 4:2:0 without coding loss: what half-resolution colour costs
        ({"pixel_format": "yuv444p"}, 32, 3.1),
        ({"pixel_format": "yuv444p", "crf": 0}, 2, 0.45),  # only 8-bit RGB->YUV->RGB rounding is left
    ],
)
def test_h264_error_is_bounded(tmp_path, video, options, max_error, mean_error):
    path = write_video(video, tmp_path / "clip.mp4", **options)
    largest, mean = round_trip_error(video, path)
    assert largest <= max_error and mean <= mean_error
    assert mean > 0.1  # lossy: a reading that compared the file with itself would give 0


def test_full_resolution_colour_keeps_fine_colour_detail(tmp_path):
    # one-pixel colour stripes: 4:2:0 averages each pair of columns into one colour
    stripes = np.zeros((2, 16, 32, 3), np.uint8)
    stripes[:, :, ::2, 0] = 255
    stripes[:, :, 1::2, 2] = 255
    video = Video.from_array(stripes, fps=25)
    half = round_trip_error(video, write_video(video, tmp_path / "420.mp4", crf=0))
    full = round_trip_error(video, write_video(video, tmp_path / "444.mp4", crf=0, pixel_format="yuv444p"))
    assert half[1] > 40 and full[0] <= 2


def test_mp4_is_converted_with_the_bt709_matrix(tmp_path):
    bars = colour_bars()
    path = write_video(bars, tmp_path / "bars.mp4", fps=25, crf=0, pixel_format="yuv444p")  # crf 0: lossless in YUV
    with av.open(str(path)) as container:
        planes = next(container.decode(video=0)).to_ndarray()  # yuv444p as stored: (3, H, W)
    assert np.abs(planes - bt709_ycbcr(bars[0])).max() <= 1
    # the old, untagged conversion (BT.601) puts pure red at Y = 81, not 63
    assert planes[0, 0, 35] == pytest.approx(16 + 219 * 0.2126, abs=1)


def test_colour_is_tagged_in_the_written_stream(tmp_path, video):
    with av.open(str(write_video(video, tmp_path / "clip.mp4"))) as container:
        context = container.streams.video[0].codec_context
        # BT.709 primaries, transfer and matrix; limited (MPEG) range
        assert (context.color_primaries, context.color_trc, context.colorspace, context.color_range) == (1, 1, 1, 1)
    with av.open(str(write_video(video, tmp_path / "clip.mkv"))) as container:
        context = container.streams.video[0].codec_context
        # BT.709 primaries and transfer; the planes are RGB themselves (matrix 0), full range
        assert (context.color_primaries, context.color_trc, context.colorspace, context.color_range) == (1, 1, 0, 2)
        assert context.name == "ffv1"


def _encode_yuv444(path, frames: np.ndarray, matrix: str, full_range: bool, tagged: bool) -> None:
    """An H.264 file converted with ``matrix`` (as other software writes them), tagged or not."""
    colour_range = av.video.reformatter.ColorRange.JPEG if full_range else av.video.reformatter.ColorRange.MPEG
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "0"})
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv444p"
        if tagged:
            stream.codec_context.colorspace = {"ITU709": 1, "ITU601": 6}[matrix]  # BT.709, SMPTE 170M
            stream.codec_context.color_range = int(colour_range)
        for pixels in frames:
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame = frame.reformat(format="yuv444p", dst_colorspace=matrix, dst_color_range=colour_range, interpolation="BILINEAR")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.mark.parametrize(
    "matrix, full_range, tagged",
    [("ITU709", False, True), ("ITU601", False, True), ("ITU709", True, True), ("ITU601", False, False)],  # untagged: BT.601, as FFmpeg reads it
)
def test_reading_converts_with_the_matrix_and_range_the_file_declares(tmp_path, matrix, full_range, tagged):
    bars = colour_bars()
    path = tmp_path / "bars.mp4"
    _encode_yuv444(path, bars, matrix, full_range, tagged)

    back = read_video(path).to_uint8()

    assert np.abs(back.astype(int) - bars).max() <= 3  # 8-bit YUV rounding, twice


def test_round_trip_error_ignores_padding_and_compares_floats_of_arrays(tmp_path):
    odd = Video.from_array(moving_gradient(height=33, width=49), fps=30)
    path = write_video(odd, tmp_path / "odd.mp4")
    expected = np.abs(read_video(path).to_uint8()[:, :33, :49].astype(int) - odd.to_uint8())
    assert round_trip_error(odd, path) == (expected.max(), pytest.approx(expected.mean()))

    video = Video(torch.rand(3, 2, 8, 8), fps=25)
    assert round_trip_error(video, write_video(video, tmp_path / "clip.npz")) == (0.0, 0.0)
    assert round_trip_error(video, write_video(video, tmp_path / "frames")) == (0.0, 0.0)  # against the frames rounded to 8 bits
    # arrays are compared as floats: 8-bit values in an .npz are up to half a level off
    largest, _ = round_trip_error(video, write_video(Video.from_array(video.to_uint8(), fps=25), tmp_path / "rounded.npz"))
    assert 0 < largest <= 0.5
    with raises_naming(tmp_path / "odd.mp4", "holds 8 frames of 34x50, not the 2 of 8x8 written"):
        round_trip_error(video, tmp_path / "odd.mp4")


@pytest.mark.parametrize(
    "name, options, problem",
    [
        ("clip.gif", {"lossless": True}, "gif cannot be written losslessly \\(GIF keeps 256 colours per frame\\); for an exact copy write .mkv"),
        ("clip.mp4", {"lossless": True}, "mp4 cannot be written losslessly \\(H.264 stores YUV"),
        ("clip.mkv", {"crf": 10}, "a crf applies to H.264 \\(.mp4\\) only, and mkv is lossless"),
        ("clip.gif", {"pixel_format": "yuv444p"}, "a pixel format applies to H.264 \\(.mp4\\) only, and gif is not H.264"),
        ("frames", {"crf": 0}, "a crf applies to H.264"),
        ("clip.mp4", {"crf": 52}, "crf must be a number from 0 \\(best\\) to 51, got 52"),
        ("clip.mp4", {"crf": True}, "crf must be a number"),
        ("clip.mp4", {"pixel_format": "yuv422p"}, "pixel_format must be one of yuv420p, yuv444p, got 'yuv422p'"),
    ],
)
def test_settings_that_do_not_fit_the_format_are_refused_before_writing(tmp_path, video, name, options, problem):
    path = tmp_path / name
    with raises_naming(path, problem):
        write_video(video, path, **options)
    assert not path.exists()


def test_sizes_are_kept_where_the_format_allows(tmp_path):
    odd = Video.from_array(moving_gradient(num_frames=2, height=33, width=49), fps=30)
    assert read_video(write_video(odd, tmp_path / "odd.mkv")).shape == (3, 2, 33, 49)
    assert read_video(write_video(odd, tmp_path / "odd.mp4", pixel_format="yuv444p")).shape == (3, 2, 33, 49)
    assert read_video(write_video(odd, tmp_path / "odd.gif")).shape == (3, 2, 33, 49)


@pytest.mark.parametrize("fps", [30, 29.97, 30000 / 1001, 12.5])
def test_mkv_keeps_fps(tmp_path, video, fps):
    assert read_video(write_video(video, tmp_path / "clip.mkv", fps=fps)).fps == pytest.approx(fps, rel=1e-9)


# Frame folders ---------------------------------------------------------------


def test_frame_folder_is_read_in_natural_order(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(12):
        Image.new("L", (6, 4), color=20 * index).save(folder / f"frame_{index}.png")
    (folder / "notes.txt").write_text("not a frame")

    video = read_video(folder)

    assert video.shape == (3, 12, 4, 6)
    assert video.fps == 25
    levels = video.to_uint8()[:, 0, 0, 0]
    assert levels.tolist() == [20 * index for index in range(12)]


def test_rewriting_a_frame_folder_replaces_it_whole(tmp_path, video):
    folder = write_video(video, tmp_path / "frames")

    write_video(video.select(num_frames=3), folder, fps=12)

    assert sorted(file.name for file in folder.iterdir()) == ["frame_00000.png", "frame_00001.png", "frame_00002.png", "meta.json"]
    assert json.loads((folder / "meta.json").read_text()) == {"fps": 12.0}
    assert read_video(folder).num_frames == 3
    assert sorted(file.name for file in tmp_path.iterdir()) == ["frames"]  # nothing hidden left beside it


def test_a_frame_folder_that_fails_halfway_leaves_the_old_one_whole(tmp_path, video, monkeypatch):
    folder = write_video(video, tmp_path / "frames")
    before = {file.name: file.read_bytes() for file in folder.iterdir()}
    saved = []
    real_save = Image.Image.save

    def disk_fills_at_the_third_frame(self, fp, *args, **kwargs):
        saved.append(fp)
        if len(saved) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(fp))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", disk_fills_at_the_third_frame)
    with pytest.raises(OSError) as caught:
        write_video(video.select(num_frames=3), folder, fps=12)
    assert caught.value.filename == str(folder)  # the folder the user named, not the hidden one
    assert {file.name: file.read_bytes() for file in folder.iterdir()} == before
    assert sorted(file.name for file in tmp_path.iterdir()) == ["frames"]


def test_writing_into_a_folder_of_other_files_is_refused(tmp_path, video):
    folder = write_video(video, tmp_path / "frames")
    (folder / "notes.txt").write_text("mine")
    with raises_naming(folder, "notes.txt"):
        write_video(video, folder)
    assert (folder / "notes.txt").read_text() == "mine"


def test_writing_into_a_folder_of_other_images_is_refused(tmp_path, video):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (4, 4)).save(folder / "holiday.jpg")
    with raises_naming(folder, "holiday.jpg"):
        write_video(video, folder)
    assert [file.name for file in folder.iterdir()] == ["holiday.jpg"]


def test_png_dir_format_overrides_the_suffix(tmp_path, video):
    path = write_video(video, tmp_path / "clip.v2", format="png-dir")
    assert (path / "frame_00007.png").is_file()
    assert video_format(path) == "png-dir"


# Options ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "frames", "clip.npz", "clip.npy"])
def test_temporal_selection_matches_slicing(tmp_path, video, name):
    path = write_video(video, tmp_path / name)
    full = read_video(path)

    part = read_video(path, start=1, num_frames=3, stride=2)

    assert torch.equal(part.frames, full.frames[:, 1:7:2])
    assert part.fps == pytest.approx(full.fps / 2)


def test_selection_stops_at_the_end(tmp_path, video):
    path = write_video(video, tmp_path / "clip.mp4")
    assert read_video(path, start=6, num_frames=5).num_frames == 2
    assert read_video(path, stride=3).num_frames == 3


def test_size_and_crop_follow_the_selection(tmp_path, video):
    path = write_video(video, tmp_path / "clip.npz")

    clip = read_video(path, start=2, num_frames=4, size=24, crop=(10, 20))

    assert clip.shape == (3, 4, 10, 20)
    assert torch.equal(clip.frames, video.select(2, 4).resized(24).center_cropped((10, 20)).frames)


def test_size_sets_the_longer_side(tmp_path, video):
    path = write_video(video, tmp_path / "clip.npz")
    assert read_video(path, size=24).shape == (3, 8, 16, 24)
    assert read_video(path, size=96).shape == (3, 8, 64, 96)
    portrait = Video(video.frames.transpose(2, 3).contiguous(), 30)
    assert portrait.resized(24).shape == (3, 8, 24, 16)
    assert Video(torch.rand(3, 1, 1, 100), 30).resized(10).shape == (3, 1, 1, 10)


def test_resizing_keeps_smooth_content(video):
    small = video.resized(24)
    assert abs(small.frames.mean() - video.frames.mean()) < 0.01


def test_crop_takes_the_centre(tmp_path, video):
    clip = read_video(write_video(video, tmp_path / "clip.npz"), crop=16)
    assert torch.equal(clip.frames, video.frames[:, :, 8:24, 16:32])


def numbered_pixels(num_frames: int = 2, height: int = 240, width: int = 320) -> torch.Tensor:
    """(3, T, H, W) float32 in [0, 1] whose every pixel has its own value: where a crop took its pixels from shows."""
    count = 3 * num_frames * height * width
    return (torch.arange(count, dtype=torch.float64) / count).to(torch.float32).reshape(3, num_frames, height, width)


def test_square_crop_takes_the_central_square_before_resizing(tmp_path):
    frames = numbered_pixels()
    path = write_video(Video(frames, fps=25), tmp_path / "clip.npz")

    square = read_video(path, crop="square")
    assert square.shape == (3, 2, 240, 240)
    assert torch.equal(square.frames, frames[:, :, :, 40:280])  # the central columns; all rows
    portrait = Video(frames.transpose(2, 3).contiguous(), fps=25).center_cropped("square")
    assert torch.equal(portrait.frames, frames.transpose(2, 3)[:, :, 40:280, :])

    reference = read_video(path, crop="square", size=256)  # the two-stream reference's input
    assert reference.shape == (3, 2, 256, 256)
    assert torch.equal(reference.frames, Video(frames[:, :, :, 40:280], fps=25).resized(256).frames)
    # after --size instead, the longer side would be 256 and the square 192 pixels
    assert read_video(path, size=256, crop=192).shape == (3, 2, 192, 192)
    assert read_video(path, crop="SQUARE", start=1).shape == (3, 1, 240, 240)


def test_the_cli_takes_a_square_crop_before_the_size(tmp_path):
    from stst_core import StimulusStore
    from stst_core.testing import assert_cli_error, run_cli

    path = write_video(Video(numbered_pixels(3, 24, 32), fps=25), tmp_path / "clip.npz")
    result = run_cli("synth", "stps", path, "-o", tmp_path / "s.zarr", "--crop", "square", "--size", "16", "--quiet")
    assert result.exit_code == 0, result.output
    assert StimulusStore(tmp_path / "s.zarr").video().shape == (3, 3, 16, 16)
    message = assert_cli_error("synth", "stps", path, "-o", tmp_path / "c.zarr", "--crop", "circle", says=["'circle'", "square", "HEIGHTxWIDTH"])
    assert "one size" in message
    assert "--crop square" in " ".join(run_cli("synth", "stps", "--help").output.split())


# Array layouts and the Video type --------------------------------------------


def test_from_array_accepts_the_common_layouts(video):
    frames = moving_gradient()
    layouts = [
        frames,
        torch.from_numpy(frames),
        frames.astype(np.float64) / 255,
        video.frames.clone(),  # (C, T, H, W)
    ]
    for array in layouts:
        assert torch.allclose(Video.from_array(array, fps=30).frames, video.frames)
    assert Video.from_array(frames[..., 0], fps=30).shape == (1, 8, 32, 48)


def test_video_properties(video):
    assert (video.channels, video.num_frames, video.height, video.width) == (3, 8, 32, 48)
    assert video.shape == (3, 8, 32, 48)
    assert video.duration == pytest.approx(8 / 30)
    assert video.batch().shape == (1, 3, 8, 32, 48)
    assert np.array_equal(video.to_uint8(), moving_gradient())


@pytest.mark.parametrize(
    "frames, fps, problem",
    [
        (torch.rand(3, 8, 4, 4, dtype=torch.float64), 30, "float32"),
        (torch.rand(8, 4, 4), 30, "float32 tensor of shape"),
        (torch.rand(2, 8, 4, 4), 30, "1 \\(grey\\) or 3 \\(RGB\\) channels"),
        (torch.rand(3, 0, 4, 4), 30, "no frames"),
        (torch.rand(3, 8, 4, 4), 0, "fps must be a positive number"),
        (np.zeros((3, 8, 4, 4), np.float32), 30, "torch.Tensor"),
    ],
)
def test_video_validates(frames, fps, problem):
    with pytest.raises(VideoError, match=problem):
        Video(frames, fps)


@pytest.mark.parametrize(
    "array, problem",
    [
        (np.full((2, 4, 4, 3), 2.0), "must lie in \\[0, 1\\]"),
        (np.full((2, 4, 4, 3), np.nan), "must lie in \\[0, 1\\]"),
        (np.zeros((2, 4, 4, 3), np.int64), "uint8 or float"),
        (np.zeros((2, 4, 4, 4), np.uint8), "expected frames of shape"),
        (np.zeros((4, 4), np.uint8), "expected frames of shape"),
        (np.array(["a"]), "not a numeric array|uint8 or float"),
    ],
)
def test_from_array_validates(array, problem):
    with pytest.raises(VideoError, match=problem):
        Video.from_array(array, fps=30, source="stimulus 7")


# Frame rates -----------------------------------------------------------------


def test_fps_argument_sets_folders_and_arrays_but_not_video_files(tmp_path, video):
    for name in ("frames", "clip.npz", "clip.npy"):
        assert read_video(write_video(video, tmp_path / name), fps=50).fps == 50
    assert read_video(write_video(video, tmp_path / "clip.mp4"), fps=50).fps == 30


def test_frame_folder_meta_json(tmp_path, video):
    folder = write_video(video, tmp_path / "frames", fps=29.97)
    assert (folder / "meta.json").read_text() == '{"fps": 29.97}\n'
    (folder / "meta.json").write_text('{"fps": 12, "source": "my camera"}')  # other keys are the user's
    assert read_video(folder).fps == 12
    assert read_video(folder, stride=2).fps == 6
    (folder / "meta.json").unlink()
    assert read_video(folder).fps == 25  # no meta.json: the default


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "no readable frame rate"),
        ('{"rate": 30}', "no readable frame rate \\(KeyError\\('fps'\\)\\)"),
        ("[30]", "no readable frame rate"),
        ('{"fps": "30"}', '"fps" must be a number, e.g. {"fps": 30}, got \'30\''),
        ('{"fps": true}', '"fps" must be a number'),
        ('{"fps": -1}', "fps must be a positive number, got -1"),
        ('{"fps": NaN}', "fps must be a positive number, got nan"),
    ],
)
def test_frame_folder_meta_json_must_hold_a_rate(tmp_path, video, content, problem):
    folder = write_video(video, tmp_path / "frames")
    (folder / "meta.json").write_text(content)
    with raises_naming(folder / "meta.json", problem):
        read_video(folder)
    assert read_video(folder, fps=10).fps == 10  # fps= does not read the file at all


def test_npz_without_frames_key_uses_its_only_array(tmp_path):
    path = tmp_path / "clip.npz"
    np.savez(path, stimulus=moving_gradient(), fps=np.float64(60))
    video = read_video(path)
    assert video.shape == (3, 8, 32, 48) and video.fps == 60


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a/clip.mp4", "mp4"),
        ("clip.GIF", "gif"),
        ("clip.webm", "webm"),
        ("clip.npz", "npz"),
        ("clip.npy", "npy"),
        ("frames", "png-dir"),
    ],
)
def test_video_format(name, expected):
    assert video_format(name) == expected


# Long files ------------------------------------------------------------------


def test_reading_a_few_frames_of_a_long_file(tmp_path):
    path = write_video(moving_gradient(num_frames=200), tmp_path / "long.mp4", fps=30)

    first = read_video(path, num_frames=3)
    middle = read_video(path, start=150, num_frames=2, stride=10)

    assert first.shape == (3, 3, 32, 48)
    assert middle.num_frames == 2
    full = read_video(path)
    assert torch.equal(first.frames, full.frames[:, :3])
    assert torch.equal(middle.frames, full.frames[:, 150:161:10])


# Bad input -------------------------------------------------------------------


def test_missing_path(tmp_path):
    path = tmp_path / "nowhere.mp4"
    with pytest.raises(VideoError, match=f"no such file or folder: {re.escape(str(path))}"):
        read_video(path)


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n")
    with raises_naming(path, "cannot read this as a video .*Invalid data"):
        read_video(path)


def test_unknown_suffix_lists_the_supported_ones(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with raises_naming(path, "unknown video format '.txt'; supported are .mp4"):
        read_video(path)


@pytest.mark.parametrize("damage", ["truncated", "scrambled"])
def test_corrupt_mp4(tmp_path, damage):
    path = write_video(moving_gradient(num_frames=60), tmp_path / "clip.mp4", fps=30)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        # Damage the coded frames (the mdat box) but not the index (moov), so
        # that opening succeeds and decoding fails.
        frames = slice(data.index(b"mdat") + 20, data.index(b"moov") - 4, 7)
        data[frames] = bytes(255 - byte for byte in data[frames])
    path.write_bytes(bytes(data))
    with raises_naming(path, "cannot read this as a video .*Invalid data"):
        read_video(path)


def test_video_without_a_video_stream(tmp_path):
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with raises_naming(path, "no frames: the file has no video stream \\(streams: audio\\)"):
        read_video(path)


def test_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("frames go here")
    with raises_naming(tmp_path, "no frames: the folder holds no .png/.jpg/.jpeg images"):
        read_video(tmp_path)


def test_empty_array(tmp_path):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 32, 48, 3), np.uint8))
    with raises_naming(path, "no frames"):
        read_video(path)


@pytest.mark.parametrize("name", ["clip.mp4", "frames", "clip.npz"])
def test_start_past_the_end_says_how_many_frames_there_are(tmp_path, video, name):
    path = write_video(video, tmp_path / name)
    with raises_naming(path, "start=8 is past the end: there are 8 frames"):
        read_video(path, start=8)


def test_frames_of_different_sizes(tmp_path):
    for index, size in enumerate([(48, 32), (48, 32), (16, 16), (48, 32)]):
        Image.new("RGB", size).save(tmp_path / f"frame_{index}.png")
    with raises_naming(tmp_path, "frame_2.png is 16x16 but frame_0.png is 32x48 \\(height x width\\)"):
        read_video(tmp_path)


def test_unreadable_frame(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "frame_0.png")
    (tmp_path / "frame_1.png").write_text("not a picture")
    with raises_naming(tmp_path / "frame_1.png", "cannot read this image"):
        read_video(tmp_path)


def test_unreadable_array_file(tmp_path):
    path = tmp_path / "clip.npy"
    path.write_text("not an array")
    with raises_naming(path, "cannot read this array file"):
        read_video(path)


def test_npz_with_several_unnamed_arrays(tmp_path):
    path = tmp_path / "clip.npz"
    np.savez(path, a=moving_gradient(), b=moving_gradient())
    with raises_naming(path, "cannot tell which array holds the frames \\(arrays: a, b\\)"):
        read_video(path)


@pytest.mark.parametrize(
    "options, problem",
    [
        ({"stride": 0}, "stride must be an integer >= 1, got 0"),
        ({"num_frames": 0}, "num_frames must be an integer >= 1, got 0"),
        ({"start": -1}, "start must be an integer >= 0, got -1"),
        ({"num_frames": 10**23}, "num_frames must be at most"),  # not a traceback from islice
        ({"size": 0}, "size must be an integer >= 1, got 0"),
        ({"crop": (0, 4)}, "crop height must be an integer >= 1"),
        ({"crop": "big"}, "crop must be an integer, \\(height, width\\) or 'square', got 'big'"),
        ({"crop": (40, 20)}, "crop 40x20 is larger than the 32x48 frame"),
        ({"size": 24, "crop": 20}, "crop 20x20 is larger than the 16x24 frame"),
        ({"fps": -5}, "fps must be a positive number"),
    ],
)
def test_bad_options(tmp_path, video, options, problem):
    path = write_video(video, tmp_path / "clip.npz")
    with raises_naming(path, problem):
        read_video(path, **options)


def test_writing_an_array_needs_fps(tmp_path):
    path = tmp_path / "clip.mp4"
    with raises_naming(path, "pass fps="):
        write_video(moving_gradient(), path)
    assert not path.exists()


def test_writing_an_unwritable_format(tmp_path, video):
    path = tmp_path / "clip.avi"
    with raises_naming(path, "cannot write format 'avi'; writable are mp4, mkv, gif, png-dir, npz, npy"):
        write_video(video, path)


# Reference data --------------------------------------------------------------


@pytest.mark.shared_data
def test_reads_the_reference_video(shared_data_dir):
    video = read_video(shared_data_dir / "videos" / "animal.mp4", num_frames=5, size=128)
    assert video.shape == (3, 5, 72, 128)
    assert video.fps == pytest.approx(59.94, abs=0.01)
    assert 0 <= video.frames.min() and video.frames.max() <= 1


def test_a_single_image_is_a_one_frame_video(tmp_path):
    from PIL import Image

    pixels = (np.arange(12 * 20 * 3) % 256).astype(np.uint8).reshape(12, 20, 3)
    Image.fromarray(pixels).save(tmp_path / "still.png")
    video = read_video(tmp_path / "still.png", size=10, fps=30)
    assert video.shape == (3, 1, 6, 10) and video.fps == 30
    full = read_video(tmp_path / "still.png")
    np.testing.assert_array_equal(full.to_uint8()[0], pixels)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(VideoError, match="broken.jpg: cannot read this image"):
        read_video(tmp_path / "broken.jpg")
