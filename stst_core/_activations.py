"""Activation stores: model activations of many stimuli, labelled, in one Zarr folder.

Written with zarr (format 3) in xarray's layout, so ``xarray.open_zarr(path)``
reads it without this toolkit:

- the ``stimulus`` dimension indexes stimuli; its coordinates are ``stimulus``
  (an id), ``source`` (the file it was read from), ``condition`` (``natural``,
  ``stst``, ``stps``… or a label of your choosing), ``source_stimulus`` (for a
  generated stimulus, the id of the natural video it was made from; empty for
  natural ones), ``sha256`` (of the frames the backbone saw) and
  ``preprocessing`` (JSON: the steps of ``stst extract`` that changed the
  stimulus' frames, ``{}`` for none);
- one variable per backbone layer, named ``<label>.<layer>`` (the label is the
  backbone's name unless ``label`` is given), with dims ``stimulus`` and then
  the layer's own axes in the order time, token, channel, y, x, each named
  ``<variable>.<axis>`` because layers differ in size (use
  :func:`activation_layer` for a view with plain dim names);
- every variable's attributes record what made its numbers (``MUST_MATCH``:
  backbone, plugin, a digest of the network's parameters and buffers, the
  options, the input normalisation, the layer, the pooling, the shape of the
  input), and where they came from (``PROVENANCE``: seed, weights tag or
  file and its checksum, versions, source, licence, paper, depth);
  the store's attributes hold ``stst_store = "activations"``, the format
  version and the versions of the toolkit and its dependencies.

Extraction streams stimuli batch by batch to disk, so memory stays bounded
however many stimuli there are. Extracting into an existing store appends new
stimuli along ``stimulus`` and adds new layers for the stimuli already there.
Rows are added to an existing variable only when every setting in
``MUST_MATCH`` agrees; the seed and the weights need not agree when the
network they build is the same (same digest), as a pretrained network is
whatever the seed. Everything is checked before the store is touched: a bad
input, an unknown layer, a mismatch with the store's existing contents or a
read-only path raises an error and leaves the store as it was.

Stores of format 1 (no per-stimulus ``preprocessing``, no seed or network
digest) stay readable; new layers and stimuli can be added to them (the store
becomes format 2, its earlier stimuli's ``preprocessing`` is ``"unknown"``),
but rows are not added to their variables, whose network cannot be checked.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import xarray as xr
import zarr
from tqdm.auto import tqdm

from ._backbone import Backbone, backbone_class, create_backbone
from ._device import resolve_device
from ._errors import STSTError
from ._files import zarr_writes
from ._lock import writing
from ._plugins import plugin_infos
from ._store import StimulusStore, is_store, store_kind, toolkit_versions, video_fingerprint
from ._video import Video, _check_int, _check_selection, _crop_shape, read_video
from ._weights import cached_path, is_weights_path, sha256sum

STORE_KIND = "activations"
FORMAT_VERSION = 2  # 2: per-stimulus preprocessing; seed, network digest, options and input shape per variable
AXIS_NAMES = {"T": "time", "N": "token", "C": "channel", "H": "y", "W": "x"}
AXIS_ORDER = "TNCHW"  # stored order after the stimulus axis
POOLS = {
    "none": "",
    "mean": "TNHW",  # everything but the channel axis
    "spatial-mean": "HW",
    "temporal-mean": "T",
}
COORDINATES = ("source", "condition", "source_stimulus", "sha256")  # in stores of every format
PREPROCESSING = "preprocessing"  # per-stimulus coordinate since format 2
UNRECORDED = "unknown"  # the preprocessing of stimuli written by format 1
CHUNK_BYTES = 1 << 20  # at least 1 MiB per chunk, so that large stores stay fast to read

# Variable attributes that decide its numbers: a run adds rows to a variable only when all of them agree
# (``dtype`` is the array's own). ``network_sha256`` stands for the weights, whatever their tag, file or seed.
MUST_MATCH = ("backbone", "plugin", "network_sha256", "options", "input_normalization", "layer", "pool", "dtype", "input_shape")
# What made the network, kept to say where the numbers came from; a difference in them matters exactly when the
# network differs, and is then named as its cause.
NETWORK_SETTINGS = ("seed", "weights", "weights_sha256")
PROVENANCE = (*NETWORK_SETTINGS, "weights_source", "licence", "paper", "versions", "layer_index", "layers_total", "axes")


@dataclass(frozen=True)
class Stimulus:
    """One stimulus to extract: where it comes from, how it is labelled, and how to read it again.

    Frames are not kept: ``load()`` reads them when their batch comes, so
    memory does not grow with the number of stimuli.
    """

    id: str
    source: str
    condition: str
    source_stimulus: str
    sha256: str
    shape: tuple[int, int, int, int]  # (C, T, H, W) as the backbone sees it
    preprocessing: str  # JSON: the steps that changed the frames (see Preprocessing)
    load: Callable[[], Video] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Preprocessing:
    """How ``stst extract`` cuts and scales an input before the backbone sees it, in this order.

    Frames ``start, start + stride, …`` (at most ``frames``); then resized so
    that the longer side is ``size``; then the central ``crop`` (height,
    width). Only the steps that change the frames are applied and recorded
    (:meth:`apply` returns them): ``--frames 8`` on a clip of 8 frames, or
    ``--size 112`` on frames already 112 pixels wide, is no step at all, so a
    stimulus store made at the size wanted is recorded as its own frames.
    """

    start: int = 0
    frames: int | None = None
    stride: int = 1
    size: int | None = None
    crop: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        # checked before any input is decoded, so that a mistake costs no time
        _check_selection(self.start, self.frames, self.stride, "preprocessing")
        if self.size is not None:
            _check_int("size", self.size, 1, "preprocessing")
        if self.crop is not None:
            object.__setattr__(self, "crop", _crop_shape(self.crop, "preprocessing"))

    def read(self, path: str | Path) -> tuple[Video, dict]:
        """Read a video file, decoding only up to the last frame kept; the frames and the steps that changed them."""
        return self._finish(read_video(path, start=self.start, num_frames=self._frames_to_select, stride=self.stride))

    def apply(self, video: Video) -> tuple[Video, dict]:
        """The frames of a video in memory, and the steps that changed them."""
        return self._finish(video.select(self.start, self._frames_to_select, self.stride))

    @property
    def _frames_to_select(self) -> int | None:
        # one frame more than asked for tells whether the cut removed any
        return None if self.frames is None else self.frames + 1

    def _finish(self, video: Video) -> tuple[Video, dict]:
        steps: dict = {}
        if self.start:
            steps["start"] = self.start
        if self.frames is not None and video.num_frames > self.frames:
            video = video.select(0, self.frames)
            steps["frames"] = self.frames
        if self.stride > 1 and video.num_frames > 1:
            steps["stride"] = self.stride
        if self.size is not None and max(video.height, video.width) != self.size:
            video = video.resized(self.size)
            steps["size"] = self.size
        if self.crop is not None and tuple(self.crop) != (video.height, video.width):
            video = video.center_cropped(self.crop)
            steps["crop"] = list(self.crop)
        return video, steps


def activation_layer(dataset: xr.Dataset, name: str) -> xr.DataArray:
    """A layer's activations with plain dim names (``stimulus``, ``time``, ``channel``, ``y``, ``x``…)."""
    array = dataset[name]
    return array.rename({dim: dim[len(name) + 1 :] for dim in array.dims if dim.startswith(name + ".")})


def is_activation_store(path: str | Path) -> bool:
    """Whether ``path`` is a Zarr group with the activation-store marker."""
    return store_kind(path) == STORE_KIND


class ActivationStore:
    """Read and write access to an activation store."""

    def __init__(self, path: str | Path, group: zarr.Group):
        self.path = Path(path)
        self._group = group

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False) -> "ActivationStore":
        path = Path(path)
        if path.exists():
            if not is_activation_store(path):
                raise STSTError(f"{path} exists and is not an activation store; choose another output path")
            # the writer bypasses consolidated metadata, which resizes would make stale
            store = cls(path, zarr.open_group(str(path), mode="r+", use_consolidated=False))
            if store.format_version > FORMAT_VERSION:
                raise STSTError(
                    f"{path} is an activation store of format {store.format_version}, newer than this toolkit writes "
                    f"({FORMAT_VERSION}); update stst-toolkit, or extract into another store"
                )
            return store
        if not create:
            raise STSTError(f"no activation store at {path}")
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        # update_attributes: one write of zarr.json (attrs.update() writes it once per key)
        group.update_attributes({"stst_store": STORE_KIND, "format_version": FORMAT_VERSION, "versions": json.dumps(toolkit_versions())})
        for name in ("stimulus", *COORDINATES, PREPROCESSING):
            group.create_array(name, shape=(0,), dtype=str, chunks=(4096,), dimension_names=("stimulus",))
        store = cls(path, group)
        store.consolidate()
        return store

    # -- reading ---------------------------------------------------------------------

    @property
    def format_version(self) -> int:
        return int(self._group.attrs.get("format_version", 1))

    @property
    def stimulus_ids(self) -> list[str]:
        return [str(v) for v in self._group["stimulus"][...]]

    def coordinate(self, name: str) -> list[str]:
        """A per-stimulus coordinate; ``preprocessing`` of a format-1 store is ``"unknown"`` for every stimulus."""
        if name == PREPROCESSING and PREPROCESSING not in self._group:
            return [UNRECORDED] * len(self.stimulus_ids)
        return [str(v) for v in self._group[name][...]]

    @property
    def variables(self) -> list[str]:
        return sorted(n for n in self._group.array_keys() if n not in ("stimulus", *COORDINATES, PREPROCESSING))

    def variable(self, name: str) -> zarr.Array:
        return self._group[name]

    # -- writing ---------------------------------------------------------------------

    def upgrade(self) -> None:
        """Make a format-1 store format 2: its stimuli get the ``preprocessing`` coordinate, ``"unknown"``.

        Its variables are left as they are; without a network digest they take no new rows.
        """
        if self.format_version >= FORMAT_VERSION:
            return
        count = len(self.stimulus_ids)
        array = self._group.create_array(PREPROCESSING, shape=(count,), dtype=str, chunks=(4096,), dimension_names=("stimulus",))
        if count:
            array[:] = np.array([UNRECORDED] * count, dtype=object)
        self._group.attrs["format_version"] = FORMAT_VERSION

    def append_stimuli(self, stimuli: Sequence[Stimulus]) -> None:
        """Add stimuli along ``stimulus``; every variable grows with empty (NaN) rows for them."""
        if not stimuli:
            return
        start = len(self.stimulus_ids)
        count = start + len(stimuli)
        columns = [("stimulus", [s.id for s in stimuli])] + [(c, [getattr(s, c) for s in stimuli]) for c in (*COORDINATES, PREPROCESSING)]
        for name, values in columns:
            array = self._group[name]
            array.resize((count,))
            array[start:count] = np.array(values, dtype=object)
        for name in self.variables:
            array = self._group[name]
            array.resize((count, *array.shape[1:]))

    def create_variable(self, name: str, dims: Sequence[str], shape: Sequence[int], dtype: str, attrs: dict) -> zarr.Array:
        rows = len(self.stimulus_ids)
        row_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        chunk_rows = max(1, min(256, math.ceil(CHUNK_BYTES / max(row_bytes, 1))))
        array = self._group.create_array(
            name,
            shape=(rows, *shape),
            dtype=dtype,
            chunks=(chunk_rows, *shape),
            fill_value=np.nan,
            dimension_names=("stimulus", *dims),
        )
        # CF convention: xarray then shows the stimulus labels as coordinates of this variable
        array.update_attributes({**attrs, "coordinates": " ".join((*COORDINATES, PREPROCESSING))})
        return array

    def consolidate(self) -> None:
        with warnings.catch_warnings():
            # zarr notes that consolidated metadata is not yet in the format-3 specification
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.path))


# -- inputs ----------------------------------------------------------------------------


def load_inputs(
    paths: Sequence[str | Path],
    *,
    condition: str | None = None,
    ids: Sequence[str] | None = None,
    include_targets: bool = False,
    start: int = 0,
    frames: int | None = None,
    stride: int = 1,
    size: int | None = None,
    crop: int | tuple[int, int] | None = None,
) -> list[Stimulus]:
    """Read every input once, label it, and check that ids are unique.

    A video file is ``condition`` (default ``"natural"``); a stimulus store is
    its method's name (``"stst"``, ``"stps"``…) unless ``condition`` is given,
    and its ``source_stimulus`` is the id of the video it was made from. With
    ``include_targets`` the target of every stimulus store is added too, as a
    natural stimulus (once, however many stores share it). Every input is
    cut to ``frames`` from ``start`` every ``stride``, resized so that its
    longer side is ``size`` and centre-cropped to ``crop`` (``(height,
    width)`` or one number), in that order; each stimulus records the steps
    that changed its frames (see :class:`Preprocessing`).
    """
    if ids is not None and len(ids) != len(paths):
        raise STSTError(f"got {len(ids)} ids for {len(paths)} inputs; give one id per input or none")
    preprocessing = Preprocessing(start, frames, stride, size, crop)
    stimuli: list[Stimulus] = []
    for i, path in enumerate(paths):
        path = Path(path)
        if is_store(path):
            store = StimulusStore(path)
            if not store.complete:
                raise STSTError(f"{path} is not complete ({store.status}); finish it first (run its synth command again)")
            content = store.targets.get("content", {}).get("source") or ""
            natural_id = Path(content).stem if content else ""
            stimuli.append(
                _stimulus(
                    lambda p=path: preprocessing.apply(StimulusStore(p).video()),
                    ids[i] if ids else path.stem,
                    str(path),
                    condition or store.method,
                    natural_id,
                )
            )
            if include_targets:
                stimuli.append(
                    _stimulus(
                        lambda p=path: preprocessing.apply(StimulusStore(p).target()),
                        natural_id or f"{path.stem}-target",
                        content or f"{path}:target",
                        "natural",
                        "",
                    )
                )
        else:
            stimuli.append(_stimulus(lambda p=path: preprocessing.read(p), ids[i] if ids else path.stem, str(path), condition or "natural", ""))
    unique: dict[str, Stimulus] = {}
    for stimulus in stimuli:
        other = unique.get(stimulus.id)
        if other is None:
            unique[stimulus.id] = stimulus
        elif other.sha256 != stimulus.sha256:
            raise STSTError(
                f"two inputs would both be stimulus {stimulus.id!r} ({other.source} and {stimulus.source}) but hold "
                "different frames; rename one of the files or pass --id for each input"
            )
    return list(unique.values())


def _stimulus(prepare: Callable[[], tuple[Video, dict]], stimulus_id: str, source: str, condition: str, source_stimulus: str) -> Stimulus:
    video, steps = prepare()  # read once now for its identity and shape, again when its batch is extracted
    return Stimulus(
        stimulus_id,
        source,
        condition,
        source_stimulus,
        video_fingerprint(video)["sha256"],
        video.shape,
        json.dumps(steps),
        lambda: prepare()[0],
    )


# -- provenance ------------------------------------------------------------------------


def network_sha256(net: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer of ``net``: name, dtype, shape and values.

    Two networks with the same digest compute the same function given the
    same code and options, whatever tag, file or seed built them; a seed
    changes it exactly when some weights are random. Non-persistent buffers
    count too (filters and normalisation constants built in code).

    Examples
    --------
    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> network_sha256(a) == network_sha256(b)
    False
    >>> _ = b.load_state_dict(a.state_dict())
    >>> network_sha256(a) == network_sha256(b)
    True
    """
    digest = hashlib.sha256()
    tensors = {**dict(net.named_parameters()), **dict(net.named_buffers())}
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensors[name].shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _option_defaults(backbone: str) -> dict:
    """The keyword options of a backbone's factory that have defaults, with them."""
    try:
        parameters = inspect.signature(backbone_class(backbone)).parameters.values()
    except (TypeError, ValueError):
        parameters = []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p.default for p in parameters if p.kind in kinds and p.default is not p.empty and p.name not in ("weights", "variant")}


def _resolved_options(backbone: str, options: dict, resolved: dict | None = None) -> str:
    """The options the factory ran with, its defaults filled in, as canonical JSON.

    ``--option levels=4`` where 4 is the default builds the same network as no option.
    A text option the backbone resolves itself (vgg19's ``normalization="auto"``)
    is recorded as resolved, from its card's ``extra`` (``resolved``), so that a
    new default that builds the same network matches the stores made before it.
    """
    chosen = {**_option_defaults(backbone), **options}
    chosen.update({key: value for key, value in (resolved or {}).items() if isinstance(chosen.get(key), str) and isinstance(value, str)})
    return json.dumps(chosen, sort_keys=True, default=str)


def _weights_sha256(net: Backbone, backbone: str, weights: str | None) -> str:
    """sha256 of the weights file the network read (the user's, or a tag's cached download); empty for weights built in code."""
    path = getattr(getattr(net, "resolved_weights", None), "path", None)
    if path is None:  # a backbone that resolves its weights itself
        chosen = weights if weights is not None else net.card.weights
        choices = getattr(backbone_class(backbone), "weights_choices", ())
        file = next((c.file for c in choices if c.tag == chosen and getattr(c, "file", None) is not None), None)
        path = Path(chosen).expanduser() if is_weights_path(chosen) else cached_path(file) if file is not None else None
    return sha256sum(path) if path is not None and Path(path).is_file() else ""


def _versions(net: Backbone) -> str:
    versions = toolkit_versions()
    info = next((i for i in plugin_infos() if i.name == getattr(net, "plugin", None)), None)
    if info is not None and info.distribution and info.distribution not in versions:
        versions[info.distribution] = info.version or "unknown"
    return json.dumps(versions)


def network_record(net: Backbone, *, backbone: str, weights: str | None, seed: int, options: dict | None) -> dict:
    """The attributes a variable records about the network that made it (see ``MUST_MATCH`` and ``PROVENANCE``)."""
    card = net.card.as_attrs()
    return {
        **card,
        "plugin": str(getattr(net, "plugin", None) or ""),
        "network_sha256": network_sha256(net),
        "options": _resolved_options(backbone, dict(options or {}), dict(net.card.extra)),
        "seed": int(seed),
        "weights_sha256": _weights_sha256(net, backbone, weights),
        "versions": _versions(net),
    }


# -- extraction ------------------------------------------------------------------------


def stored_layout(net: Backbone, layer_name: str, output_shape: Sequence[int], pool: str) -> tuple[list[str], list[int], list[int]]:
    """Axes kept (in stored order), their sizes, and the permutation from the output's axes."""
    axes = net.layers[layer_name].axes
    if len(axes) != len(output_shape) - 1:
        raise STSTError(f"layer {layer_name!r} declares axes {axes!r} but its output has shape {tuple(output_shape)}")
    kept = [a for a in AXIS_ORDER if a in axes and a not in POOLS[pool]]
    order = [axes.index(a) + 1 for a in kept]
    return kept, [output_shape[i] for i in order], order


def extract(
    stimuli: Sequence[Stimulus],
    output: str | Path,
    *,
    backbone: str,
    weights: str | None = None,
    layers: Sequence[str] | str | None = None,
    pool: str = "none",
    batch: int = 1,
    dtype: str = "float32",
    label: str | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    options: dict | None = None,
    progress: bool = True,
) -> ActivationStore:
    """Run a backbone over stimuli and write their activations into the store at ``output``.

    Parameters
    ----------
    stimuli
        From :func:`load_inputs`; all of one shape ``(C, T, H, W)``.
    output
        The activation store: created, or extended with new stimuli and layers.
    backbone, weights, options, seed
        As for :func:`~stst_core.create_backbone`.
    layers
        Layer names, ``"all"``, or None for the backbone's default layers.
    pool
        One of ``POOLS``: the axes averaged before storing.
    batch
        Stimuli per forward pass.
    dtype
        ``"float32"`` or ``"float16"``, the stored type.
    label
        Prefix of the variable names (default: the backbone's name); another
        label keeps another network's activations beside these.
    device
        Where the backbone runs.
    progress
        Show a progress bar.

    Raises
    ------
    STSTError
        Before anything is written: when an existing variable was made with
        other settings (any of ``MUST_MATCH``: another network, whether by
        seed, weights or options, another pool, dtype or input shape), naming
        each difference; when a stimulus id already in the store holds other
        frames; when a variable of a format-1 store would take new rows.
    """
    if pool not in POOLS:
        raise STSTError(f"pool must be one of {', '.join(POOLS)}; got {pool!r}")
    if dtype not in ("float32", "float16"):
        raise STSTError(f"dtype must be float32 or float16; got {dtype!r}")
    if batch < 1:
        raise STSTError(f"batch must be at least 1; got {batch}")
    if not stimuli:
        raise STSTError("no stimuli to extract")
    device = resolve_device(device)
    output = Path(output)
    _check_writable(output)
    net = create_backbone(backbone, weights=weights, device=device, seed=seed, **(options or {}))
    names = net.resolve_layers(layers if layers != "all" else list(net.layers))
    shapes = {s.shape for s in stimuli}
    if len(shapes) > 1:
        listing = "; ".join(f"{s.id}: {s.shape[1]} frames of {s.shape[2]}x{s.shape[3]}" for s in stimuli[:6])
        raise STSTError(f"stimuli differ in size ({listing}); give them one size with --frames, --size and --crop")
    input_shape = next(iter(shapes))
    output_shapes = net.output_shapes((1, *input_shape), names)
    # after a forward pass, so that parameters a network builds lazily are in its digest
    record = network_record(net, backbone=backbone, weights=weights, seed=seed, options=options)
    label = label or backbone.lower()
    all_layers = list(net.layers)
    plans = {}
    for name in names:
        kept, sizes, order = stored_layout(net, name, output_shapes[name], pool)
        attrs = {
            **record,
            "layer": name,
            "axes": "".join(kept),
            "layer_index": all_layers.index(name),
            "layers_total": len(all_layers),
            "pool": pool,
            "input_shape": list(input_shape),
        }
        plans[f"{label}.{name}"] = (name, kept, sizes, order, attrs)

    with writing(output, "extract into"):  # one writer per store, from the compatibility check to the last row
        store = ActivationStore.open(output, create=False) if output.exists() else None
        if store is not None:
            _check_compatible(store, stimuli, plans, dtype, label)
        # -- from here on the store is written -------------------------------------------
        with zarr_writes(output):  # a full disk is one line naming the store, with no write left running
            store = store or ActivationStore.open(output, create=True)
            store.upgrade()
            known = set(store.stimulus_ids)
            store.append_stimuli([s for s in stimuli if s.id not in known])
            index = {sid: i for i, sid in enumerate(store.stimulus_ids)}
            arrays = {}
            for variable, (name, kept, sizes, order, attrs) in plans.items():
                if variable in store.variables:
                    arrays[variable] = store.variable(variable)
                else:
                    dims = [f"{variable}.{AXIS_NAMES[a]}" for a in kept]
                    arrays[variable] = store.create_variable(variable, dims, sizes, dtype, attrs)
            store.consolidate()
            with torch.no_grad(), tqdm(total=len(stimuli), unit="stimulus", disable=not progress, desc=f"extract {label}") as bar:
                for first in range(0, len(stimuli), batch):
                    group = stimuli[first : first + batch]
                    clip = torch.stack([s.load().frames for s in group]).to(device)
                    outputs = net(clip, names)
                    for variable, (name, kept, sizes, order, attrs) in plans.items():
                        values = outputs[name]
                        pooled_axes = [i + 1 for i, a in enumerate(net.layers[name].axes) if a in POOLS[pool]]
                        if pooled_axes:
                            values = values.mean(dim=pooled_axes, keepdim=True)
                        values = values.permute(0, *order, *[i for i in range(1, values.dim()) if i not in order])
                        values = values.reshape(len(group), *sizes).to(torch.float32).cpu().numpy().astype(dtype)
                        for row, stimulus in zip(values, group):
                            arrays[variable][index[stimulus.id]] = row
                    bar.update(len(group))
            store.consolidate()
        return store


def _check_writable(output: Path) -> None:
    target = output if output.exists() else output.parent
    while not target.exists():
        target = target.parent
    if not os.access(target, os.W_OK):
        raise STSTError(f"cannot write {output}: {target} is read-only; choose another output path")


def _check_compatible(store: ActivationStore, stimuli: Sequence[Stimulus], plans: dict, dtype: str, label: str) -> None:
    """Refuse, before writing anything, what would mix incompatible data into an existing store."""
    existing = dict(zip(store.stimulus_ids, zip(store.coordinate("sha256"), store.coordinate(PREPROCESSING))))
    for stimulus in stimuli:
        sha256, preprocessing = existing.get(stimulus.id, (stimulus.sha256, ""))
        if sha256 != stimulus.sha256:
            raise STSTError(
                f"{store.path} already holds a stimulus {stimulus.id!r} with other frames (preprocessing {preprocessing} there, "
                f"{stimulus.preprocessing} here); extract it as it was, pass --id to store it under another name, or extract into another store"
            )
    for variable, (_, _, sizes, _, attrs) in plans.items():
        if variable not in store.variables:
            continue
        array = store.variable(variable)
        stored = {**array.attrs, "dtype": str(array.dtype)}
        if "network_sha256" not in stored:
            raise STSTError(
                f"{store.path} holds {variable} from an activation store of format 1, which recorded neither the seed nor a digest "
                "of the network, so rows added to it now could come from another network; extract into another store (-o), or keep "
                f"this run here under another name with --label (e.g. --label {label}-2); the rest of the store stays readable and takes new layers"
            )
        wanted = {**attrs, "dtype": dtype}
        differences = [key for key in MUST_MATCH if not _same(key, stored.get(key), wanted[key], wanted["backbone"])]
        if not differences and list(array.shape[1:]) != list(sizes):
            differences = ["shape"]  # the same settings, yet another layer shape: the plugin's code changed
            stored["shape"], wanted["shape"] = list(array.shape[1:]), list(sizes)
        if differences:
            raise STSTError(_mismatch(store.path, variable, stored, wanted, differences, label))


def _same(key: str, stored, wanted, backbone: str) -> bool:
    if key == "options" and isinstance(stored, str):
        # by value (--option gain=1 is the default gain=1.0); an option the backbone gained since, at its
        # default, builds the network the store was made with
        before, now = json.loads(stored), json.loads(wanted)
        added = {key: value for key, value in now.items() if key not in before}
        defaults = json.loads(json.dumps(_option_defaults(backbone), default=str))
        return before == {key: value for key, value in now.items() if key in before} and all(defaults.get(k) == v for k, v in added.items())
    return stored == wanted


_SETTING_NAMES = {
    "network_sha256": "network digest",
    "input_normalization": "input normalisation",
    "input_shape": "input shape (CxTxHxW)",
    "weights_sha256": "weights file sha256",
    "shape": "stored shape",
}


def _show(key: str, value) -> str:
    if key in ("input_shape", "shape") and isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if key == "network_sha256" and isinstance(value, str):
        return value[:12] + "..."
    if key in ("options", "versions"):
        return str(value)
    return repr(value)


def _mismatch(path: Path, variable: str, stored: dict, wanted: dict, differences: list[str], label: str) -> str:
    """One line naming every setting that differs between a stored variable and this run, and what to do."""

    def differs(key: str) -> str:
        return f"{_SETTING_NAMES.get(key, key)} {_show(key, stored.get(key))} there, {_show(key, wanted.get(key))} here"

    causes = [key for key in differences if key != "network_sha256"]
    reasons = [differs(key) for key in causes]
    if "network_sha256" in differences:
        # the digest says that the networks differ; the recorded settings say why
        network = [key for key in NETWORK_SETTINGS if stored.get(key) != wanted.get(key)]
        if network:
            reasons += [differs(key) for key in network]
            reasons[-1] += ", which build another network"
        elif not causes:
            reasons.append(
                f"{differs('network_sha256')} with the same backbone, weights, seed and options: its plugin's code or a library "
                f"changed (versions there: {stored.get('versions')}; here: {wanted.get('versions')})"
            )
        causes += network
    if set(differences) <= {"input_shape", "shape"}:
        fix = f"give these stimuli the store's shape with --frames, --size or --crop, or extract them under another name with --label (e.g. --label {label}-2)"
    else:
        first = causes[0] if causes else ""
        tag = str(wanted.get("weights"))
        names = {"seed": f"seed{wanted.get('seed')}", "pool": str(wanted.get("pool")), "dtype": str(wanted.get("dtype")), "weights": tag}
        suffix = names.get(first, "2") if not is_weights_path(tag) else "2"
        fix = f"keep both in this store under another name with --label (e.g. --label {label}-{suffix}), or extract into another store (-o)"
    return f"{path} holds {variable} made with other settings: {'; '.join(reasons)}. To add these rows, {fix}"


def iter_feature_chunks(array: zarr.Array, rows: Sequence[int], max_bytes: int = 64 << 20) -> Iterable[np.ndarray]:
    """The flattened features of ``rows`` in column blocks of bounded size (float64), for streaming statistics."""
    rows = list(rows)
    features = int(np.prod(array.shape[1:]))
    step = max(1, max_bytes // (8 * max(len(rows), 1)))
    flat_shape = array.shape[1:]
    # walk the leading feature axis so that reads stay contiguous within chunks
    lead = flat_shape[0] if flat_shape else 1
    per_lead = features // lead if lead else features
    lead_step = max(1, step // max(per_lead, 1))
    for begin in range(0, lead, lead_step):
        end = min(lead, begin + lead_step)
        block = array.get_orthogonal_selection((rows, slice(begin, end))) if flat_shape else array.get_orthogonal_selection((rows,))
        yield np.asarray(block, dtype=np.float64).reshape(len(rows), -1)
