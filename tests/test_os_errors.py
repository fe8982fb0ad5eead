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
