"""`stst export`: lossless and quality settings, refused combinations, and the round-trip error it prints."""

import re

import numpy as np
import pytest
import torch

from stst_core import StimulusStore, Video, read_video
from stst_core._video import round_trip_error
from stst_core.testing import assert_cli_error, run_cli
from stst_stps import STPSSynthesizer

ERROR_LINE = re.compile(r"round trip: error up to (\S+) levels of 255, (\S+) on average \((\w+)\)")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A phase-scrambled store of odd size (33x47): fine, saturated detail, hard on 4:2:0 colour."""
    clip = Video(torch.rand(3, 4, 33, 47, generator=torch.Generator().manual_seed(0)), fps=30)
    return STPSSynthesizer({"content": clip}, seed=0).synthesize(tmp_path_factory.mktemp("export") / "stps.zarr", progress=False).path


def test_lossless_mkv_round_trips_exactly(store, tmp_path):
    out = tmp_path / "out.mkv"

    result = run_cli("export", store, out, "--lossless")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)  # the path alone on stdout, for scripts
    assert "round trip: exact" in result.stderr
    stored = StimulusStore(store).video()
    np.testing.assert_array_equal(read_video(out).to_uint8(), stored.to_uint8())


@pytest.mark.parametrize("name", ["frames", "out.npz"])
def test_other_lossless_formats_say_exact(store, tmp_path, name):
    result = run_cli("export", store, tmp_path / name, "--lossless")
    assert result.exit_code == 0, result.output
    assert "round trip: exact" in result.stderr


@pytest.mark.parametrize("options", [[], ["--pixel-format", "yuv444p", "--crf", "0"], ["--crf", "30"]])
def test_lossy_export_prints_its_measured_error(store, tmp_path, options):
    out = tmp_path / "out.mp4"

    result = run_cli("export", store, out, *options)

    assert result.exit_code == 0, result.output
    printed = ERROR_LINE.search(result.stderr)
    assert printed, result.stderr
    largest, mean = round_trip_error(StimulusStore(store).video(), out)
    assert float(printed[1]) == pytest.approx(largest, rel=1e-2) and float(printed[2]) == pytest.approx(mean, rel=1e-2)
    assert printed[3] == "mp4" and "for an exact copy write .mkv" in result.stderr
    if options[:2] == ["--pixel-format", "yuv444p"]:
        assert largest <= 2  # full-resolution colour, no coding loss: 8-bit RGB<->YUV rounding only
    else:
        assert largest > 20  # the fine colour detail of a scrambled stimulus does not survive 4:2:0 or crf 30


def test_settings_are_passed_to_the_encoder(store, tmp_path):
    import av

    assert run_cli("export", store, tmp_path / "out.mp4", "--pixel-format", "yuv444p").exit_code == 0
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv444p" and (stream.height, stream.width) == (33, 47)


@pytest.mark.parametrize(
    "name, options, says",
    [
        ("out.gif", ["--lossless"], ["out.gif", "gif cannot be written losslessly", ".mkv"]),
        ("out.mp4", ["--lossless"], ["mp4 cannot be written losslessly"]),
        ("out.mkv", ["--crf", "10"], ["a crf applies to H.264 (.mp4) only, and mkv is lossless"]),
        ("out.npz", ["--pixel-format", "yuv444p"], ["a pixel format applies to H.264"]),
        ("out.mp4", ["--crf", "60"], ["crf must be a number from 0 (best) to 51"]),
        ("out.mp4", ["--pixel-format", "yuv422p"], ["yuv422p", "yuv420p", "yuv444p"]),
    ],
)
def test_combinations_that_do_not_fit_are_refused(store, tmp_path, name, options, says):
    assert_cli_error("export", store, tmp_path / name, *options, says=says)
    assert not (tmp_path / name).exists()
