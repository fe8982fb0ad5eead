"""Activation stores: model activations of many stimuli, labelled, in one Zarr folder.

Written with zarr (format 3) in xarray's layout, so ``xarray.open_zarr(path)``
reads it without this toolkit:

- the ``stimulus`` dimension indexes stimuli; its coordinates are ``stimulus``
  (an id), ``source`` (the file it was read from), ``condition`` (``natural``,
  ``stst``, ``stps``… or a label of your choosing), ``source_stimulus`` (for a
  generated stimulus, the id of the natural video it was made from; empty for
  natural ones) and ``sha256`` (of the frames the backbone saw);
- one variable per backbone layer, named ``<label>.<layer>`` (the label is the
  backbone's name unless ``label`` is given), with dims ``stimulus`` and then
  the layer's own axes in the order time, token, channel, y, x, each named
  ``<variable>.<axis>`` because layers differ in size (use :func:`layer` for a
  view with plain dim names);
- every variable's attributes name the backbone, its weights and their source,
  licence and paper, the input normalisation, the layer, its depth
  (``layer_index`` of ``layers_total``), the pooling and the preprocessing;
  the store's attributes hold ``stst_store = "activations"``, the format
  version and the versions of the toolkit and its dependencies.

Extraction streams stimuli batch by batch to disk, so memory stays bounded
however many stimuli there are. Extracting into an existing store appends new
stimuli along ``stimulus`` and adds new layers for the stimuli already there.
Everything is checked before the store is touched: a bad input, an unknown
layer, a mismatch with the store's existing contents or a read-only path
raises an error and leaves the store as it was.
"""

from __future__ import annotations

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

from ._backbone import Backbone, create_backbone
from ._errors import STSTError
from ._store import StimulusStore, is_store, store_kind, toolkit_versions, video_fingerprint
from ._video import Video, read_video

STORE_KIND = "activations"
FORMAT_VERSION = 1
AXIS_NAMES = {"T": "time", "N": "token", "C": "channel", "H": "y", "W": "x"}
AXIS_ORDER = "TNCHW"  # stored order after the stimulus axis
POOLS = {
    "none": "",
    "mean": "TNHW",  # everything but the channel axis
    "spatial-mean": "HW",
    "temporal-mean": "T",
}
COORDINATES = ("source", "condition", "source_stimulus", "sha256")
CHUNK_BYTES = 1 << 20  # at least 1 MiB per chunk, so that large stores stay fast to read


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
    load: Callable[[], Video] = field(repr=False, compare=False)


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
            return cls(path, zarr.open_group(str(path), mode="r+", use_consolidated=False))
        if not create:
            raise STSTError(f"no activation store at {path}")
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        group.attrs.update({"stst_store": STORE_KIND, "format_version": FORMAT_VERSION, "versions": json.dumps(toolkit_versions())})
        group.create_array("stimulus", shape=(0,), dtype=str, chunks=(4096,), dimension_names=("stimulus",))
        for name in COORDINATES:
            group.create_array(name, shape=(0,), dtype=str, chunks=(4096,), dimension_names=("stimulus",))
        store = cls(path, group)
        store.consolidate()
        return store

    # -- reading ---------------------------------------------------------------------

    @property
    def stimulus_ids(self) -> list[str]:
        return [str(v) for v in self._group["stimulus"][...]]

    def coordinate(self, name: str) -> list[str]:
        return [str(v) for v in self._group[name][...]]

    @property
    def variables(self) -> list[str]:
        return sorted(n for n in self._group.array_keys() if n != "stimulus" and n not in COORDINATES)

    def variable(self, name: str) -> zarr.Array:
        return self._group[name]

    # -- writing ---------------------------------------------------------------------

    def append_stimuli(self, stimuli: Sequence[Stimulus]) -> None:
        """Add stimuli along ``stimulus``; every variable grows with empty (NaN) rows for them."""
        if not stimuli:
            return
        start = len(self.stimulus_ids)
        count = start + len(stimuli)
        for name, values in [("stimulus", [s.id for s in stimuli])] + [(c, [getattr(s, c) for s in stimuli]) for c in COORDINATES]:
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
        array.attrs.update({**attrs, "coordinates": " ".join(COORDINATES)})
        return array

    def consolidate(self) -> None:
        with warnings.catch_warnings():
            # zarr notes that consolidated metadata is not yet in the format-3 specification
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.path))


# -- extraction ------------------------------------------------------------------------


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
    width)`` or one number), in that order.
    """
    if ids is not None and len(ids) != len(paths):
        raise STSTError(f"got {len(ids)} ids for {len(paths)} inputs; give one id per input or none")
    stimuli: list[Stimulus] = []

    def prepared(video: Video) -> Video:
        video = video.select(start, frames, stride)
        video = video.resized(size) if size else video
        return video.center_cropped(crop) if crop else video

    for i, path in enumerate(paths):
        path = Path(path)
        if is_store(path):
            store = StimulusStore(path)
            if not store.complete:
                raise STSTError(f"{path} is not complete ({store.status}); finish it first (run its synth command again)")
            content = store.targets.get("content", {}).get("source") or ""
            natural_id = Path(content).stem if content else ""
            stimuli.append(
                _stimulus(lambda p=path: prepared(StimulusStore(p).video()), ids[i] if ids else path.stem, str(path), condition or store.method, natural_id)
            )
            if include_targets:
                stimuli.append(
                    _stimulus(
                        lambda p=path: prepared(StimulusStore(p).target()), natural_id or f"{path.stem}-target", content or f"{path}:target", "natural", ""
                    )
                )
        else:

            def read(p=path):
                return read_video(p, start=start, num_frames=frames, stride=stride, size=size, crop=crop)

            stimuli.append(_stimulus(read, ids[i] if ids else path.stem, str(path), condition or "natural", ""))
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


def _stimulus(load: Callable[[], Video], stimulus_id: str, source: str, condition: str, source_stimulus: str) -> Stimulus:
    video = load()  # read once now for its identity and shape, again when its batch is extracted
    return Stimulus(stimulus_id, source, condition, source_stimulus, video_fingerprint(video)["sha256"], video.shape, load)


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
    preprocessing: dict | None = None,
    options: dict | None = None,
    progress: bool = True,
) -> ActivationStore:
    """Run a backbone over stimuli and write their activations into the store at ``output``."""
    if pool not in POOLS:
        raise STSTError(f"pool must be one of {', '.join(POOLS)}; got {pool!r}")
    if dtype not in ("float32", "float16"):
        raise STSTError(f"dtype must be float32 or float16; got {dtype!r}")
    if batch < 1:
        raise STSTError(f"batch must be at least 1; got {batch}")
    if not stimuli:
        raise STSTError("no stimuli to extract")
    output = Path(output)
    _check_writable(output)
    net = create_backbone(backbone, weights=weights, device=device, seed=seed, **(options or {}))
    names = net.resolve_layers(layers if layers != "all" else list(net.layers))
    shapes = {s.shape for s in stimuli}
    if len(shapes) > 1:
        listing = "; ".join(f"{s.id}: {s.shape[1]} frames of {s.shape[2]}x{s.shape[3]}" for s in stimuli[:6])
        raise STSTError(f"stimuli differ in size ({listing}); give them one size with --frames, --size and --crop")
    channels, frames, height, width = next(iter(shapes))
    output_shapes = net.output_shapes((1, 3, frames, height, width), names)
    label = label or backbone.lower()
    all_layers = list(net.layers)
    plans = {}
    for name in names:
        kept, sizes, order = stored_layout(net, name, output_shapes[name], pool)
        variable = f"{label}.{name}"
        attrs = {
            **net.card.as_attrs(),
            "layer": name,
            "axes": "".join(kept),
            "layer_index": all_layers.index(name),
            "layers_total": len(all_layers),
            "pool": pool,
            "preprocessing": json.dumps(preprocessing or {}, sort_keys=True),
        }
        plans[variable] = (name, kept, sizes, order, attrs)

    store = ActivationStore.open(output, create=False) if output.exists() else None
    if store is not None:
        _check_compatible(store, stimuli, plans, dtype)
    # -- from here on the store is written -------------------------------------------
    store = store or ActivationStore.open(output, create=True)
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


def _check_compatible(store: ActivationStore, stimuli: Sequence[Stimulus], plans: dict, dtype: str) -> None:
    """Refuse, before writing anything, what would mix incompatible data into an existing store."""
    existing = dict(zip(store.stimulus_ids, store.coordinate("sha256")))
    for stimulus in stimuli:
        if stimulus.id in existing and existing[stimulus.id] != stimulus.sha256:
            raise STSTError(
                f"{store.path} already holds a stimulus {stimulus.id!r} with other frames (other --frames/--size?); "
                "pass --id to store it under another name, or extract into another store"
            )
    for variable, (_, kept, sizes, _, attrs) in plans.items():
        if variable not in store.variables:
            continue
        array = store.variable(variable)
        stored = dict(array.attrs)
        if list(array.shape[1:]) != list(sizes) or stored.get("pool") != attrs["pool"] or str(array.dtype) != dtype:
            raise STSTError(
                f"{store.path} holds {variable} with shape {tuple(array.shape[1:])}, pool {stored.get('pool')!r} and "
                f"dtype {array.dtype}, but this run would give {tuple(sizes)}, {attrs['pool']!r} and {dtype}; "
                "use the same --frames/--size/--pool/--dtype, or --label to store it under another name"
            )
        if (stored.get("weights"), stored.get("preprocessing")) != (attrs["weights"], attrs["preprocessing"]):
            raise STSTError(
                f"{store.path} holds {variable} from weights {stored.get('weights')!r} and preprocessing "
                f"{stored.get('preprocessing')}; this run uses {attrs['weights']!r} and {attrs['preprocessing']}. "
                "Pass --label to store it under another name"
            )


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
