"""The stimulus store: a generated video with its provenance, the histories its method declares, and a checkpoint.

A Zarr (format 3) group written through xarray, readable with plain
``xarray.open_zarr(path)``. What every stimulus has (the core's part):

``video`` (time, channel, y, x) float32, or (sample, time, channel, y, x)
    the generated frames in [0, 1]; NaN where not yet generated. Methods that
    make several samples (chains) per target declare ``samples`` and get the
    leading ``sample`` dimension.
``target`` (time, channel, y, x) float32
    the input video (role ``content``) as the method saw it; other roles are
    identified by hash in the ``targets`` attribute.

and, declared by the method in its :class:`StoreLayout`:

histories
    arrays filled as the run goes (STST: ``loss`` (transition, step, term) and
    ``loss_weight`` (transition, octave, term); a whole-clip optimisation:
    ``loss`` (step, term)), with the method's own coordinates;
evaluations
    arrays written once the run is done (the optimised synthesizers'
    ``evaluation`` (evaluated, time, term): every term for the noise start and
    the result).

The checkpoint (what a killed run needs to resume exactly: the method's
tensors, the optimiser's state, every random generator's state) is a
safetensors file in the store's ``checkpoint/`` folder, which Zarr and xarray
do not see.

Attributes: ``stst_store = "stimulus"``, ``format_version``, ``method``,
``status`` (``running``, ``complete`` or ``failed``), ``message`` (why a run
failed or stopped), ``config`` (the full resolved configuration as JSON),
``seed``, ``device``, ``versions`` (JSON), ``targets`` (JSON: for each role its
source, shape, fps and sha256 of the frames used), ``fps``, ``unit`` (what one
unit of progress is: ``transition``, ``step``, …), ``units_done``,
``units_total``, ``histories`` and ``evaluations`` (the names of the method's
arrays), ``created``, ``updated``, ``elapsed_seconds``, ``checkpoint_sha256``
(of the checkpoint file that ``units_done`` names) and, once complete,
``manifest`` (checksums of what the store holds, recorded as it is written:
one per frame of ``video`` and ``target``, one per written region of every
other array; every reader, resume included, checks the parts it reads against
it, so a deleted, broken or altered chunk is found in a running store too).

Crash safety. :meth:`StimulusStore.create` writes into a hidden sibling folder
and renames it into place, so a store either exists whole or not at all. A
commit (:meth:`StimulusStore.commit`) writes, in this order: the method's rows
(each indexed by the units it covers, so writing one again gives the same
bytes), the checkpoint of the new ``units_done`` as a new file (renamed into
place), the ``units_done`` counter with the checksums of the rows (one atomic rewrite
of ``zarr.json``), and only then removes the previous checkpoint. A kill between any two of these
writes leaves the counter pointing at a checkpoint that is whole, so the next
run resumes to the result an uninterrupted run would have had. Every write
goes through :meth:`StimulusStore._write`, the one place where the tests inject
faults.

Stores of format 1 (before the layout was the method's) open for reading:
``video``, ``target``, ``loss_history`` and ``evaluation`` work on them, and
resuming one is refused with a message.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import uuid
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import xarray as xr
import zarr

from ._errors import ConfigError, STSTError
from ._files import atomic_output, settle_zarr, zarr_writes
from ._video import Video

STORE_KIND = "stimulus"
FORMAT_VERSION = 2
CHECKPOINT_FOLDER = "checkpoint"
_PACKAGES = ("stst-toolkit", "torch", "timm", "numpy", "xarray", "zarr", "av")
# attributes the store manages itself; a method's own attributes take a prefix
_RESERVED = frozenset(
    {
        "stst_store",
        "format_version",
        "method",
        "status",
        "message",
        "config",
        "seed",
        "device",
        "versions",
        "targets",
        "fps",
        "unit",
        "units_done",
        "units_total",
        "histories",
        "evaluations",
        "created",
        "updated",
        "elapsed_seconds",
        "checkpoint_sha256",
        "manifest",
    }
)


def toolkit_versions() -> dict[str, str]:
    """Versions of Python, the toolkit and its key dependencies, for provenance."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def video_fingerprint(video: Video) -> dict[str, Any]:
    """Identity of a target: where it came from, its shape and fps, and a hash of its frames."""
    frames = video.frames.detach().cpu().contiguous().numpy()
    return {
        "source": video.source,
        "shape": list(frames.shape),
        "fps": video.fps,
        "sha256": hashlib.sha256(frames.tobytes()).hexdigest(),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _strings(values: Sequence[str]) -> np.ndarray:
    # variable-length strings: zarr's fixed-width unicode type has no format-3 specification yet
    return np.array(list(values), dtype=object)


class DamagedMetadataError(STSTError):
    """A store's top-level ``zarr.json`` cannot be parsed: nothing in the store can be found, trusted or repaired."""

    def __init__(self, path: Path, cause: Exception):
        super().__init__(
            f"{path} is damaged: its metadata {path / 'zarr.json'} cannot be read ({type(cause).__name__}: {cause}), and without it "
            "the store can be neither used nor repaired; make it again (the synth command with --overwrite replaces a stimulus "
            "store; an activation store must be removed and extracted again)"
        )


def store_kind(path: str | Path) -> str | None:
    """The ``stst_store`` marker of the Zarr group at ``path`` (which kind of toolkit store), or None.

    Raises :class:`DamagedMetadataError` for a folder whose ``zarr.json`` is
    not JSON (truncated, overwritten): most likely one of our stores, damaged,
    which must not be taken for "no store here" (a folder of frames, say).
    """
    path = Path(path)
    metadata = path / "zarr.json"
    if not metadata.is_file():
        return None
    try:
        node = json.loads(metadata.read_bytes())  # a group's attributes are in its zarr.json: one parse, no zarr machinery
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise DamagedMetadataError(path, exc) from None
    if not isinstance(node, dict) or node.get("node_type") != "group" or not isinstance(node.get("attributes"), dict):
        return None  # an array, or some other JSON: not one of ours
    return node["attributes"].get("stst_store")


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a Zarr group with the stimulus-store marker."""
    return store_kind(path) == STORE_KIND


@dataclasses.dataclass(frozen=True)
class Array:
    """A float32 array a method declares in its store: its dims and shape (NaN until written).

    ``chunks`` defaults to one chunk per index of the first dimension, so a
    commit that writes one row rewrites whole chunks only.
    """

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...] | None = None

    def __post_init__(self):
        if len(self.dims) != len(self.shape):
            raise ConfigError(f"an array with dims {self.dims} needs {len(self.dims)} sizes, got shape {self.shape}")

    def empty(self) -> np.ndarray:
        return np.full(self.shape, np.nan, np.float32)

    def encoding(self) -> dict[str, Any]:
        return {"chunks": self.chunks or (1, *self.shape[1:])} if self.shape else {}


@dataclasses.dataclass
class StoreLayout:
    """The method's part of a store: its progress units, samples, arrays and coordinates.

    Parameters
    ----------
    units_total
        how many units of progress a complete run has (``units_done`` counts them).
    unit
        what one unit is, for people: ``"transition"``, ``"step"``, ``"iteration"``.
    samples
        how many videos the run makes from one target (Langevin chains, seeds);
        None: one video, with no ``sample`` dimension.
    histories, evaluations
        name → :class:`Array`; histories are written by commits, evaluations
        once the run is done.
    coords
        the coordinates of the method's dimensions, as ``xarray.Dataset`` takes
        them: ``{"step": values}`` or ``{"step_octave": ("step", values)}``.
    """

    units_total: int
    unit: str = "step"
    samples: int | None = None
    histories: Mapping[str, Array] = dataclasses.field(default_factory=dict)
    evaluations: Mapping[str, Array] = dataclasses.field(default_factory=dict)
    coords: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.units_total < 1:
            raise ConfigError(f"a run needs at least one unit of progress, got units_total={self.units_total}")
        if self.samples is not None and self.samples < 1:
            raise ConfigError(f"samples must be at least 1 (or None for one video), got {self.samples}")
        taken = {"video", "target"} & (set(self.histories) | set(self.evaluations))
        if taken or set(self.histories) & set(self.evaluations):
            raise ConfigError(f"array names must be unique and not 'video' or 'target': {sorted(taken or set(self.histories) & set(self.evaluations))}")


# -- checkpoints: nested state (tensors, numbers, lists, dicts) ↔ one safetensors file ------------


def flatten_state(state: Any, prefix: str = "") -> tuple[dict[str, torch.Tensor], Any]:
    """Split nested state into named tensors and a JSON skeleton that says where each one goes.

    Optimiser ``state_dict()`` output fits: dicts (with int or str keys),
    lists, tuples, tensors, NumPy arrays, numbers, strings and None.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(node, path):
        if isinstance(node, torch.Tensor):
            tensors[path] = node.detach().cpu().contiguous()
            return {"tensor": path}
        if isinstance(node, np.ndarray):
            tensors[path] = torch.from_numpy(np.ascontiguousarray(node))
            return {"array": path}
        if isinstance(node, Mapping):
            return {"dict": [[key, walk(value, f"{path}.{key}")] for key, value in node.items()]}
        if isinstance(node, (list, tuple)):
            return {"list" if isinstance(node, list) else "tuple": [walk(value, f"{path}.{i}") for i, value in enumerate(node)]}
        if node is None or isinstance(node, (bool, int, float, str)):
            return {"value": node}
        if isinstance(node, np.generic):
            return {"value": node.item()}
        raise STSTError(f"checkpoint state {path or '(top level)'}: cannot store a {type(node).__name__}; use tensors, arrays, numbers and strings")

    return tensors, walk(state, prefix)


def unflatten_state(tensors: Mapping[str, torch.Tensor], skeleton: Any) -> Any:
    """The inverse of :func:`flatten_state`."""
    ((kind, content),) = skeleton.items()
    if kind == "tensor":
        return tensors[content]
    if kind == "array":
        return tensors[content].numpy()
    if kind == "dict":
        return {key: unflatten_state(tensors, value) for key, value in content}
    if kind in ("list", "tuple"):
        items = [unflatten_state(tensors, value) for value in content]
        return items if kind == "list" else tuple(items)
    return content


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Write nested state to ``path`` (safetensors) through a temporary file renamed into place."""
    from safetensors.torch import save_file

    tensors, skeleton = flatten_state(dict(state))
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    save_file(tensors, str(temporary), metadata={"skeleton": json.dumps(skeleton)})
    os.replace(temporary, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        skeleton = json.loads(handle.metadata()["skeleton"])
        # fresh allocations: CPU reductions depend on a tensor's memory alignment, and a
        # tensor read from a file may sit at any offset, which would break bit-identical resume
        tensors = {name: handle.get_tensor(name).clone() for name in handle.keys()}
    return unflatten_state(tensors, skeleton)


def _digest(values: np.ndarray) -> str:
    """A checksum of an array's float32 values (NaN bytes included, so a partly filled history has one too)."""
    return hashlib.sha256(np.ascontiguousarray(values, np.float32).tobytes()).hexdigest()[:32]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


FRAMED = ("video", "target")  # arrays whose manifest holds one checksum per frame (the unit a repair re-makes)


def region_key(region: Any) -> str | None:
    """A region (an int, slice or Ellipsis, or a tuple of them) as the text the manifest keys it by; None for any other index."""
    parts = region if isinstance(region, tuple) else (region,)
    keys = []
    for part in parts:
        if part is Ellipsis:
            keys.append("...")
        elif isinstance(part, (int, np.integer)) and not isinstance(part, bool):
            keys.append(str(int(part)))
        elif isinstance(part, slice) and all(v is None or isinstance(v, (int, np.integer)) for v in (part.start, part.stop, part.step)):
            keys.append(":".join("" if v is None else str(int(v)) for v in (part.start, part.stop, part.step)))
        else:
            return None
    return ",".join(keys)


def parse_region(key: str) -> Any:
    """The region that :func:`region_key` wrote as ``key``."""

    def part(text: str):
        if text == "...":
            return Ellipsis
        if ":" in text:
            return slice(*(int(v) if v else None for v in text.split(":")))
        return int(text)

    parts = tuple(part(text) for text in key.split(","))
    return parts[0] if len(parts) == 1 else parts


def _frames_of(shape: Sequence[int], region: Any) -> tuple[list[tuple[int, ...]], bool]:
    """The frames (leading indices, in selection order) that ``region`` touches in an array ``(…, C, H, W)``, and whether it takes them whole."""
    lead = len(shape) - 3
    parts = region if isinstance(region, tuple) else (region,)
    if any(part is Ellipsis for part in parts):  # it stands for the dimensions not named
        at = next(i for i, part in enumerate(parts) if part is Ellipsis)
        parts = parts[:at] + (slice(None),) * (len(shape) - len(parts) + 1) + parts[at + 1 :]
    indices = np.arange(int(np.prod(shape[:lead]))).reshape(shape[:lead])[parts[:lead]]
    frames = [tuple(int(i) for i in np.unravel_index(flat, shape[:lead])) for flat in np.ravel(indices)]
    whole = all(isinstance(part, slice) and part == slice(None) for part in parts[lead:])
    return frames, whole


def _as_written(values: Any, shape: Sequence[int], region: Any) -> np.ndarray:
    """``values`` as an array of ``shape`` holds them at ``region`` once written (broadcast to the region, as float32)."""
    selected = np.broadcast_to(np.float32(0), shape)[region].shape
    return np.broadcast_to(np.asarray(values, np.float32), selected)


def _copy_whole(source: Path, destination: Path) -> None:
    with atomic_output(destination) as tmp:
        shutil.copyfile(source, tmp)


def _frame_key(frame: tuple[int, ...]) -> str:
    return ",".join(map(str, frame))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StimulusStore:
    """Read and write access to one stimulus store on disk."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not is_store(self.path):
            raise STSTError(f"{self.path} is not a stimulus store (no Zarr group with stst_store='stimulus')")
        self._group = zarr.open_group(str(self.path), mode="r+")
        self._replay_until: int | None = None  # a repair's scratch run stops after the commit of this unit

    # -- creation --------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        method: str,
        target: Video,
        config: Mapping[str, Any],
        seed: int,
        device: str,
        targets: Mapping[str, Video],
        layout: StoreLayout,
        checkpoint: Mapping[str, Any],
        overwrite: bool = False,
    ) -> "StimulusStore":
        """Create the store of a new run at ``path``, whole or not at all.

        ``checkpoint`` is the state at ``units_done = 0``. An existing stimulus
        store is replaced only with ``overwrite=True``; anything else at
        ``path`` is never touched.
        """
        path = Path(path)
        if path.exists():
            try:
                ours = is_store(path)
            except DamagedMetadataError:
                if not overwrite:
                    raise
                ours = True  # a store whose metadata is lost: replacing it is the only way out, and what --overwrite asks for
            if not ours:
                raise STSTError(f"{path} exists and is not a stimulus store; refusing to overwrite it. Choose another output path.")
            if not overwrite:
                raise STSTError(f"{path} already holds a stimulus store; pass overwrite=True to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_siblings(path)
        building = path.with_name(f".{path.name}.creating-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            with zarr_writes(path):  # a failed write ends whole before the folder is removed
                _write_new_store(building, method=method, target=target, config=config, seed=seed, device=device, targets=targets, layout=layout)
                (building / CHECKPOINT_FOLDER).mkdir()
                first = building / CHECKPOINT_FOLDER / _checkpoint_name(0)
                save_checkpoint(first, checkpoint)
                zarr.open_group(str(building), mode="r+").attrs["checkpoint_sha256"] = _file_digest(first)
                if path.exists():  # overwrite: move the old store aside first, so a crash loses neither
                    retired = path.with_name(f".{path.name}.replaced-{os.getpid()}-{uuid.uuid4().hex[:8]}")
                    os.replace(path, retired)
                    os.replace(building, path)
                    shutil.rmtree(retired, ignore_errors=True)
                else:
                    os.replace(building, path)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return cls(path)

    # -- reading ---------------------------------------------------------------------

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._group.attrs)

    @property
    def format_version(self) -> int:
        return int(self._group.attrs.get("format_version", 1))

    @property
    def method(self) -> str:
        return self._group.attrs["method"]

    @property
    def status(self) -> str:
        return self._group.attrs["status"]

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def unit(self) -> str:
        return self._group.attrs.get("unit", "transition")

    @property
    def units_done(self) -> int:
        attrs = self._group.attrs
        if "units_done" in attrs:
            return int(attrs["units_done"])
        # format 1 counted transitions (whole-clip methods counted steps instead, and only
        # their completion matters now: format 1 stores are not resumed)
        return self.units_total if self.complete else int(attrs.get("transitions_done", 0))

    @property
    def units_total(self) -> int:
        attrs = self._group.attrs
        return int(attrs["units_total"] if "units_total" in attrs else attrs.get("transitions_total", 0))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self._group.attrs["config"])

    @property
    def targets(self) -> dict[str, Any]:
        return json.loads(self._group.attrs["targets"])

    @property
    def samples(self) -> int | None:
        """How many videos the store holds (None: one, without a ``sample`` dimension)."""
        video = self._group["video"]
        return int(video.shape[0]) if len(video.shape) == 5 else None

    @property
    def shape(self) -> tuple[int, ...]:
        """``(T, C, H, W)`` of the generated video, or ``(S, T, C, H, W)`` with samples."""
        return tuple(self._group["video"].shape)

    def checkpoint(self) -> dict[str, Any]:
        """The state committed with the current ``units_done`` (empty for a store of format 1)."""
        if self.format_version < 2:
            return {}
        path = self._checkpoint_path()
        problem = self._checkpoint_problem()
        if problem is None:
            try:
                return load_checkpoint(path)
            except Exception as exc:  # noqa: BLE001 - a file without a recorded checksum fails in safetensors in many ways
                problem = str(exc)
        raise STSTError(
            f"{self.path} is damaged: the checkpoint {path.name} cannot be used ({problem}), so the run cannot resume; "
            "repair it with the same synth command and --repair, or make it again with --overwrite"
        )

    def _checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FOLDER / _checkpoint_name(self.units_done)

    def _checkpoint_problem(self) -> str | None:
        """Why the current checkpoint file is not the one committed (None: it is, or no checksum was recorded)."""
        path = self._checkpoint_path()
        if not path.is_file():
            return "it is missing"
        recorded = self._group.attrs.get("checkpoint_sha256")
        if recorded is not None and _file_digest(path) != recorded:
            return "its checksum differs from the one recorded when it was written"
        return None

    def frame(self, index: int) -> np.ndarray:
        return self._group["video"][index]

    def video(self, sample: int | None = None) -> Video:
        """The generated frames as a :class:`Video` (only complete stores, or the frames done so far).

        A store with samples needs ``sample`` (an index); ``store.samples`` says how many.
        """
        array = self._group["video"]
        if len(array.shape) == 5:
            if sample is None:
                raise STSTError(f"{self.path} holds {array.shape[0]} samples; choose one with sample=0…{array.shape[0] - 1} (--sample on the command line)")
            if not 0 <= sample < array.shape[0]:
                raise STSTError(f"{self.path} has samples 0…{array.shape[0] - 1}; there is no sample {sample}")
            frames = self._read("video", sample)
        else:
            if sample not in (None, 0):
                raise STSTError(f"{self.path} holds one video, so there is no sample {sample}")
            frames = self._read("video", ...)
        finite = np.isfinite(frames).all(axis=(1, 2, 3))
        self._check("video", frames, sample)  # of a running store: the frames committed so far
        # a video is used with what the store says of it: a damaged target or history refuses it too
        for name in self.array_names[1:]:
            self._check(name, self._read(name, ...))
        done = len(finite) if finite.all() else int(np.argmin(finite))  # the frames made so far come first
        if done == 0:
            raise STSTError(f"{self.path} holds no generated frame yet")
        clip = torch.from_numpy(np.ascontiguousarray(frames[:done].transpose(1, 0, 2, 3)))
        source = str(self.path) if sample is None else f"{self.path}[sample={sample}]"
        return Video(clip, float(self._group.attrs["fps"]), source)

    def target(self) -> Video:
        frames = self._read("target", ...)
        self._check("target", frames)
        return Video(torch.from_numpy(np.ascontiguousarray(frames.transpose(1, 0, 2, 3))), float(self._group.attrs["fps"]), f"{self.path}:target")

    @property
    def array_names(self) -> tuple[str, ...]:
        """``video``, ``target``, then the method's histories and evaluations."""
        attrs = self._group.attrs
        return ("video", "target", *attrs.get("histories", []), *attrs.get("evaluations", []))

    @property
    def manifest(self) -> dict[str, dict[str, str]]:
        """The checksums of what the store holds: array name → region key (:func:`region_key`; a frame's index for ``video`` and ``target``) → checksum."""
        manifest = self._group.attrs.get("manifest", {})
        # a store made before checksums were kept as they are written has none to check
        return {name: dict(entries) for name, entries in manifest.items() if isinstance(entries, dict)}

    def damage(self) -> dict[str, list]:
        """What of the store is missing, unreadable or changed since it was written: array name → the damaged parts.

        ``video`` and ``target`` list frame indices (``(sample, frame)`` pairs
        with samples); any other array lists ``[name]`` when it is damaged at
        all, and ``checkpoint`` (of a running store) the file's name. Of a
        running store, only what its commits wrote is checked: frames not yet
        made are not damage. An empty result means the store is whole.
        """
        damaged: dict[str, list] = {}
        for name in self.array_names:
            if name in FRAMED:
                values = self._read_frames(name)
            else:
                try:
                    values = np.asarray(self._group[name][...])
                except Exception:  # noqa: BLE001 - an undecodable chunk: the array is damaged
                    damaged[name] = [name]
                    continue
            parts = self._damaged_parts(name, values)
            if parts:
                damaged[name] = parts
        if not self.complete and self.format_version >= 2 and self._checkpoint_problem() is not None:
            damaged["checkpoint"] = [self._checkpoint_path().name]
        return damaged

    def _read_frames(self, name: str) -> np.ndarray:
        """A framed array read frame by frame: a frame whose chunk cannot be decoded reads as NaN (so it counts as missing)."""
        array = self._group[name]
        values = np.full(array.shape, np.nan, np.float32)
        for index in np.ndindex(*array.shape[:-3]):
            try:
                values[index] = array[index]
            except Exception:  # noqa: BLE001 - zarr and its codecs raise many kinds for a damaged file
                settle_zarr()  # the other chunks of that read still in flight end here, not at exit
        return values

    def verify(self) -> None:
        """Raise a clear :class:`STSTError` if any part of the store is missing, unreadable or changed since it was written."""
        damage = self.damage()
        if "checkpoint" in damage:
            self.checkpoint()
        for name in damage:
            self._check(name, self._read_frames(name) if name in FRAMED else self._read(name, ...))

    def _damaged_parts(self, name: str, values: np.ndarray, sample: int | None = None) -> list:
        """The damaged frames (video, target) or ``[name]`` (other arrays) of ``values`` (one ``sample`` of a framed array) against the manifest."""
        recorded = self.manifest.get(name, {})
        if name not in FRAMED:
            return [name] if any(_digest(values[parse_region(key)]) != digest for key, digest in recorded.items()) else []
        if values.ndim == 5:
            return [(s, t) for s in range(len(values)) for t in self._damaged_parts(name, values[s], s)]
        damaged = set()
        for key, digest in recorded.items():
            frame = parse_region(key)
            if sample is not None:  # keys of a store with samples are "sample,time"
                if frame[0] != sample:
                    continue
                frame = frame[1]
            if _digest(values[frame]) != digest:
                damaged.add(frame)
        if name == "target" or self.complete:  # written whole: any missing frame is damage (a store made before there were checksums has only this)
            damaged.update(int(i) for i in np.flatnonzero(~np.isfinite(values).all(axis=(1, 2, 3))))
        return sorted(damaged)

    def _check(self, name: str, values: np.ndarray, sample: int | None = None) -> None:
        parts = self._damaged_parts(name, values, sample)
        if not parts:
            return
        total = values.shape[-4] if name in FRAMED else None
        what = f"{name} frame(s) {_listing(parts)} of {total} are missing or changed" if name in FRAMED else f"its {name} array is missing values or changed"
        raise STSTError(
            f"{self.path} is damaged: {what} although the store is {self.status} (a deleted, broken or altered chunk file "
            f"under {self.path / name}); repair it with the same synth command and --repair, or make it again with --overwrite"
        )

    def seal(self) -> None:
        """Mark a finished run ``complete``, once every frame is written and everything matches its checksum.

        Refuses (and leaves the status alone) when a frame is missing (a run
        that wrote fewer frames than it has is not complete) or a part
        differs from what was written (damaged while the run went on).
        """
        for name in self.array_names:
            values = self._read(name, ...)
            self._check(name, values)
            if name in FRAMED:
                missing = ~np.isfinite(values).all(axis=tuple(range(values.ndim - 3, values.ndim)))
                if missing.any():
                    raise STSTError(
                        f"{self.path}: the run ended with {name} frame(s) {_listing(np.argwhere(missing).tolist())} not written; run the same command again"
                    )
        self._write_attrs({"status": "complete", "message": "", "updated": _now()})

    def rewrite(self, name: str, parts: Sequence, source: "StimulusStore") -> None:
        """Copy the ``parts`` of array ``name`` (as :meth:`damage` lists them) from ``source``, a store of the same run."""
        if name == "checkpoint":
            for part in parts:
                self._write("checkpoint", lambda: _copy_whole(source.path / CHECKPOINT_FOLDER / part, self.path / CHECKPOINT_FOLDER / part))
            return
        for part in parts:
            region = part if name in FRAMED else ...
            self._write_array(name, region, np.asarray(source._group[name][region]))

    def _read(self, name: str, selection) -> np.ndarray:
        """An array's values; a chunk file that cannot be decoded (truncated, overwritten) is a clear error, not a traceback."""
        try:
            return np.asarray(self._group[name][selection])
        except (KeyError, IndexError, STSTError):
            raise
        except Exception as exc:  # noqa: BLE001 - zarr and its codecs raise many kinds for one cause: a damaged file
            raise self._unreadable(name, exc) from None

    def _unreadable(self, name: str, exc: Exception) -> STSTError:
        """The error for array ``name`` whose chunk file cannot be decoded, once zarr's other reads of it have ended."""
        settle_zarr()  # the other chunks of that read still in flight end here, not with asyncio's complaints at exit
        return STSTError(
            f"{self.path} is damaged: its {name} cannot be read ({type(exc).__name__}: {exc}); "
            f"repair it with the same synth command and --repair, or make it again with --overwrite"
        )

    def array(self, name: str) -> xr.DataArray:
        """One of the store's arrays (a history or evaluation), loaded, with its coordinates (checked against the manifest)."""
        with xr.open_zarr(str(self.path)) as dataset:
            if name not in dataset:
                raise STSTError(f"{self.path} has no array {name!r}; it has {', '.join(sorted(dataset.data_vars))}")
            try:
                array = dataset[name].load()
            except Exception as exc:  # noqa: BLE001 - as in _read: a damaged chunk file
                raise self._unreadable(name, exc) from None
        if self.complete:
            self._check(name, array.values)
        return array

    def loss_history(self) -> xr.DataArray:
        """The ``loss`` history (every term at every step), in the method's own dims."""
        return self.array("loss")

    def evaluation(self) -> xr.DataArray:
        """Every term for the noise start and the result: dims ``(evaluated, time, term)``."""
        evaluation = self.array("evaluation")
        if self.format_version < 2:  # format 1 called this dimension "sample"
            evaluation = evaluation.rename(sample="evaluated")
        return evaluation

    # -- writing ---------------------------------------------------------------------

    def _write(self, what: str, action: Callable[[], None]) -> None:
        """Every write to the store passes here (``what`` names it): the place to inject faults."""
        with zarr_writes(self.path):
            action()

    def _write_array(self, name: str, region: Any, value: np.ndarray) -> None:
        def write():
            self._group[name][region] = value

        self._write(f"{name}[{region}]", write)

    def _write_attrs(self, values: Mapping[str, Any]) -> None:
        # one rewrite of zarr.json (through a temporary file and a rename): all of it or nothing.
        # Not attrs.update(), which zarr runs as one rewrite per key: a kill between two of them
        # left units_done moved and checkpoint_sha256 not, and the store could not resume
        self._write("attrs", lambda: self._group.update_attributes(dict(values)))

    def commit(
        self,
        units_done: int,
        *,
        rows: Sequence[tuple[str, Any, np.ndarray]] = (),
        checkpoint: Mapping[str, Any],
        elapsed: float,
    ) -> None:
        """Record progress up to ``units_done``: the method's rows, then the checkpoint, then the counter.

        ``rows`` are ``(array name, region, values)``: the frames and history
        rows of the units this commit covers (``region`` as in NumPy
        indexing). They must depend only on the run's state, so that a resumed
        run writes the same values again.
        """
        if self.format_version < 2:
            raise STSTError(f"{self.path} is a store of format {self.format_version}; this version cannot continue it")
        if not 0 < units_done <= self.units_total:
            raise STSTError(f"units_done must lie in 1…{self.units_total}, got {units_done}")
        previous = self.units_done
        for name, region, values in rows:
            self._write_array(name, region, values)
        folder = self.path / CHECKPOINT_FOLDER
        self._write("checkpoint", lambda: save_checkpoint(folder / _checkpoint_name(units_done), checkpoint))
        digest = _file_digest(folder / _checkpoint_name(units_done))
        self._write_attrs(
            {
                "units_done": int(units_done),
                "checkpoint_sha256": digest,
                "manifest": self._vouched(rows),
                "updated": _now(),
                "elapsed_seconds": float(elapsed),
            }
        )
        if previous != units_done:
            self._write("remove old checkpoint", lambda: (folder / _checkpoint_name(previous)).unlink(missing_ok=True))
        if self._replay_until == units_done:
            raise _ReplayReached

    def _vouched(self, rows: Sequence[tuple[str, Any, np.ndarray]]) -> dict[str, dict[str, str]]:
        """The manifest with the checksums of ``rows`` (as they were written) added."""
        manifest = self.manifest
        for name, region, values in rows:
            shape = self._group[name].shape
            entries = manifest.setdefault(name, {})
            if name in FRAMED:
                frames, whole = _frames_of(shape, region)
                if whole:
                    values = _as_written(values, shape, region).reshape(len(frames), *shape[-3:])
                for i, frame in enumerate(frames):  # a frame written in part is not vouched for
                    entries.pop(_frame_key(frame), None)
                    if whole:
                        entries[_frame_key(frame)] = _digest(values[i])
                continue
            key = region_key(region)
            if key == "...":
                entries.clear()
            if key is not None:
                entries[key] = _digest(_as_written(values, shape, region))
        return manifest

    def tidy(self) -> None:
        """Remove what killed writes left inside the store: temporary files and checkpoints the counter does not name.

        Only for the store's one writer (the lock held): zarr's ``*.partial``
        files, the hidden temporary files of a checkpoint being saved, and a
        checkpoint written just before a kill that kept the counter from moving.
        """
        current = _checkpoint_name(self.units_done)
        for leftover in self.path.rglob("*.partial"):
            leftover.unlink(missing_ok=True)
        folder = self.path / CHECKPOINT_FOLDER
        if folder.is_dir() and self.format_version >= 2:
            for entry in folder.iterdir():
                if entry.name != current and entry.is_file():
                    entry.unlink(missing_ok=True)

    def write(self, name: str, values: np.ndarray, region: Any = Ellipsis) -> None:
        """Write an array outside a commit (a finished run's evaluation or its frames), before the status says complete."""
        values = np.asarray(values, np.float32)
        self._write_array(name, region, values)
        self._write_attrs({"manifest": self._vouched([(name, region, values)])})

    def update_attrs(self, values: Mapping[str, Any]) -> None:
        """Add a method's own attributes (JSON values; prefix the names with the method's, e.g. ``stps_``)."""
        reserved = _RESERVED & set(values)
        if reserved:
            raise STSTError(f"{', '.join(sorted(reserved))}: the store's own attributes; give a method's attributes its own prefix")
        self._write_attrs(values)

    def set_status(self, status: str, message: str = "") -> None:
        self._write_attrs({"status": status, "message": message, "updated": _now()})

    def check_compatible(self, *, method: str, config: Mapping[str, Any], seed: int, targets: Mapping[str, Video]) -> None:
        """Raise :class:`ConfigError` if resuming this store with these settings would mix two runs."""
        from ._config import describe_differences

        if self.format_version != FORMAT_VERSION and not self.complete:
            raise ConfigError(
                f"{self.path} is an unfinished store of format {self.format_version}, which this version "
                f"(format {FORMAT_VERSION}) cannot continue. Pass --overwrite to start again, or choose another output path."
            )
        problems = []
        if self.method != method:
            problems.append(f"method: {self.method!r} → {method!r}")
        problems += describe_differences(self.config, json.loads(json.dumps(config, sort_keys=True)))
        if int(self._group.attrs["seed"]) != int(seed):
            problems.append(f"seed: {self._group.attrs['seed']} → {seed}")
        stored_targets = self.targets
        for role in sorted(set(stored_targets) | set(targets)):
            stored = stored_targets.get(role, {})
            if role not in targets:
                problems.append(f"target {role!r}: the store was made with {stored.get('source')!r}, none given now")
            elif stored.get("sha256") != video_fingerprint(targets[role])["sha256"]:
                problems.append(f"target {role!r}: different frames than {stored.get('source')!r}")
        if problems:
            raise ConfigError(
                f"{self.path} was made by an incompatible run, so it cannot be resumed ({'; '.join(problems)}). "
                "Pass --overwrite to start again, or choose another output path."
            )


class _ReplayReached(BaseException):
    """A repair's scratch run reached the unit of the store it re-makes (a BaseException, so that no method's ``except Exception`` stops it)."""


def _listing(parts: Sequence) -> str:
    shown = [str(tuple(p)) if isinstance(p, (list, tuple)) else str(p) for p in parts[:8]]
    return ", ".join(shown) + (", …" if len(parts) > 8 else "")


def _checkpoint_name(units_done: int) -> str:
    return f"units-{units_done:09d}.safetensors"


def _remove_abandoned_siblings(path: Path) -> None:
    """Hidden folders that a killed ``create`` (or overwrite) left beside ``path``."""
    for sibling in path.parent.glob(f".{path.name}.*-*-*"):
        try:
            pid = int(sibling.name.rsplit("-", 2)[1])
        except (IndexError, ValueError):
            continue
        if sibling.is_dir() and not _pid_alive(pid):
            shutil.rmtree(sibling, ignore_errors=True)


def _write_new_store(path: Path, *, method, target: Video, config, seed, device, targets, layout: StoreLayout) -> None:
    channels, frames, height, width = target.shape
    video_dims: tuple[str, ...] = ("time", "channel", "y", "x")
    video_shape: tuple[int, ...] = (frames, channels, height, width)
    if layout.samples is not None:
        video_dims, video_shape = ("sample", *video_dims), (layout.samples, *video_shape)
    video = Array(video_dims, video_shape, chunks=(1,) * (len(video_dims) - 3) + (channels, height, width))
    data = {
        "video": (video.dims, video.empty()),
        "target": (("time", "channel", "y", "x"), target.frames.detach().cpu().transpose(0, 1).numpy()),
    }
    encoding = {"video": video.encoding(), "target": {"chunks": (1, channels, height, width)}}
    for name, array in {**layout.histories, **layout.evaluations}.items():
        data[name] = (array.dims, array.empty())
        encoding[name] = array.encoding()
    coords = {"time": np.arange(frames), "channel": _strings(["R", "G", "B"][:channels])}
    if layout.samples is not None:
        coords["sample"] = np.arange(layout.samples)
    for name, value in layout.coords.items():
        if isinstance(value, tuple):
            dim, values = value
            coords[name] = (dim, _coordinate(values))
        else:
            coords[name] = _coordinate(value)
    attrs = {
        "stst_store": STORE_KIND,
        "format_version": FORMAT_VERSION,
        "method": method,
        "status": "running",
        "message": "",
        "config": json.dumps(config, sort_keys=True),
        "seed": int(seed),
        "device": str(device),
        "versions": json.dumps(toolkit_versions(), sort_keys=True),
        "targets": json.dumps({role: video_fingerprint(v) for role, v in targets.items()}, sort_keys=True),
        "fps": float(target.fps),
        "unit": layout.unit,
        "units_done": 0,
        "units_total": int(layout.units_total),
        "histories": list(layout.histories),
        "evaluations": list(layout.evaluations),
        "created": _now(),
        "updated": _now(),
        "elapsed_seconds": 0.0,
        "manifest": {"target": {_frame_key((t,)): _digest(frame) for t, frame in enumerate(data["target"][1])}},
    }
    dataset = xr.Dataset(data, coords=coords, attrs=attrs)
    with warnings.catch_warnings():
        # zarr notes that consolidated metadata is not yet in the v3 spec; xarray
        # reads it, and it spares every reader a warning and a slow open
        warnings.simplefilter("ignore")
        dataset.to_zarr(str(path), mode="w-", zarr_format=3, consolidated=True, encoding=encoding)


def _coordinate(values) -> np.ndarray:
    values = np.asarray(values)
    return _strings(values.tolist()) if values.dtype.kind in "US" else values


def open_store(path: str | Path) -> StimulusStore:
    """Open an existing stimulus store for reading and writing."""
    return StimulusStore(path)
