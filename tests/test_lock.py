"""One writer per store: a second writer is refused with one line naming the holder; a dead holder's lock is free."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from stst_core import StimulusStore, STSTError, Video, extract, load_inputs, write_video
from stst_core._lock import StoreLockedError, lock_holder, lock_path, writing
from stst_stps import STPSSynthesizer

HOLD = """
import sys, time
from stst_core._lock import writing
with writing(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def clip():
    return Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10)


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of tmp_path/store.zarr until it is killed."""
    store = tmp_path / "store.zarr"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(store)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "holding"
    yield store, process
    process.kill()
    process.wait()


def test_a_second_writer_is_refused_naming_the_holder(holder, clip):
    store, process = holder
    with pytest.raises(StoreLockedError, match=rf"being written by another process \(pid {process.pid} on .*\); wait for it to finish"):
        STPSSynthesizer({"content": clip}, seed=0).synthesize(store, progress=False)
    assert not store.exists()  # nothing was written
    with pytest.raises(StoreLockedError):
        STPSSynthesizer({"content": clip}, seed=0).synthesize(store, overwrite=True, progress=False)


def test_overwrite_cannot_remove_a_store_being_written(tmp_path, clip):
    store = STPSSynthesizer({"content": clip}, seed=0).synthesize(tmp_path / "store.zarr", progress=False)
    before = store.video().frames.clone()
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(store.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "holding"
        with pytest.raises(StoreLockedError):
            STPSSynthesizer({"content": clip}, seed=5).synthesize(store.path, overwrite=True, progress=False)
        assert torch.equal(StimulusStore(store.path).video().frames, before)
    finally:
        process.kill()
        process.wait()


def test_the_lock_of_a_killed_process_is_taken_over(holder, clip):
    store, process = holder
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert lock_holder(store)["pid"] == process.pid  # the record stays; the OS lock went with the process
    made = STPSSynthesizer({"content": clip}, seed=0).synthesize(store, progress=False)
    assert made.complete
    assert lock_holder(store)["pid"] == os.getpid()


def test_extract_takes_the_lock_too(holder, clip, tmp_path):
    store, process = holder
    path = write_video(clip, tmp_path / "clip.npz")
    with pytest.raises(StoreLockedError, match=f"pid {process.pid}"):
        extract(load_inputs([path]), store, backbone="random-multiscale", options={"levels": 1}, progress=False)
    assert not store.exists()


def test_one_process_cannot_hold_one_store_twice(tmp_path):
    with writing(tmp_path / "s.zarr"):
        with pytest.raises(StoreLockedError):
            with writing(tmp_path / "s.zarr"):
                pass
    with writing(tmp_path / "s.zarr"):  # released on leaving the block
        pass


def test_the_lock_file_records_the_holder(tmp_path):
    with writing(tmp_path / "s.zarr"):
        record = json.loads(lock_path(tmp_path / "s.zarr").read_text())
    assert record["pid"] == os.getpid() and record["host"] and time.strptime(record["since"], "%Y-%m-%d %H:%M:%S")


def test_an_unopenable_lock_is_one_clear_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / ".s.zarr.lock").mkdir()  # a folder where the lock file would be
    with pytest.raises(STSTError, match=r"its lock file cannot be opened: .*\.s\.zarr\.lock: Is a directory \(EISDIR\)"):
        with writing(folder / "s.zarr"):
            pass


def test_the_command_line_refusal_is_one_line(holder, clip, tmp_path):
    from stst_core.testing import assert_cli_error

    store, process = holder
    path = write_video(clip, tmp_path / "clip.npz")
    assert_cli_error("synth", "stps", path, "-o", store, "--quiet", says=[f"pid {process.pid}"])
