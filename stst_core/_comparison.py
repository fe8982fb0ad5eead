"""Layer-by-layer comparison of two sets of stimuli in an activation store.

Two selections of stimuli (``condition=natural`` and ``condition=stst``, say)
are paired — a generated stimulus with the natural video it was made from,
through the ``source_stimulus`` coordinate, or simply in stored order — and for
every layer of every backbone a similarity (linear CKA, RSA or paired pattern
correlation, see :mod:`stst_core.similarity`) is computed with a bootstrap
confidence interval over the pairs. The result is a table, and a figure of
similarity against relative layer depth, one line per backbone: the layer-wise
analysis of the STST paper.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from ._activations import COORDINATES, is_activation_store, iter_feature_chunks
from ._errors import STSTError
from .similarity import METRICS, accumulate_gram, bootstrap_interval, minimum_pairs, similarity_of_resamples


@dataclass(frozen=True)
class Selection:
    """``key=value`` on a stimulus coordinate, e.g. ``condition=natural``."""

    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> "Selection":
        key, sep, value = text.partition("=")
        if not sep or not key or not value:
            raise STSTError(f"a selection looks like KEY=VALUE (e.g. condition=natural); got {text!r}")
        if key not in ("stimulus", *COORDINATES):
            raise STSTError(f"cannot select by {key!r}; stimulus coordinates are: stimulus, {', '.join(COORDINATES)}")
        return cls(key, value)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


def pair_stimuli(dataset: xr.Dataset, a: Selection, b: Selection, pair_by: str = "source") -> tuple[list[int], list[int]]:
    """Indices of paired stimuli of selections ``a`` and ``b``.

    ``pair_by="source"``: a stimulus pairs with the one made from the same
    natural video (a natural stimulus is its own source; a generated one names
    it in ``source_stimulus``). ``pair_by="order"``: the i-th of ``a`` with
    the i-th of ``b``.
    """
    coords = {name: [str(v) for v in dataset[name].values] for name in ("stimulus", *COORDINATES)}
    rows_a = [i for i, v in enumerate(coords[a.key]) if v == a.value]
    rows_b = [i for i, v in enumerate(coords[b.key]) if v == b.value]
    for selection, rows in ((a, rows_a), (b, rows_b)):
        if not rows:
            present = sorted(set(coords[selection.key]))
            raise STSTError(f"no stimulus has {selection}; {selection.key} values in the store: {', '.join(present)}")
    if pair_by == "order":
        if len(rows_a) != len(rows_b):
            raise STSTError(f"{a} has {len(rows_a)} stimuli and {b} {len(rows_b)}; pairing by order needs as many of each")
        return rows_a, rows_b
    if pair_by != "source":
        raise STSTError(f"pair_by must be 'source' or 'order'; got {pair_by!r}")

    def key(i: int) -> str:
        return coords["source_stimulus"][i] or coords["stimulus"][i]

    keys_b = {}
    for i in rows_b:
        keys_b.setdefault(key(i), i)
    pairs = [(i, keys_b[key(i)]) for i in rows_a if key(i) in keys_b]
    if not pairs:
        raise STSTError(f"no stimulus of {a} has a partner in {b} made from the same source video; use --pair-by order to pair them in stored order")
    return [p for p, _ in pairs], [q for _, q in pairs]


def compare(
    path: str | Path,
    a: Selection,
    b: Selection,
    *,
    metric: str = "cka",
    debiased: bool = False,
    rdm_metric: str = "correlation",
    rdm_comparison: str = "spearman",
    pair_by: str = "source",
    variables: str | None = None,
    bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The similarity of ``a`` and ``b`` in every layer (variable) of an activation store, one row per layer."""
    if metric not in METRICS:
        raise STSTError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    path = Path(path)
    if not is_activation_store(path):
        raise STSTError(f"{path} is not an activation store (made by `stst extract`)")
    dataset = xr.open_zarr(str(path))
    rows_a, rows_b = pair_stimuli(dataset, a, b, pair_by)
    group = zarr.open_group(str(path), mode="r")
    layers = [n for n in dataset.data_vars if "layer" in dataset[n].attrs]
    names = [n for n in layers if variables is None or fnmatch.fnmatchcase(n, variables)]
    if not names:
        raise STSTError(f"no layer in {path} matches {variables!r}; layers: {', '.join(layers)}")
    needed = minimum_pairs(metric, debiased=debiased)
    if len(rows_a) < needed:
        label = {"cka": "debiased CKA" if debiased else "CKA", "rsa": "RSA"}[metric]
        raise STSTError(
            f"{label} compares the geometry of each set of stimuli and needs at least {needed} pairs; {a} and {b} make {len(rows_a)}: "
            "compare more clips (each with its metamer), or use --metric paired-corr, which compares each pair by itself"
        )
    options = {"debiased": debiased, "rdm_metric": rdm_metric, "rdm_comparison": rdm_comparison}
    records = []
    for name in names:
        rows = rows_a + rows_b
        stats = accumulate_gram(iter_feature_chunks(group[name], rows))
        finite = np.isfinite(np.diag(stats.gram))
        keep = np.array([i for i in range(len(rows_a)) if finite[i] and finite[len(rows_a) + i]], dtype=np.intp)
        value = low = high = float("nan")
        if len(keep) >= needed:
            # computed once per layer (RDMs and their sorting, per-pair correlations); a resample only re-weights them
            statistic = similarity_of_resamples(stats, keep, keep + len(rows_a), metric, **options)
            value = float(statistic(np.arange(len(keep))[None])[0])
            if len(keep) >= 2:  # one pair has no spread to resample
                low, high = bootstrap_interval(statistic, len(keep), samples=bootstrap, level=level, seed=seed, min_distinct=needed, vectorized=True)
        attrs = dataset[name].attrs
        total = int(attrs.get("layers_total", 1))
        index = int(attrs.get("layer_index", 0))
        records.append(
            {
                "variable": name,
                "backbone": name.rsplit(".", 1)[0] if "." in name else name,
                "layer": attrs.get("layer", name),
                "layer_index": index,
                "depth": index / max(total - 1, 1),
                "metric": metric + (" (debiased)" if debiased and metric == "cka" else ""),
                "value": value,
                "ci_low": low,
                "ci_high": high,
                "level": level,
                "pairs": len(keep),
                "between": str(a),
                "and": str(b),
            }
        )
    return pd.DataFrame.from_records(records).sort_values(["backbone", "layer_index"]).reset_index(drop=True)


def plot_comparison(table: pd.DataFrame, path: str | Path | None = None, *, title: str | None = None):
    """Similarity against relative layer depth, one line per backbone, the bootstrap interval shaded.

    Parameters
    ----------
    table : pandas.DataFrame
        What :func:`compare` returns.
    path : str or os.PathLike, optional
        Where to write the PNG.
    title : str, optional
        Default: the two selections, the metric and the interval's level.

    Returns
    -------
    matplotlib.figure.Figure or pathlib.Path
        The figure (drawn without pyplot: no backend is chosen, no figure
        stays open), or with ``path`` the path written.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for backbone, rows in table.groupby("backbone", sort=True):
        rows = rows.sort_values("depth")
        line = ax.plot(rows["depth"], rows["value"], marker="o", label=backbone)[0]
        ax.fill_between(rows["depth"], rows["ci_low"], rows["ci_high"], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("relative layer depth (first layer 0, last layer 1)")
    metric = table["metric"].iloc[0] if len(table) else ""
    ax.set_ylabel(metric)
    level = table["level"].iloc[0] if len(table) else 0.95
    shaded = bool(table[["ci_low", "ci_high"]].notna().any().all()) if len(table) else False
    interval = f", {level:.0%} bootstrap interval" if shaded else ", no bootstrap interval"
    ax.set_title(title or f"{table['between'].iloc[0]} vs {table['and'].iloc[0]} ({metric}{interval})", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    from ._report import save_figure

    return save_figure(fig, path, dpi=120)


def to_rsatoolbox(path: str | Path, variable: str, *, rows: Sequence[int] | None = None):
    """An :class:`rsatoolbox.data.Dataset` of one layer (flattened features), with the stimulus coordinates
    as observation descriptors; for users who want rsatoolbox's full toolbox.
    """
    try:
        import rsatoolbox
    except ImportError as exc:  # optional: only this export needs it
        raise STSTError("exporting to rsatoolbox needs it installed: pip install rsatoolbox") from exc
    dataset = xr.open_zarr(str(path))
    array = dataset[variable]
    rows = list(range(array.shape[0])) if rows is None else list(rows)
    measurements = np.asarray(array.isel(stimulus=rows).values, dtype=np.float64).reshape(len(rows), -1)
    descriptors = {name: [str(dataset[name].values[i]) for i in rows] for name in ("stimulus", *COORDINATES)}
    return rsatoolbox.data.Dataset(
        measurements,
        descriptors={"variable": variable, **{k: str(v) for k, v in array.attrs.items() if k in ("backbone", "weights", "layer")}},
        obs_descriptors=descriptors,
    )
