"""Real full and read-only file systems (a small tmpfs, where the test may mount one): one line, nothing partial, nothing lost.

tests/test_os_errors.py injects the same errors at the write calls; here the
kernel raises them, wherever in the stack the write happens to be.
"""

import errno
import os
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest
import torch

from stst_core import StimulusStore, Video, get_registry, write_video
from stst_core.testing import run_cli


def _can_mount() -> bool:
    return sys.platform == "linux" and os.geteuid() == 0 and shutil.which("mount") is not None


pytestmark = pytest.mark.skipif(not _can_mount(), reason="mounting a tmpfs needs root on Linux (tests/test_os_errors.py injects the same errors)")


@pytest.fixture
def tmpfs(tmp_path):
    """A fresh 4 MiB tmpfs; ``fill(free)`` leaves ``free`` bytes, ``read_only()`` remounts it read-only."""
    mount = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")

    class Disk:
        path = mount

        def fill(self, free: int = 0):
            filler = mount / ".filler"
            try:
                with open(filler, "ab") as handle:
                    while True:
                        handle.write(b"\0" * 4096)
                        handle.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
            usage = shutil.disk_usage(mount)
            if free:
                os.truncate(filler, max(0, filler.stat().st_size - free + usage.free))

        def free(self):
            (mount / ".filler").unlink(missing_ok=True)

        def read_only(self, on: bool = True):
            subprocess.run(["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(mount)], check=True)

    yield Disk()
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    clip = Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10)
    return write_video(clip, tmp_path_factory.mktemp("clip") / "clip.npz")


def stst_command(clip_file, output):
    cls = get_registry("synthesizers").get("stst").factory
    return ["synth", "stst", clip_file, "-o", output, "--preset", cls.quick_preset, *(f"--set={o}" for o in cls.quick_overrides), "--quiet"]


def one_error_line(result, *fragments):
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), result.output
    return lines[0]


def on_disk(folder):
    return sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file())


def visible(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_full_disk_at_creation_leaves_nothing(tmpfs, clip_file):
    tmpfs.fill()
    one_error_line(run_cli(*stst_command(clip_file, tmpfs.path / "s.zarr")), f"{tmpfs.path / 's.zarr'}: No space left on device (ENOSPC)")
    assert visible(tmpfs.path) == [] and not list(tmpfs.path.glob(".s.zarr.creating-*"))


def test_a_disk_that_fills_mid_run_resumes_to_the_uninterrupted_result(tmpfs, clip_file, tmp_path):
    run_cli(*stst_command(clip_file, tmp_path / "reference.zarr"))
    reference = StimulusStore(tmp_path / "reference.zarr")
    # what creation takes and what the whole run takes (tmpfs gives every file whole pages)
    cls = get_registry("synthesizers").get("stst").factory
    synth = cls({"content": reference.target()}, cls.resolve(cls.quick_preset, None, cls.quick_overrides), seed=0)
    created, whole = on_disk(synth.create_store(tmp_path / "created.zarr", overwrite=False).path), on_disk(reference.path)
    tmpfs.fill(free=created + (whole - created) // 2)
    command = stst_command(clip_file, tmpfs.path / "s.zarr")
    one_error_line(run_cli(*command), str(tmpfs.path / "s.zarr"), "No space left on device (ENOSPC)")  # the path, though zarr names none
    store = StimulusStore(tmpfs.path / "s.zarr")
    assert not store.complete and 0 <= store.units_done < store.units_total
    tmpfs.free()
    assert run_cli(*command).exit_code == 0
    finished = StimulusStore(tmpfs.path / "s.zarr")
    assert finished.complete and torch.equal(finished.video().frames, reference.video().frames)
    np.testing.assert_array_equal(finished.loss_history().values, reference.loss_history().values)


def test_full_disk_outputs_leave_no_partial_file(tmpfs, clip_file, tmp_path):
    run_cli(*stst_command(clip_file, tmp_path / "s.zarr"))
    tmpfs.fill()
    one_error_line(
        run_cli("metrics", tmp_path / "s.zarr", "--metric", "pixels", "-o", tmpfs.path / "m.json", "--quiet"), f"{tmpfs.path / 'm.json'}: ", "ENOSPC"
    )
    one_error_line(run_cli("export", tmp_path / "s.zarr", tmpfs.path / "v.mp4"), f"{tmpfs.path / 'v.mp4'}: ", "ENOSPC")
    one_error_line(run_cli("export", tmp_path / "s.zarr", tmpfs.path / "v.npz"), f"{tmpfs.path / 'v.npz'}: ", "ENOSPC")
    extract = run_cli("extract", tmp_path / "s.zarr", "-o", tmpfs.path / "a.zarr", "--backbone", "random-multiscale", "--quiet")
    one_error_line(extract, f"{tmpfs.path / 'a.zarr'}: ", "ENOSPC")
    tmpfs.fill(free=2 * 4096)  # room for two of the four frames (tmpfs gives each file a page)
    one_error_line(run_cli("export", tmp_path / "s.zarr", tmpfs.path / "frames"), f"{tmpfs.path / 'frames'}: ", "ENOSPC")
    assert visible(tmpfs.path) == [] and not list(tmpfs.path.glob(".frames.*"))


def test_a_read_only_file_system_is_one_line_and_changes_nothing(tmpfs, clip_file):
    command = stst_command(clip_file, tmpfs.path / "s.zarr")
    assert run_cli(*command).exit_code == 0
    before = StimulusStore(tmpfs.path / "s.zarr").video().frames
    tmpfs.read_only()
    try:
        one_error_line(run_cli(*command, "--overwrite"), "Read-only file system (EROFS)")
        one_error_line(run_cli("export", tmpfs.path / "s.zarr", tmpfs.path / "v.mp4"), "Read-only file system")
        one_error_line(run_cli(*stst_command(clip_file, tmpfs.path / "new.zarr")), "Read-only file system")
        assert torch.equal(StimulusStore(tmpfs.path / "s.zarr").video().frames, before)  # still readable, unchanged
        assert run_cli("metrics", tmpfs.path / "s.zarr", "--metric", "pixels", "--quiet").exit_code == 0  # readers need no writes
    finally:
        tmpfs.read_only(False)
