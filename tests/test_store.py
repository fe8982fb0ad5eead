"""The stimulus store: the method's layout, crash-safe creation and commits, failures recorded, format 1 still readable."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from stst_core import Array, ConfigError, StimulusStore, StoreLayout, STSTError, Video
from stst_core.testing import SimulatedKill, kill_after_writes, recorded_writes
from stst_stps import STPSSynthesizer

FORMAT1 = Path(__file__).parent / "data" / "format1"


def clip(frames=3, size=8, seed=0):
    return Video(torch.rand(3, frames, size, size, generator=torch.Generator().manual_seed(seed)), fps=25, source=f"noise {seed}")


def create(path, *, layout=None, checkpoint=None, overwrite=False):
    target = clip()
    layout = layout or StoreLayout(units_total=2, unit="step", histories={"loss": Array(("step", "term"), (2, 1))}, coords={"term": ["a"]})
    return StimulusStore.create(
        path,
        method="toy",
        target=target,
        config={"k": 1},
        seed=0,
        device="cpu",
        targets={"content": target},
        layout=layout,
        checkpoint=checkpoint if checkpoint is not None else {"x": torch.zeros(2)},
        overwrite=overwrite,
    )


def test_the_method_declares_its_arrays_units_and_samples(tmp_path):
    layout = StoreLayout(
        units_total=4,
        unit="iteration",
        samples=3,
        histories={"energy": Array(("iteration", "sample"), (4, 3))},
        evaluations={"recovery_error": Array(("sample",), (3,))},
        coords={"iteration": np.arange(4)},
    )
    store = create(tmp_path / "s.zarr", layout=layout)
    ds = xr.open_zarr(tmp_path / "s.zarr")
    assert ds.video.dims == ("sample", "time", "channel", "y", "x") and ds.video.shape == (3, 3, 3, 8, 8)
    assert ds.energy.dims == ("iteration", "sample") and np.isnan(ds.energy.values).all()
    assert ds.attrs["unit"] == "iteration" and ds.attrs["units_total"] == 4 and ds.attrs["format_version"] == 2
    assert ds.attrs["histories"] == ["energy"] and ds.attrs["evaluations"] == ["recovery_error"]
    assert store.samples == 3 and store.units_done == 0
    frames = np.random.default_rng(0).random((3, 3, 8, 8), dtype=np.float32)
    store.commit(1, rows=[("video", (1, slice(None)), frames), ("energy", 0, np.arange(3.0))], checkpoint={"x": torch.ones(2)}, elapsed=1.0)
    np.testing.assert_array_equal(store.video(sample=1).frames.numpy(), frames.transpose(1, 0, 2, 3))
    with pytest.raises(STSTError, match=r"holds 3 samples; choose one with sample=0…2"):
        store.video()
    with pytest.raises(STSTError, match="no sample 5"):
        store.video(sample=5)
    assert torch.equal(store.checkpoint()["x"], torch.ones(2)) and store.units_done == 1


@pytest.mark.parametrize(
    "layout, message",
    [
        (dict(units_total=0), "at least one unit"),
        (dict(units_total=1, samples=0), "samples must be at least 1"),
        (dict(units_total=1, histories={"video": Array(("step",), (1,))}), "not 'video' or 'target'"),
    ],
)
def test_bad_layouts(layout, message):
    with pytest.raises(ConfigError, match=message):
        StoreLayout(**layout)


def test_checkpoints_keep_nested_optimizer_state_exactly(tmp_path):
    adam = torch.optim.Adam([torch.nn.Parameter(torch.rand(4))], lr=0.1, betas=(0.5, 0.9))
    adam.param_groups[0]["params"][0].grad = torch.rand(4)
    adam.step()
    state = {"optimizer": adam.state_dict(), "history": [torch.rand(2, 3), torch.rand(2, 3)], "step": 7, "name": "x", "none": None}
    store = create(tmp_path / "c.zarr", checkpoint=state)
    back = store.checkpoint()
    assert back["step"] == 7 and back["name"] == "x" and back["none"] is None
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.5, 0.9)
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], state["optimizer"]["state"][0]["exp_avg"])
    assert all(torch.equal(a, b) for a, b in zip(back["history"], state["history"]))
    with pytest.raises(STSTError, match="cannot store a set"):
        create(tmp_path / "bad.zarr", checkpoint={"oops": {1, 2}})


def test_a_commit_moves_the_counter_after_the_checkpoint_and_removes_the_old_one(tmp_path):
    store = create(tmp_path / "c.zarr")
    with recorded_writes() as writes:
        store.commit(1, rows=[("loss", slice(0, 1), np.ones((1, 1)))], checkpoint={"x": torch.ones(2)}, elapsed=0.5)
    assert writes == ["loss[slice(0, 1, None)]", "checkpoint", "attrs", "remove old checkpoint"]
    assert sorted(p.name for p in (tmp_path / "c.zarr" / "checkpoint").iterdir()) == ["units-000000001.safetensors"]
    # a kill between the checkpoint and the counter: the counter still names a whole checkpoint
    with kill_after_writes(2), pytest.raises(SimulatedKill):
        store.commit(2, rows=[("loss", slice(1, 2), np.ones((1, 1)))], checkpoint={"x": torch.full((2,), 2.0)}, elapsed=1.0)
    again = StimulusStore(tmp_path / "c.zarr")
    assert again.units_done == 1 and torch.equal(again.checkpoint()["x"], torch.ones(2))


def test_creation_is_whole_or_nothing(tmp_path):
    out = tmp_path / "new.zarr"
    # a process killed while it writes the store leaves only a hidden sibling, which the next creation removes
    script = (
        "import os, sys, torch\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "import xarray\n"
        "from test_store import create\n"
        "original = xarray.Dataset.to_zarr\n"
        "def dying(self, *a, **k):\n"
        "    original(self, *a, **k)\n"
        "    os._exit(9)\n"
        "xarray.Dataset.to_zarr = dying\n"
        "create(sys.argv[1])\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(out), str(Path(__file__).parent)], capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    assert not out.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".new.zarr.creating-")
    create(out)  # the abandoned sibling goes, the new store comes
    assert [p.name for p in tmp_path.iterdir()] == ["new.zarr"]


def test_overwrite_keeps_the_old_store_until_the_new_one_is_whole(tmp_path, monkeypatch):
    out = tmp_path / "s.zarr"
    create(out)
    import stst_core._store as store_module

    def failing(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "save_checkpoint", failing)
    with pytest.raises(OSError, match="disk full"):
        create(out, overwrite=True)
    monkeypatch.undo()
    assert StimulusStore(out).units_done == 0 and torch.equal(StimulusStore(out).checkpoint()["x"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_any_exception_marks_the_store_failed_with_its_message(tmp_path, monkeypatch):
    synth = STPSSynthesizer({"content": clip(frames=4, size=16)}, seed=0)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug deep inside")

    monkeypatch.setattr("stst_stps.synthesizer.map_to_unit", broken)
    with pytest.raises(ZeroDivisionError):
        synth.synthesize(tmp_path / "f.zarr", progress=False)
    store = StimulusStore(tmp_path / "f.zarr")
    assert store.status == "failed" and store.attrs["message"] == "ZeroDivisionError: a bug deep inside"
    monkeypatch.undo()
    assert synth.synthesize(tmp_path / "f.zarr", progress=False).complete  # and it resumes once fixed


def test_bad_config_values_fail_before_anything_is_written(tmp_path):
    from stst_styletransfer import STSTSynthesizer

    with pytest.raises(ConfigError, match="color_bins must be at least 2"):
        STSTSynthesizer.resolve("offline", overrides=["color_bins=0"])


# -- stores of format 1 (the release before this layout) ---------------------------------


@pytest.mark.parametrize("name", ["stst-v1.zarr", "stps-v1.zarr"])
def test_format1_stores_still_open(name, tmp_path):
    store = StimulusStore(FORMAT1 / name)
    assert store.format_version == 1 and store.complete
    assert store.video().shape == (3, 3, 8, 8) and store.target().shape == (3, 3, 8, 8)
    assert store.units_done == store.units_total > 0
    assert store.loss_history().dims[-1] == "term"
    if name.startswith("stst"):
        assert store.evaluation().dims == ("evaluated", "time", "term")


@pytest.mark.slow
def test_format1_stores_export_measure_extract_and_present(tmp_path):
    stst = str(Path(sys.executable).parent / "stst")
    source = FORMAT1 / "stst-v1.zarr"

    def run(*args):
        result = subprocess.run([stst, *map(str, args)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result

    run("export", source, tmp_path / "v.npz")
    assert np.load(tmp_path / "v.npz")["frames"].shape[0] == 3
    run("metrics", source, "--metric", "pixels", "-o", tmp_path / "m.json", "--quiet")
    assert json.loads((tmp_path / "m.json").read_text())
    run("extract", source, "--include-targets", "-o", tmp_path / "a.zarr", "--backbone", "msoe", "--weights", "analytic", "--quiet")
    assert xr.open_zarr(tmp_path / "a.zarr").sizes["stimulus"] == 2
    from stst_psychopy.sources import load_frames

    assert load_frames(source).pixels.shape == (3, 8, 8, 3)


def test_format1_stores_are_not_resumed(tmp_path):
    copy = tmp_path / "old.zarr"
    shutil.copytree(FORMAT1 / "stps-v1.zarr", copy)
    store = StimulusStore(copy)
    store.set_status("running")
    with pytest.raises(ConfigError, match="unfinished store of format 1.*--overwrite"):
        store.check_compatible(method="stps", config=store.config, seed=1, targets={})


# -- damaged stores --------------------------------------------------------------------


@pytest.fixture
def damaged(tmp_path):
    """A complete 4-frame store, and a function that breaks one of its video chunk files."""
    from stst_stps import STPSSynthesizer

    clip = Video(torch.rand(3, 4, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10)
    store = STPSSynthesizer({"content": clip}, seed=0).synthesize(tmp_path / "s.zarr", progress=False)

    def damage(frame: int, how: str):
        if how == "metadata":  # the store's own zarr.json, cut short
            metadata = store.path / "zarr.json"
            metadata.write_bytes(metadata.read_bytes()[:100])
            return
        chunk = store.path / "video" / "c" / str(frame) / "0" / "0" / "0"
        chunk.unlink() if how == "deleted" else chunk.write_bytes(b"\x00garbage")

    return clip, store, damage


@pytest.mark.parametrize(
    "how, says",
    [("deleted", r"video frame\(s\) 1 of 4 are missing"), ("truncated", "its video cannot be read"), ("metadata", r"its metadata .*zarr\.json cannot be read")],
)
def test_a_damaged_complete_store_is_refused_by_every_reader(damaged, tmp_path, how, says):
    from stst_core.testing import assert_cli_error
    from stst_stps import STPSSynthesizer

    clip, store, damage = damaged
    damage(1, how)
    with pytest.raises(STSTError, match=says):
        StimulusStore(store.path).video()
    assert_cli_error("export", store.path, tmp_path / "out.mp4", says=["is damaged", "--overwrite"])
    assert not (tmp_path / "out.mp4").exists()
    assert_cli_error("metrics", store.path, "--metric", "pixels", "--quiet", says=["is damaged"])
    assert_cli_error("extract", store.path, "-o", tmp_path / "a.zarr", "--backbone", "random-multiscale", "--quiet", says=["is damaged"])
    assert_cli_error("present", store.path, says=["is damaged"])  # refused before any window opens
    with pytest.raises(STSTError, match="is damaged"):  # not "already complete"
        STPSSynthesizer({"content": clip}, seed=0).synthesize(store.path, progress=False)
    remade = STPSSynthesizer({"content": clip}, seed=0).synthesize(store.path, overwrite=True, progress=False)
    remade.verify()


def test_a_chunk_that_cannot_be_decoded_leaves_no_read_in_flight(tmp_path):
    """zarr reads a frame's chunks concurrently: the others must end with the error, not at exit ("Task was destroyed but it is pending!")."""
    import asyncio

    from zarr.core.sync import _get_loop  # zarr's own event loop, where its reads run

    from stst_stps import STPSSynthesizer

    clip = Video(torch.rand(3, 64, 16, 16, generator=torch.Generator().manual_seed(0)), fps=10)
    store = STPSSynthesizer({"content": clip}, seed=0).synthesize(tmp_path / "s.zarr", progress=False)
    (store.path / "video" / "c" / "0" / "0" / "0" / "0").write_bytes(b"\x00garbage")

    async def in_flight():
        return [task for task in asyncio.all_tasks() if task is not asyncio.current_task() and not task.done()]

    for read in (lambda: store.video(), lambda: store.verify()):
        with pytest.raises(STSTError, match="is damaged"):
            read()
        assert asyncio.run_coroutine_threadsafe(in_flight(), _get_loop()).result() == []


def test_a_complete_store_records_checksums_and_an_altered_frame_is_caught(damaged):
    import zarr

    clip, store, _ = damaged
    manifest = store.manifest
    assert set(manifest) == {"video", "target"} and len(manifest["video"]) == 4 and len(manifest["target"]) == 4
    group = zarr.open_group(str(store.path), mode="r+")
    group["video"][2] = np.asarray(group["video"][2]) * 0.5  # still finite, still decodes: only the checksum knows
    assert StimulusStore(store.path).damage() == {"video": [2]}
    with pytest.raises(STSTError, match=r"video frame\(s\) 2 of 4 are missing or changed.*--repair"):
        StimulusStore(store.path).video()
    with pytest.raises(STSTError, match="is damaged"):
        StimulusStore(store.path).verify()


def test_a_changed_checkpoint_is_refused_at_resume(tmp_path):
    from safetensors.torch import save_file

    store = create(tmp_path / "c.zarr")
    store.commit(1, rows=[("loss", slice(0, 1), np.ones((1, 1)))], checkpoint={"x": torch.ones(2)}, elapsed=0.5)
    path = store.path / "checkpoint" / "units-000000001.safetensors"
    assert store.attrs["checkpoint_sha256"] and torch.equal(store.checkpoint()["x"], torch.ones(2))
    save_file({"x": torch.zeros(2)}, str(path), metadata={"skeleton": json.dumps({"dict": [["x", {"tensor": "x"}]]})})  # whole, but not the one committed
    with pytest.raises(STSTError, match=r"checkpoint units-000000001\.safetensors cannot be used \(its checksum differs.*--overwrite"):
        StimulusStore(store.path).checkpoint()
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(STSTError, match="cannot be used"):
        StimulusStore(store.path).checkpoint()


def test_repair_remakes_only_the_damaged_frames_and_arrays(tmp_path):
    from stst_core import get_registry, write_video
    from stst_core.testing import run_cli

    video = write_video(clip(frames=4, size=16), tmp_path / "clip.npz")
    cls = get_registry("synthesizers").get("stst").factory
    command = ["synth", "stst", video, "-o", tmp_path / "s.zarr", "--preset", cls.quick_preset, *(f"--set={o}" for o in cls.quick_overrides), "--quiet"]
    run_cli(*command)
    store = StimulusStore(tmp_path / "s.zarr")
    frames, loss = store.video().frames.clone(), store.loss_history().values.copy()
    chunk = store.path / "video" / "c" / "1" / "0" / "0" / "0"
    intact = store.path / "video" / "c" / "3" / "0" / "0" / "0"
    untouched = intact.stat().st_mtime_ns
    chunk.unlink()
    loss_chunk = next(p for p in (store.path / "loss" / "c").rglob("*") if p.is_file())
    loss_chunk.write_bytes(b"\x00broken")
    assert set(StimulusStore(store.path).damage()) == {"video", "loss"}
    result = run_cli(*command, "--repair")
    assert result.output.startswith("repaired (video: 1 part(s); loss: 1 part(s))"), result.output
    repaired = StimulusStore(store.path)
    assert repaired.complete and repaired.damage() == {}
    assert torch.equal(repaired.video().frames, frames)
    np.testing.assert_array_equal(repaired.loss_history().values, loss)
    assert intact.stat().st_mtime_ns == untouched  # the intact frames were left alone
    assert not list(tmp_path.glob(".s.zarr.repairing-*"))  # the scratch run is gone
    assert run_cli(*command, "--repair").output.startswith("already complete")  # nothing to repair


def test_repair_refuses_when_the_run_does_not_reproduce_its_checksums(damaged):
    import zarr

    clip, store, damage = damaged
    damage(1, "deleted")
    group = zarr.open_group(str(store.path), mode="r+")
    manifest = dict(group.attrs["manifest"])
    manifest["video"] = {**manifest["video"], "0": "0" * 32}  # as if frame 0 had come out differently where it was made
    group.attrs["manifest"] = manifest
    with pytest.raises(STSTError, match=r"cannot be repaired here: making the run again does not reproduce its recorded video"):
        STPSSynthesizer({"content": clip}, seed=0).synthesize(store.path, repair=True, progress=False)
    assert StimulusStore(store.path).damage() == {"video": [0, 1]}  # nothing was changed
    assert not list(store.path.parent.glob(".s.zarr.repairing-*"))
    with pytest.raises(ConfigError, match="choose one"):
        STPSSynthesizer({"content": clip}, seed=0).synthesize(store.path, repair=True, overwrite=True, progress=False)


def test_an_attribute_update_is_one_write_of_zarr_json(tmp_path, monkeypatch):
    """zarr's attrs.update() rewrites zarr.json once per key: a kill between two left a counter without its checksum."""
    from zarr.storage import LocalStore

    store = create(tmp_path / "c.zarr")
    writes = []
    original = LocalStore.set

    async def counting(self, key, value):
        writes.append(key)
        return await original(self, key, value)

    monkeypatch.setattr(LocalStore, "set", counting)
    store.commit(1, rows=[], checkpoint={"x": torch.ones(2)}, elapsed=0.5)
    assert writes.count("zarr.json") == 1
    again = StimulusStore(store.path)
    assert again.units_done == 1 and torch.equal(again.checkpoint()["x"], torch.ones(2))


def test_resuming_removes_what_killed_writes_left(tmp_path):
    store = create(tmp_path / "c.zarr")
    store.commit(1, rows=[], checkpoint={"x": torch.ones(2)}, elapsed=0.5)
    folder = store.path / "checkpoint"
    (folder / ".tmpab12").write_bytes(b"half a checkpoint")
    (folder / "units-000000002.safetensors").write_bytes(b"written before the counter moved")
    (store.path / "loss" / "c" / "0.abc.partial").parent.mkdir(parents=True, exist_ok=True)
    (store.path / "loss" / "c" / "0.abc.partial").write_bytes(b"half a chunk")
    store.tidy()
    assert sorted(p.name for p in folder.iterdir()) == ["units-000000001.safetensors"]
    assert not list(store.path.rglob("*.partial"))
    assert torch.equal(StimulusStore(store.path).checkpoint()["x"], torch.ones(2))


def test_the_video_of_a_store_with_a_damaged_target_is_refused_too(damaged, tmp_path):
    from stst_core.testing import assert_cli_error

    _, store, _ = damaged
    (store.path / "target" / "c" / "0" / "0" / "0" / "0").unlink()
    assert_cli_error("export", store.path, tmp_path / "out.mp4", says=["is damaged", "target frame(s) 0 of 4"])
    assert_cli_error("extract", store.path, "-o", tmp_path / "a.zarr", "--backbone", "random-multiscale", "--quiet", says=["is damaged"])
    assert not (tmp_path / "out.mp4").exists()


# -- damaged running stores: what a resume would build on ------------------------------


def moving_texture(frames=4, size=16):
    """A smooth drifting pattern: a target STST's quick run clearly improves on (plain noise need not)."""
    t = torch.linspace(0, 1, size)
    video = [torch.stack([(torch.sin(6 * t[None, :] + 0.5 * k + c) * torch.cos(5 * t[:, None]) + 1) / 2 for c in range(3)]) for k in range(frames)]
    return Video(torch.stack(video, 1), fps=10, source="moving texture")


@pytest.fixture(scope="module")
def half_done(tmp_path_factory):
    """An STST run killed after its second commit (of four), and the uninterrupted run to compare with."""
    from stst_core import get_registry
    from stst_core.testing import commit_spans

    folder = tmp_path_factory.mktemp("half")
    cls = get_registry("synthesizers").get("stst").factory
    config = cls.resolve(cls.quick_preset, None, cls.quick_overrides)

    def make():
        return cls({"content": moving_texture()}, config, seed=0)

    with recorded_writes() as writes:
        make().synthesize(folder / "reference.zarr", progress=False)
    with kill_after_writes(commit_spans(writes)[1][-1]), pytest.raises(SimulatedKill):
        make().synthesize(folder / "half.zarr", progress=False)
    assert StimulusStore(folder / "half.zarr").units_done == 2
    return make, folder / "half.zarr", folder / "reference.zarr"


def _break(path, how):
    import zarr

    if how == "deleted frame":
        (path / "video" / "c" / "1" / "0" / "0" / "0").unlink()
    elif how == "altered frame":  # still finite, still decodes: only the checksum recorded with the commit knows
        group = zarr.open_group(str(path), mode="r+")
        group["video"][1] = np.asarray(group["video"][1]) * 0.5
    else:
        next((path / "checkpoint").iterdir()).unlink()


@pytest.mark.parametrize(
    "how, says",
    [
        ("deleted frame", r"video frame\(s\) 1 of 4 are missing or changed although the store is running"),
        ("altered frame", r"video frame\(s\) 1 of 4 are missing or changed although the store is running"),
        ("deleted checkpoint", r"the checkpoint units-000000002\.safetensors cannot be used \(it is missing\)"),
    ],
)
def test_a_damaged_running_store_is_refused_at_resume_and_repaired_bit_for_bit(half_done, tmp_path, how, says):
    from stst_core.testing import assert_cli_error, assert_same_run

    make, half, reference = half_done
    path = tmp_path / "s.zarr"
    shutil.copytree(half, path)
    _break(path, how)
    with pytest.raises(STSTError, match=says + ".*--repair"):  # not resumed into a complete store built on the damage
        make().synthesize(path, progress=False)
    assert StimulusStore(path).status == "running" and StimulusStore(path).units_done == 2
    if how != "deleted checkpoint":
        assert_cli_error("export", path, tmp_path / "out.mp4", says=["is damaged", "frame(s) 1 of 4"])  # not the frames before the hole
    repaired = make().synthesize(path, repair=True, progress=False)
    assert repaired.complete and repaired.damage() == {}
    assert_same_run(path, reference)
    assert not list(tmp_path.glob(".s.zarr.repairing-*"))


def test_a_repair_killed_at_any_write_is_finished_by_the_next_run(half_done, tmp_path):
    import subprocess

    from stst_core.testing import assert_same_run

    make, half, reference = half_done
    with recorded_writes() as writes:
        shutil.copytree(half, tmp_path / "counted.zarr")
        _break(tmp_path / "counted.zarr", "deleted frame")
        make().synthesize(tmp_path / "counted.zarr", repair=True, progress=False)
    for kill_at in (1, len(writes) // 2, len(writes) - 1):  # in the scratch run's creation, its run, the copy and resume
        path = tmp_path / f"killed-at-{kill_at}.zarr"
        shutil.copytree(half, path)
        _break(path, "deleted frame")
        with kill_after_writes(kill_at), pytest.raises(SimulatedKill):
            make().synthesize(path, repair=True, progress=False)
        assert not StimulusStore(path).complete  # nothing the repair left half-done is taken for a finished run
        finished = subprocess.Popen(["true"])
        finished.wait()
        abandoned = path.with_name(f".{path.name}.repairing-{finished.pid}-0123abcd")  # what a SIGKILL would leave
        shutil.copytree(half, abandoned)
        make().synthesize(path, repair=True, progress=False)
        assert_same_run(path, reference)
        assert not abandoned.exists()


def test_a_running_store_is_not_repaired_from_a_run_that_does_not_reproduce_it(half_done, tmp_path):
    import zarr

    make, half, _ = half_done
    path = tmp_path / "s.zarr"
    shutil.copytree(half, path)
    _break(path, "deleted frame")
    group = zarr.open_group(str(path), mode="r+")
    group.update_attributes({"checkpoint_sha256": "0" * 64})  # as if the run had come out differently where it was made
    with pytest.raises(STSTError, match="cannot be repaired here: making the run again does not reproduce its recorded checkpoint"):
        make().synthesize(path, repair=True, progress=False)
    assert StimulusStore(path).damage() == {"video": [1], "checkpoint": ["units-000000002.safetensors"]}  # nothing was changed


def test_every_commit_records_the_checksums_of_what_it_wrote(tmp_path):
    layout = StoreLayout(units_total=2, unit="step", samples=2, histories={"loss": Array(("step", "term"), (2, 1))}, coords={"term": ["a"]})
    store = create(tmp_path / "c.zarr", layout=layout)
    assert sorted(store.manifest) == ["target"] and len(store.manifest["target"]) == 3  # the input, from the start
    frames = np.random.default_rng(0).random((3, 3, 8, 8), dtype=np.float32)
    store.commit(1, rows=[("video", (1, slice(None)), frames), ("loss", slice(0, 1), np.ones((1, 1)))], checkpoint={}, elapsed=0.1)
    assert sorted(store.manifest["video"]) == ["1,0", "1,1", "1,2"] and list(store.manifest["loss"]) == ["0:1:"]
    store.commit(2, rows=[("video", (0, 2, 0), frames[0, 0])], checkpoint={}, elapsed=0.2)  # part of a frame: not vouched for
    assert "0,2" not in store.manifest["video"]
    assert store.damage() == {}
    group_loss = store.path / "loss" / "c" / "0" / "0"
    group_loss.unlink()
    assert store.damage() == {"loss": ["loss"]}
