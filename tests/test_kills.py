"""Fault injection from outside the process (issue 13): real ``stst synth`` runs killed, then run again.

The core's own fault injection (``stst_core.testing.kill_after_writes``) stops a
run after a chosen store write, inside one Python process. These tests do what
a user's machine does instead: a separate ``stst synth`` process gets SIGKILL

- at wall-clock times spread over its run: so long after it takes the store's
  lock, timed on an uninterrupted run's commits (halfway through the creation
  of the store, 30 % of the way through what is left, …), and
- the moment a watcher that polls the store folder every millisecond sees a
  chunk file (``video``, ``loss``, ``evaluation``) or a checkpoint file appear
  or change,

or Ctrl-C (SIGINT). After every kill the store must hold nothing that differs
from an uninterrupted run and lose nothing it committed (and its committed
checkpoint must load); the same command, run again until it finishes, must end
with a ``complete`` store equal to the uninterrupted run's bit for bit.

Each test kills one store several times in a row (every kill is checked before
the next run): a process costs seconds just to start, and a chain of kills
covers more of a run per second than one kill per store. The processes run
with one thread each and without the plugins they do not use, so that they
start fast and keep their timing on a busy two-core machine (the uninterrupted
run and every killed one use the same settings).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import zarr

from stst_core import StimulusStore, STSTError, Video, is_store, write_video
from stst_core._lock import lock_holder
from stst_core.testing import assert_same_run

pytestmark = pytest.mark.slow

STST = str(Path(sys.executable).parent / "stst")
SEED = 3
FRAMES, SIZE = 6, 24
STST_BURN_IN = 3
RUN_TIMEOUT = 240  # seconds for one process: generous, the machine may be busy
POLL = 0.001  # seconds between two looks of the file watcher


@dataclass(frozen=True)
class Method:
    """A quick configuration of one synthesizer for the command line."""

    name: str
    settings: tuple[str, ...]
    kept_frames: Callable[[int], int]  # frames of the video that the commits up to units_done have written

    def command(self, clip: Path, output: Path) -> list[str]:
        sets = [arg for setting in self.settings for arg in ("--set", setting)]
        return [STST, "synth", self.name, str(clip), "--preset", "offline", "--quiet", "--seed", str(SEED), *sets, "-o", str(output)]


# STST: 3 burn-in transitions + 5 more = 8 units, one commit each; frame t is written by unit t + 2
STST_METHOD = Method(
    "stst",
    (
        "octaves=[{scale=-1, steps=10, lr=0.02}, {scale=0, steps=20, lr=0.02}]",
        f"burn_in={STST_BURN_IN}",
        "spatial.options={levels=1, channels=8}",
        "spatial.style_layers=['level0']",
    ),
    kept_frames=lambda units_done: max(0, units_done - (STST_BURN_IN - 1)),
)
# two-stream: one L-BFGS optimisation of the whole clip, 40 steps, a commit every 5; the video is written at the end
TWO_STREAM = Method(
    "two-stream",
    ("steps=40", "checkpoint_every=5", "appearance.options={levels=1, channels=8}", "appearance.style_layers=['level0']"),
    kept_frames=lambda units_done: 0,
)


# -- processes ------------------------------------------------------------------------


class Run:
    """One ``stst synth`` process, its output in files (a pipe nobody reads could block it)."""

    count = 0

    def __init__(self, command: list[str], env: dict[str, str], logs: Path):
        Run.count += 1
        self.command = command
        self.stdout_path = logs / f"run-{Run.count}.out"
        self.stderr_path = logs / f"run-{Run.count}.err"
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)
        self.spawned = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def describe(self) -> str:
        return f"`{' '.join(self.command)}` (exit status {self.process.returncode})\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"

    def wait_for_lock(self, store: Path) -> float:
        """Block until this process holds the store's lock (its run has begun); the time since it was started."""
        deadline = self.spawned + RUN_TIMEOUT
        while time.monotonic() < deadline:
            holder = lock_holder(store)
            if holder and holder.get("pid") == self.pid:
                return time.monotonic() - self.spawned
            if not self.running():
                raise AssertionError(f"the run ended before it took the lock of {store}: {self.describe()}")
            time.sleep(0.005)
        self.kill(signal.SIGKILL)
        raise AssertionError(f"the run did not take the lock of {store} within {RUN_TIMEOUT} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.running():
            os.kill(self.pid, sig)

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"the run did not end within {RUN_TIMEOUT} s: {self.describe()}") from None


def environment(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        STST_CACHE_DIR=str(cache),
        STST_OFFLINE="1",  # the offline presets need no weights; nothing may be downloaded
        # plugins these runs do not use: half of a process's start (timm alone takes a second and a half to import)
        STST_DISABLE_PLUGINS="timm,videomodels,prednet,psychopy,metrics,vgg",
    )
    return env


# -- the store as files ------------------------------------------------------------------


def temporary(relative: str) -> bool:
    """A file on its way in: zarr's ``*.partial``, the checkpoint's hidden ``.units-…`` and safetensors' ``.tmp…`` before their rename."""
    name = relative.rsplit("/", 1)[-1]
    return name.endswith(".partial") or name.startswith(".")


def store_files(store: Path) -> dict[str, tuple[int, int, int]] | None:
    """Every file of the store folder: relative path → (inode, mtime, size); None while there is no store."""
    if not (store / "zarr.json").is_file():
        return None
    files: dict[str, tuple[int, int, int]] = {}

    def walk(folder: str, prefix: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:  # a folder being removed or renamed while we look
            return
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, f"{prefix}{entry.name}/")
                else:
                    stat = entry.stat(follow_symlinks=False)
                    files[prefix + entry.name] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:  # a temporary file renamed away between the listing and the stat
                pass

    walk(str(store), "")
    return files


def leftovers_beside(store: Path) -> list[str]:
    """Hidden siblings a killed creation leaves (``.NAME.creating-…``); the lock file ``.NAME.lock`` is meant to stay."""
    return sorted(p.name for p in store.parent.glob(f".{store.name}.*") if p.name != f".{store.name}.lock")


# -- the uninterrupted run ---------------------------------------------------------------------


def moving_texture(frames: int = FRAMES, size: int = SIZE, dx: int = 2) -> Video:
    """A smooth tinted texture drifting sideways: something a quick run improves on (plain noise it cannot, and the run fails)."""
    generator = torch.Generator().manual_seed(0)
    base = F.avg_pool2d(torch.rand(1, 3, size * 2, size * 3, generator=generator), 5, 1, 2)[0]
    clip = torch.stack([torch.roll(base, shifts=dx * t, dims=2)[:, :size, :size] for t in range(frames)], dim=1)
    return Video((clip * torch.tensor([1.0, 0.7, 0.4]).view(3, 1, 1, 1)).contiguous(), fps=10, source="moving texture")


@dataclass
class Reference:
    path: Path
    video: torch.Tensor  # (C, T, H, W), StimulusStore.video().frames
    loss: np.ndarray
    histories: dict[str, np.ndarray]  # every history array, as zarr holds it
    frames: np.ndarray  # the video array as zarr holds it, (T, C, H, W)
    units_total: int
    startup: float  # seconds from the start of the process to its taking the store's lock
    committed: list[float]  # seconds after taking the lock when the store appeared (0) and held k units (k)
    run: float  # seconds from taking the lock to the exit

    def at(self, units: float) -> float:
        """Seconds after taking the lock when the uninterrupted run had made ``units`` units (interpolated)."""
        return float(np.interp(units, np.arange(len(self.committed)), self.committed))

    def delay(self, path: Path, fraction: float) -> float:
        """How long after its lock a run of the store at ``path`` needs to get ``fraction`` of the way through what is left.

        Timed on the uninterrupted run: its creation stands for a resumed run's opening of the store.
        """
        done = StimulusStore(path).units_done if is_store(path) else 0
        return self.at(done + fraction * (self.units_total - done)) - self.at(done) + self.committed[0]


def units_on_disk(path: Path) -> int | None:
    """``units_done`` as the store's ``zarr.json`` says now (None: no store yet, or caught mid-rename)."""
    try:
        return int(json.loads((path / "zarr.json").read_text())["attributes"]["units_done"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The clip, the settings of every process, and the uninterrupted run of each method, timed commit by commit."""
    folder = tmp_path_factory.mktemp("kills")
    clip = folder / "clip.npz"
    write_video(moving_texture(), clip)
    env = environment(tmp_path_factory.mktemp("cache"))

    class Workspace:
        def start(self, method: Method, output: Path) -> Run:
            return Run(method.command(clip, output), env, folder)

    workspace = Workspace()
    # one after the other: a run that shares the machine with another one's start would be timed too slow
    workspace.references = {method.name: reference_run(workspace, method, folder / f"{method.name}-uninterrupted.zarr") for method in (STST_METHOD, TWO_STREAM)}
    return workspace


def reference_run(workspace, method: Method, path: Path) -> Reference:
    run = workspace.start(method, path)
    startup = run.wait_for_lock(path)
    locked = run.spawned + startup
    committed: dict[int, float] = {}
    while run.running() and time.monotonic() < run.spawned + RUN_TIMEOUT:
        units = units_on_disk(path)
        if units is not None and units not in committed:
            committed[units] = time.monotonic() - locked
        time.sleep(0.003)
    assert run.wait() == 0, run.describe()
    elapsed = time.monotonic() - locked
    store = StimulusStore(path)
    assert store.complete, f"the uninterrupted run is {store.status}: {store.attrs.get('message')}"
    # a run must last long enough after taking its lock for kills to land mid-run
    assert elapsed > 0.5, f"{path.name}: the run took only {elapsed:.2f} s after taking its lock; make it longer"
    total = store.units_total
    times = [committed.get(k) for k in range(total + 1)]
    for k in range(total - 1, -1, -1):  # a commit the poll missed: as late as the next one
        times[k] = times[k] if times[k] is not None else times[k + 1] if times[k + 1] is not None else elapsed
    times[total] = times[total] if times[total] is not None else elapsed
    group = zarr.open_group(str(path), mode="r")
    return Reference(
        path=path,
        video=store.video().frames,
        loss=store.loss_history().values,
        histories={name: np.asarray(group[name][...]) for name in store.attrs["histories"]},
        frames=np.asarray(group["video"][...]),
        units_total=total,
        startup=startup,
        committed=times,
        run=elapsed,
    )


# -- the checks ------------------------------------------------------------------------


def check_after_kill(path: Path, reference: Reference, method: Method, what: str) -> int | None:
    """What a killed run left: nothing that differs from the uninterrupted run, nothing committed lost.

    Returns ``units_done`` (None: the kill came before the store existed).
    """
    if not is_store(path):
        assert not path.exists(), f"{what}: {path} exists but is not a store (a creation must be whole or nothing)"
        return None
    store = StimulusStore(path)
    if store.complete:  # the kill came after the status moved: the store is the finished one
        check_finished(path, reference, what)
        return store.units_done
    assert store.status == "running", f"{what}: the store says {store.status!r} ({store.attrs.get('message')!r}) after a kill"
    done = store.units_done
    assert 0 <= done <= reference.units_total
    try:
        store.checkpoint()  # the checkpoint of the committed units is there and whole
    except STSTError as exc:
        raise AssertionError(f"{what}: the run cannot resume: {exc}") from None
    group = zarr.open_group(str(path), mode="r")
    for name, want in reference.histories.items():
        got = np.asarray(group[name][...])
        # committed rows: all there, as in the uninterrupted run
        np.testing.assert_array_equal(got[:done], want[:done], err_msg=f"{what}: {name} rows 0…{done - 1} (committed) differ or were lost")
        # rows written ahead of their commit (the kill came before the counter): already the final values
        ahead = ~np.isnan(got[done:])
        np.testing.assert_array_equal(got[done:][ahead], want[done:][ahead], err_msg=f"{what}: {name} rows written after unit {done} differ")
    video = group["video"]
    kept = method.kept_frames(done)
    for t in range(video.shape[0]):
        try:
            frame = np.asarray(video[t])
        except Exception as exc:  # noqa: BLE001 - an undecodable chunk: zarr's writes are meant to be atomic
            raise AssertionError(f"{what}: video frame {t} cannot be read ({type(exc).__name__}: {exc})") from None
        if t < kept:
            assert np.array_equal(frame, reference.frames[t]), f"{what}: video frame {t} (committed with {done} units) differs or was lost"
        elif not np.isnan(frame).all():
            assert np.array_equal(frame, reference.frames[t]), f"{what}: video frame {t}, written ahead of its commit, differs"
    return done


def check_finished(path: Path, reference: Reference, what: str) -> None:
    """A store equal to the uninterrupted run's: complete, the same video and loss bit for bit, every array the same."""
    store = StimulusStore(path)
    assert store.complete, f"{what}: the store is {store.status} ({store.attrs.get('message')!r}), not complete"
    assert store.units_done == reference.units_total
    video = store.video().frames
    assert video.shape == reference.video.shape and torch.equal(video, reference.video), (
        f"{what}: the video differs from the uninterrupted run (largest difference {(video - reference.video).abs().max().item() if video.shape == reference.video.shape else video.shape})"
    )
    np.testing.assert_array_equal(store.loss_history().values, reference.loss, err_msg=f"{what}: the loss history differs")
    assert_same_run(path, reference.path)  # every array: video, target, histories, evaluation
    assert not leftovers_beside(path), f"{what}: left beside the store: {leftovers_beside(path)}"
    litter = [name for name in store_files(path) if temporary(name)]
    assert not litter, f"{what}: temporary files left inside the store: {litter}"  # the resumed run tidies them


def finish(workspace, method: Method, path: Path, reference: Reference, history: list[str]) -> None:
    """Run the same command again until it finishes, then compare with the uninterrupted run."""
    run = workspace.start(method, path)
    status = run.wait()
    what = "; ".join(history) + "; then run to the end"
    print(f"{method.name}: {what}")  # where the kills landed (pytest shows it with -s, or with a failure)
    assert status == 0, f"{what}: {run.describe()}"
    assert "status complete" in run.stdout, f"{what}: {run.describe()}"
    assert "Traceback" not in run.stderr, f"{what}: {run.describe()}"
    check_finished(path, reference, what)


def kill_after(run: Run, path: Path, delay: float) -> bool:
    """SIGKILL ``delay`` seconds after the run took the store's lock; False if it had finished by then."""
    run.wait_for_lock(path)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and run.running():
        time.sleep(min(0.002, max(0.0, deadline - time.monotonic())))
    killed = run.running()
    run.kill(signal.SIGKILL)
    run.wait()
    return killed


def kill_on_change(run: Run, path: Path, under: str, count: int) -> str:
    """SIGKILL the moment the ``count``-th file under ``under`` of the store appears or changes; what was seen.

    The files of the store when the watcher first sees it (at the start of the
    run, or when a new store is renamed into place, whole) are the baseline;
    files on their way in (``*.partial``, hidden temporaries) do not count.
    """
    seen = store_files(path)
    changes: list[str] = []
    deadline = run.spawned + RUN_TIMEOUT
    while time.monotonic() < deadline:
        if not run.running():
            raise AssertionError(f"the run ended before the {count}. change under {under!r} ({changes}): {run.describe()}")
        now = store_files(path)
        if now is not None and seen is not None:
            for name, signature in now.items():
                if name.startswith(under) and not temporary(name) and seen.get(name) != signature:
                    changes.append(f"{name} {'changed' if name in seen else 'appeared'}")
            if len(changes) >= count:
                run.kill(signal.SIGKILL)
                run.wait()
                return changes[count - 1]
        seen = now if now is not None else seen
        time.sleep(POLL)
    run.kill(signal.SIGKILL)
    raise AssertionError(f"no {count}. change under {under!r} within {RUN_TIMEOUT} s ({changes})")


# -- the tests ----------------------------------------------------------------------------


def progress(done: int | None, reference: Reference) -> str:
    return "no store yet" if done is None else f"units done: {done}/{reference.units_total}"


def kill_at(workspace, method: Method, path: Path, reference: Reference, delay: float, history: list[str]) -> None:
    """One run of the store at ``path``, SIGKILLed ``delay`` s after it took the lock; the store checked; ``history`` told."""
    killed = kill_after(workspace.start(method, path), path, delay)
    assert killed, f"{'; '.join(history)}: the run finished within {delay:.2f} s of taking its lock (a whole run takes {reference.run:.2f} s)"
    what = f"killed {delay:.3f} s after taking the lock"
    done = check_after_kill(path, reference, method, "; ".join([*history, what]))
    history.append(f"{what} ({progress(done, reference)})")


def kill_on(workspace, method: Method, path: Path, reference: Reference, under: str, count: int, history: list[str]) -> None:
    """One run of the store at ``path``, SIGKILLed at the ``count``-th change of a file under ``under``; the store checked; ``history`` told."""
    seen = kill_on_change(workspace.start(method, path), path, under, count)
    what = f"killed when {seen}"
    done = check_after_kill(path, reference, method, "; ".join([*history, what]))
    history.append(f"{what} ({progress(done, reference)})")


def test_stst_killed_at_wall_clock_times_resumes_to_the_uninterrupted_run(workspace, tmp_path):
    """SIGKILL halfway through the creation of the store, then 30 % and 50 % of the way through what is left (timed on the uninterrupted run)."""
    reference = workspace.references["stst"]
    path = tmp_path / "killed.zarr"
    history: list[str] = []
    kill_at(workspace, STST_METHOD, path, reference, reference.committed[0] / 2, history)
    for fraction in (0.3, 0.5):
        kill_at(workspace, STST_METHOD, path, reference, reference.delay(path, fraction), history)
    finish(workspace, STST_METHOD, path, reference, history)


def test_stst_killed_when_chunk_or_checkpoint_files_change_resumes_to_the_uninterrupted_run(workspace, tmp_path):
    """SIGKILL when the 2nd video chunk appears (rows written, not committed), at the 2nd new checkpoint, at the 1st evaluation chunk (the end)."""
    reference = workspace.references["stst"]
    path = tmp_path / "killed.zarr"
    history: list[str] = []
    for under, count in (("video/", 2), ("checkpoint/", 2), ("evaluation/", 1)):
        kill_on(workspace, STST_METHOD, path, reference, under, count, history)
    finish(workspace, STST_METHOD, path, reference, history)


def test_two_stream_killed_at_a_time_and_on_file_changes_resumes_to_the_uninterrupted_run(workspace, tmp_path):
    """One optimisation, a commit every 5 steps: killed 35 % of the way through, at the 2nd loss chunk, the 3rd new checkpoint, and as its video is written."""
    reference = workspace.references["two-stream"]
    path = tmp_path / "killed.zarr"
    history: list[str] = []
    kill_at(workspace, TWO_STREAM, path, reference, reference.delay(path, 0.35), history)
    for under, count in (("loss/", 2), ("checkpoint/", 3), ("video/", 1)):
        kill_on(workspace, TWO_STREAM, path, reference, under, count, history)
    finish(workspace, TWO_STREAM, path, reference, history)


def test_stst_interrupted_with_ctrl_c_says_so_and_resumes(workspace, tmp_path):
    """SIGINT mid-run: a nonzero exit without a traceback, the store ``running`` with a message to run again; the rerun ends as an uninterrupted run."""
    reference = workspace.references["stst"]
    path = tmp_path / "interrupted.zarr"
    run = workspace.start(STST_METHOD, path)
    run.wait_for_lock(path)
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline and run.running():
        if is_store(path) and StimulusStore(path).units_done >= 2:
            break
        time.sleep(0.01)
    assert run.running(), f"the run ended before it was interrupted: {run.describe()}"
    run.kill(signal.SIGINT)
    status = run.wait()
    assert status != 0, f"interrupted, yet exit status 0: {run.describe()}"
    assert "Traceback" not in run.stderr, f"Ctrl-C printed a traceback: {run.describe()}"
    store = StimulusStore(path)
    assert store.status == "running", f"after Ctrl-C the store says {store.status!r}: {store.attrs.get('message')!r}"
    assert "again" in store.attrs["message"], f"the message does not say to run again: {store.attrs['message']!r}"
    done = check_after_kill(path, reference, STST_METHOD, "interrupted with SIGINT")
    assert done is not None and 2 <= done < reference.units_total
    finish(workspace, STST_METHOD, path, reference, [f"interrupted with SIGINT ({progress(done, reference)})"])
