"""The stimulus store: a generated video with its provenance, loss history and checkpoint.

A Zarr (format 3) group written through xarray, readable with plain
``xarray.open_zarr(path)``:

``video`` (time, channel, y, x) float32
    the generated frames in [0, 1]; NaN where not yet generated.
``target`` (time, channel, y, x) float32
    the input video the stimulus was made from, as the method saw it.
``loss`` (transition, step, term) float32
    the unweighted value of every loss term at every optimiser step.
``loss_weight`` (transition, octave, term) float32
    the weight each term had in each octave (after loss equalisation).
``evaluation`` (sample, time, term) float32
    every loss term at full resolution, frame by frame, for ``sample="result"``
    (the finished stimulus) and ``sample="noise"`` (uniform noise, the
    starting point): the measure of how far the optimisation went.
``checkpoint_*``
    what a killed run needs to resume exactly (method-specific).

Coordinates: ``time`` (output frame index), ``transition`` (the output frame
each optimisation produced; negative for burn-in transitions that are not
kept), ``step``, ``octave`` (of each step), ``term``.

Attributes: ``stst_store = "stimulus"``, ``method``, ``status`` (``running``,
``complete`` or ``failed``), ``config`` (the full resolved configuration as
JSON), ``seed``, ``device``, ``versions`` (JSON: toolkit, Python, torch, timm,
numpy, xarray, zarr, av), ``targets`` (JSON: for each role its source, shape,
fps and sha256 of the frames used), ``fps``, ``transitions_done``,
``transitions_total``, ``created``, ``updated``, ``elapsed_seconds``,
``message`` (why a run failed).

A run commits each transition by writing its frame, losses and checkpoint
first and the ``transitions_done`` counter last, so a crash at any moment
leaves a store that resumes from the last committed transition. The status
becomes ``complete`` only after the last transition is committed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import shutil
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import xarray as xr
import zarr

from .errors import ConfigError, STSTError
from .video import Video

STORE_KIND = "stimulus"
FORMAT_VERSION = 1
_PACKAGES = ("stst-toolkit", "torch", "timm", "numpy", "xarray", "zarr", "av")


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


def store_kind(path: str | Path) -> str | None:
    """The ``stst_store`` marker of the Zarr group at ``path`` (which kind of toolkit store), or None."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        return None
    try:
        return zarr.open_group(str(path), mode="r").attrs.get("stst_store")
    except Exception:  # unreadable or not a group: not one of ours
        return None


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a Zarr group with the stimulus-store marker."""
    return store_kind(path) == STORE_KIND


class StimulusStore:
    """Read and write access to one stimulus store on disk."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not is_store(self.path):
            raise STSTError(f"{self.path} is not a stimulus store (no Zarr group with stst_store='stimulus')")
        self._group = zarr.open_group(str(self.path), mode="r+")

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
        transitions: Sequence[int],
        steps: int,
        step_octave: Sequence[int],
        octaves: int,
        terms: Sequence[str],
        checkpoint: Mapping[str, tuple[tuple[str, ...], np.ndarray]],
        overwrite: bool = False,
    ) -> "StimulusStore":
        """Create an empty store for a run (refusing to replace anything that is not a stimulus store)."""
        path = Path(path)
        if path.exists():
            if not is_store(path):
                raise STSTError(f"{path} exists and is not a stimulus store; refusing to overwrite it. Choose another output path.")
            if not overwrite:
                raise STSTError(f"{path} already holds a stimulus store; pass overwrite=True to replace it")
            shutil.rmtree(path)
        channels, frames, height, width = target.shape
        empty = np.full((frames, channels, height, width), np.nan, np.float32)
        data = {
            "video": (("time", "channel", "y", "x"), empty),
            "target": (("time", "channel", "y", "x"), target.frames.detach().cpu().transpose(0, 1).numpy()),
            "loss": (("transition", "step", "term"), np.full((len(transitions), steps, len(terms)), np.nan, np.float32)),
            "loss_weight": (("transition", "octave", "term"), np.full((len(transitions), octaves, len(terms)), np.nan, np.float32)),
            "evaluation": (("sample", "time", "term"), np.full((2, frames, len(terms)), np.nan, np.float32)),
        }
        for name, (dims, array) in checkpoint.items():
            data[f"checkpoint_{name}"] = (dims, array)
        coords = {
            "time": np.arange(frames),
            "channel": _strings(["R", "G", "B"][:channels]),
            "transition": np.asarray(transitions),
            "step": np.arange(steps),
            "step_octave": ("step", np.asarray(step_octave)),
            "octave": np.arange(octaves),
            "term": _strings(terms),
            "sample": _strings(["noise", "result"]),
        }
        attrs = {
            "stst_store": STORE_KIND,
            "format_version": FORMAT_VERSION,
            "method": method,
            "status": "running",
            "config": json.dumps(config, sort_keys=True),
            "seed": int(seed),
            "device": str(device),
            "versions": json.dumps(toolkit_versions(), sort_keys=True),
            "targets": json.dumps({role: video_fingerprint(v) for role, v in targets.items()}, sort_keys=True),
            "fps": float(target.fps),
            "transitions_done": 0,
            "transitions_total": len(transitions),
            "steps_done": 0,
            "created": _now(),
            "updated": _now(),
            "elapsed_seconds": 0.0,
            "message": "",
        }
        dataset = xr.Dataset(data, coords=coords, attrs=attrs)
        # one chunk per frame: each transition then touches whole chunks only
        encoding = {
            "video": {"chunks": (1, channels, height, width)},
            "target": {"chunks": (1, channels, height, width)},
            "loss": {"chunks": (1, steps, len(terms))},
        }
        with warnings.catch_warnings():
            # zarr notes that consolidated metadata is not yet in the v3 spec; xarray
            # reads it, and it spares every reader a warning and a slow open
            warnings.simplefilter("ignore")
            dataset.to_zarr(str(path), mode="w", zarr_format=3, consolidated=True, encoding=encoding)
        return cls(path)

    # -- reading ---------------------------------------------------------------------

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._group.attrs)

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
    def transitions_done(self) -> int:
        return int(self._group.attrs["transitions_done"])

    @property
    def steps_done(self) -> int:
        """Optimiser steps committed so far by a whole-clip method (see :meth:`commit_steps`)."""
        return int(self._group.attrs.get("steps_done", 0))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self._group.attrs["config"])

    @property
    def targets(self) -> dict[str, Any]:
        return json.loads(self._group.attrs["targets"])

    def checkpoint(self) -> dict[str, np.ndarray]:
        return {name[len("checkpoint_") :]: self._group[name][...] for name in self._group.array_keys() if name.startswith("checkpoint_")}

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(T, C, H, W)`` of the generated video."""
        return tuple(self._group["video"].shape)

    def frame(self, index: int) -> np.ndarray:
        return self._group["video"][index]

    def video(self) -> Video:
        """The generated frames as a :class:`Video` (only complete stores, or the frames done so far)."""
        frames = np.asarray(self._group["video"][...])
        done = int(np.isfinite(frames).all(axis=(1, 2, 3)).sum())
        if done == 0:
            raise STSTError(f"{self.path} holds no generated frame yet")
        clip = torch.from_numpy(np.ascontiguousarray(frames[:done].transpose(1, 0, 2, 3)))
        return Video(clip, float(self._group.attrs["fps"]), str(self.path))

    def target(self) -> Video:
        frames = np.asarray(self._group["target"][...])
        return Video(torch.from_numpy(np.ascontiguousarray(frames.transpose(1, 0, 2, 3))), float(self._group.attrs["fps"]), f"{self.path}:target")

    def loss_history(self) -> xr.DataArray:
        with xr.open_zarr(str(self.path)) as dataset:
            return dataset["loss"].load()

    # -- writing ---------------------------------------------------------------------

    def commit_transition(
        self,
        index: int,
        *,
        frame: np.ndarray | None,
        time: int | None,
        losses: np.ndarray,
        weights: np.ndarray,
        checkpoint: Mapping[str, np.ndarray],
        elapsed: float,
    ) -> None:
        """Write one finished transition; the ``transitions_done`` counter moves last."""
        if frame is not None:
            self._group["video"][time] = frame
        self._group["loss"][index] = losses
        self._group["loss_weight"][index] = weights
        for name, array in checkpoint.items():
            self._group[f"checkpoint_{name}"][...] = array
        self._group.attrs.update({"transitions_done": index + 1, "updated": _now(), "elapsed_seconds": float(elapsed)})

    def commit_steps(
        self,
        start: int,
        *,
        losses: np.ndarray,
        weights: np.ndarray,
        checkpoint: Mapping[str, np.ndarray],
        elapsed: float,
    ) -> None:
        """For methods that optimise a whole clip at once: record steps ``start…`` and a checkpoint.

        ``losses`` has one row per step taken since ``start``; the ``steps_done``
        counter moves last, so a crash leaves the previous checkpoint valid.
        """
        self._group["loss"][0, start : start + len(losses)] = losses
        self._group["loss_weight"][0] = weights
        for name, array in checkpoint.items():
            self._group[f"checkpoint_{name}"][...] = array
        self._group.attrs.update({"steps_done": start + len(losses), "updated": _now(), "elapsed_seconds": float(elapsed)})

    def write_video(self, frames: np.ndarray) -> None:
        """Store the finished frames ``(time, channel, y, x)`` of a whole-clip method."""
        self._group["video"][...] = frames

    def write_evaluation(self, noise: np.ndarray, result: np.ndarray) -> None:
        """Store the full-resolution loss terms ``(time, term)`` of the noise start and of the result."""
        self._group["evaluation"][...] = np.stack([noise, result]).astype(np.float32)

    def evaluation(self) -> xr.DataArray:
        with xr.open_zarr(str(self.path)) as dataset:
            return dataset["evaluation"].load()

    def update_attrs(self, values: Mapping[str, Any]) -> None:
        """Add a method's own attributes (JSON values; prefix the names with the method's, e.g. ``stps_``)."""
        reserved = {"method", "status", "message", "config", "targets", "transitions_done", "steps_done", "fps", "seed"} & set(values)
        if reserved:
            raise STSTError(f"{', '.join(sorted(reserved))}: the store's own attributes; give a method's attributes its own prefix")
        self._group.attrs.update(dict(values))

    def set_status(self, status: str, message: str = "") -> None:
        self._group.attrs.update({"status": status, "message": message, "updated": _now()})

    def check_compatible(self, *, method: str, config: Mapping[str, Any], seed: int, targets: Mapping[str, Video]) -> None:
        """Raise :class:`ConfigError` if resuming this store with these settings would mix two runs."""
        from .config import describe_differences

        problems = []
        if self.method != method:
            problems.append(f"method: {self.method!r} → {method!r}")
        problems += describe_differences(self.config, json.loads(json.dumps(config, sort_keys=True)))
        if int(self._group.attrs["seed"]) != int(seed):
            problems.append(f"seed: {self._group.attrs['seed']} → {seed}")
        stored_targets = self.targets
        for role, video in targets.items():
            if stored_targets.get(role, {}).get("sha256") != video_fingerprint(video)["sha256"]:
                problems.append(f"target {role!r}: different frames than {stored_targets.get(role, {}).get('source')!r}")
        if problems:
            raise ConfigError(
                f"{self.path} was made by an incompatible run, so it cannot be resumed ({'; '.join(problems)}). "
                "Pass --overwrite to start again, or choose another output path."
            )


def open_store(path: str | Path) -> StimulusStore:
    """Open an existing stimulus store for reading and writing."""
    return StimulusStore(path)
