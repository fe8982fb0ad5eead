"""The machine saying no (a full disk, a read-only folder) is one line, and never leaves a partial file under a final name."""

import errno
from pathlib import Path

import pytest
import torch

from stst_core import StimulusStore, Video, atomic_output, write_text_atomically
from stst_core.testing import assert_cli_error, run_cli
from stst_stps import STPSSynthesizer


def full_disk(self, path, *args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def assert_last_line_says(result, *fragments):
    """The table printed before writing stays; the failure is the one error line after it."""
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and all(f in last for f in fragments), result.output
    return last


@pytest.fixture
def store(tmp_path):
    clip = Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10)
    return STPSSynthesizer({"content": clip}, seed=0).synthesize(tmp_path / "s.zarr", progress=False)


def test_an_atomic_output_is_whole_or_absent(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("the old one")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("the disk filled up")
    assert target.read_text() == "the old one" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    assert write_text_atomically(target, "new").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_a_full_disk_while_writing_metrics_json_is_one_line_and_leaves_no_file(store, tmp_path, monkeypatch):
    out = tmp_path / "metrics.json"

    def write_half_then_fail(self, text, *args, **kwargs):
        with open(self, "w") as handle:
            handle.write(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", write_half_then_fail)
    result = run_cli("metrics", store.path, "--metric", "pixels", "-o", out, "--quiet")
    assert_last_line_says(result, f"{out}: No space left on device (ENOSPC); free some space")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_a_full_disk_while_plotting_is_one_line_and_leaves_no_file(store, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", full_disk)
    out = tmp_path / "card.png"
    assert_last_line_says(run_cli("metrics", store.path, "--metric", "pixels", "--plot", out, "--quiet"), f"{out}: No space left on device")
    assert not out.exists()


def test_a_read_only_store_during_a_run_is_one_line(tmp_path, monkeypatch):
    """The commit fails with EROFS: one line, and the store stays at its last commit (here: none), resumable."""
    from stst_core import write_video

    clip = Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10)
    path = write_video(clip, tmp_path / "clip.npz")

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self.path))

    monkeypatch.setattr(StimulusStore, "commit", read_only)
    message = assert_cli_error("synth", "stps", path, "-o", tmp_path / "s.zarr", "--quiet", says=["Read-only file system", "EROFS"])
    assert "write somewhere else" in message
    monkeypatch.undo()
    assert StimulusStore(tmp_path / "s.zarr").status == "failed"  # it could still take its status here
    again = STPSSynthesizer({"content": clip}, seed=0).synthesize(tmp_path / "s.zarr", progress=False)
    assert again.complete


# -- memory: a clear limit before the allocation, one line after one that failed ------------


@pytest.fixture
def little_memory(monkeypatch):
    """A machine with 1 MiB available: enough for the small clips below, not for what they become."""
    import stst_core._device

    monkeypatch.setattr(stst_core._device, "available_memory", lambda: 2**20)


@pytest.mark.parametrize("suffix", ["mp4", "npz", "png-dir"])
def test_a_selection_too_big_for_memory_is_refused_before_decoding(tmp_path, little_memory, suffix):
    from stst_core import VideoError, read_video, write_video

    clip = Video(torch.rand(3, 8, 64, 64, generator=torch.Generator().manual_seed(0)), fps=10)
    path = write_video(clip, tmp_path / (f"clip.{suffix}" if suffix != "png-dir" else "frames"), format=suffix)
    # 8 frames of 64x64 as float32, with room for one copy: 2 · 8 · 3 · 64 · 64 · 4 bytes = 0.75 MiB: fits
    assert read_video(path).shape == (3, 8, 64, 64)
    with pytest.raises(
        VideoError, match=r"at --size 256: 8 frame\(s\) of 256x256 needs 0\.0117 GiB of memory, more than the 0\.000977 GiB available; read fewer frames"
    ):
        read_video(path, size=256)


def test_a_long_video_is_refused_at_its_first_frame(tmp_path, little_memory):
    from stst_core import VideoError, read_video, write_video

    path = write_video(Video(torch.rand(3, 40, 64, 64, generator=torch.Generator().manual_seed(0)), fps=10), tmp_path / "long.mp4")
    with pytest.raises(VideoError, match=r"long\.mp4: 40 frame\(s\) of 64x64 needs"):
        read_video(path)
    assert read_video(path, num_frames=8).num_frames == 8  # the advice works


def test_a_run_too_big_for_memory_is_refused_before_its_store_exists(tmp_path, little_memory):
    from stst_core import write_video

    # 8 frames of 64x64 load (0.375 MiB as float32); scrambling them takes 64 bytes a value: 6 MiB
    path = write_video(Video(torch.rand(3, 8, 64, 64, generator=torch.Generator().manual_seed(0)), fps=10), tmp_path / "clip.npz")
    assert STPSSynthesizer.memory_estimate(STPSSynthesizer({"content": Video(torch.rand(3, 8, 64, 64), fps=10)})) == 64 * 3 * 8 * 64 * 64
    assert_cli_error(
        "synth",
        "stps",
        path,
        "-o",
        tmp_path / "s.zarr",
        "--quiet",
        says=["stps on 8 frames of 64x64 needs 0.00586 GiB of memory, more than the 0.000977 GiB", "--size"],
    )
    assert not (tmp_path / "s.zarr").exists()  # nothing to resume, nothing the kernel killed half-way


def test_running_out_of_memory_is_one_line_and_other_runtime_errors_stay_bugs(tmp_path, monkeypatch):
    from stst_core import write_video

    path = write_video(Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10), tmp_path / "clip.npz")

    def exhausted(self, *args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 98765432100 bytes.")

    monkeypatch.setattr(STPSSynthesizer, "run", exhausted)
    message = assert_cli_error("synth", "stps", path, "-o", tmp_path / "s.zarr", "--quiet", says=["out of memory (", "can't allocate memory", "--frames"])
    assert "\n" not in message
    assert StimulusStore(tmp_path / "s.zarr").status == "failed"  # and the store says why

    def bug(self, *args, **kwargs):
        raise RuntimeError("a bug in the method")

    monkeypatch.setattr(STPSSynthesizer, "run", bug)
    result = run_cli("synth", "stps", path, "-o", tmp_path / "t.zarr", "--quiet")
    assert isinstance(result.exception, RuntimeError)  # not dressed up as the machine's fault
