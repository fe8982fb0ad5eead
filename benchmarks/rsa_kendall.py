"""RSA with Kendall's τ_a: the O(n log n) implementation against the former O(n²) one and rsatoolbox's.

Prints, measured in one run:

1. one τ_a between two RDMs of 120 stimuli (7,140 entries): this toolkit, the
   former pair-table implementation, rsatoolbox's ``compare_kendall_tau_a``;
2. 1,000 bootstrap resamplings of 120 stimuli for one layer: this toolkit
   (the RDMs computed once, every resample a re-weighting of their sorted
   entries), the former path (the RDMs recomputed per resample, the O(n²)
   τ_a; timed on a few resamples and scaled), rsatoolbox's pattern bootstrap
   (``subsample_pattern`` and ``compare``; timed on 100 resamples and scaled),
   and that the three give the same values;
3. the acceptance case: ``stst compare --metric rsa --rdm-compare kendall``
   with 1,000 bootstraps on an activation store of 120 natural clips and 120
   "metamers" (each its clip with noise), activations of the
   ``random-multiscale`` backbone unpooled (layers of 131,072 and 32,768
   features), timed as a command, its values checked against rsatoolbox's.

Needs rsatoolbox (the ``test`` extra). Run: ``python benchmarks/rsa_kendall.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rsatoolbox
import torch
from rsatoolbox.rdm.compare import compare_kendall_tau_a

from stst_core import Video, to_rsatoolbox, write_video
from stst_core.similarity import GramStatistics, RDMComparison, kendall_tau_a, rdm, rdm_from_gram

STIMULI = 120
BOOTSTRAPS = 1000
STST = str(Path(sys.executable).parent / "stst")


def old_kendall_tau_a(a: np.ndarray, b: np.ndarray) -> float:
    """The former implementation: the full table of pair signs, in blocks of rows."""
    n = len(a)
    total = 0.0
    for start in range(0, n, 512):
        stop = min(n, start + 512)
        total += np.sum(np.sign(a[start:stop, None] - a[None, :]) * np.sign(b[start:stop, None] - b[None, :]))
    return float(total / (n * (n - 1)))


def old_resample(stats: GramStatistics, rows_a: np.ndarray, rows_b: np.ndarray, sample: np.ndarray) -> float:
    """The former bootstrap step: Gram subsets, both RDMs recomputed, the O(n²) τ_a (copies of a stimulus kept)."""
    upper = np.triu_indices(len(sample), k=1)
    ra = rdm_from_gram(stats.subset(rows_a[sample]))[upper]
    rb = rdm_from_gram(stats.subset(rows_b[sample]))[upper]
    return old_kendall_tau_a(ra, rb)


def timed(function, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


def clip(rng: np.random.Generator, frames: int = 8, size: int = 64) -> np.ndarray:
    """A drifting smooth texture, (C, T, H, W) in [0, 1]."""
    base = rng.random((3, size, size * 2))
    for axis in (1, 2):
        base = (base + np.roll(base, 1, axis) + np.roll(base, -1, axis)) / 3
    return np.stack([np.roll(base, 3 * t, axis=2)[:, :, :size] for t in range(frames)], 1)


def main() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(STIMULI, 2048))
    rdm_a, rdm_b = rdm(features), rdm(features + 1.5 * rng.normal(size=features.shape))
    upper = np.triu_indices(STIMULI, k=1)
    x, y = rdm_a[upper], rdm_b[upper]
    theirs_a, theirs_b = rsatoolbox.rdm.RDMs(rdm_a[None]), rsatoolbox.rdm.RDMs(rdm_b[None])

    print(f"1. one tau-a over {len(x)} RDM entries ({STIMULI} stimuli)")
    new = timed(lambda: kendall_tau_a(x, y), 20)
    old = timed(lambda: old_kendall_tau_a(x, y), 3)
    reference = timed(lambda: compare_kendall_tau_a(theirs_a, theirs_b), 20)
    same = kendall_tau_a(x, y) == compare_kendall_tau_a(theirs_a, theirs_b)[0, 0]
    print(f"   new {new * 1e3:.2f} ms, former {old * 1e3:.1f} ms, rsatoolbox {reference * 1e3:.2f} ms")
    print(f"   former / new = {old / new:.0f}x, new / rsatoolbox = {new / reference:.1f}x; equal to rsatoolbox: {same}")

    print(f"2. {BOOTSTRAPS} bootstrap resamplings of {STIMULI} stimuli, one layer")
    samples = rng.integers(0, STIMULI, size=(BOOTSTRAPS, STIMULI))
    start = time.perf_counter()
    ours = RDMComparison(rdm_a, rdm_b, "kendall")(samples)
    new = time.perf_counter() - start
    stats = GramStatistics.of(np.concatenate([features, features + 1.5 * rng.normal(size=features.shape)]))
    rows_a, rows_b = np.arange(STIMULI), np.arange(STIMULI) + STIMULI
    old = timed(lambda: old_resample(stats, rows_a, rows_b, samples[0]), 3) * BOOTSTRAPS
    checked = 100
    start = time.perf_counter()
    reference_values = [
        rsatoolbox.rdm.compare(theirs_a.subsample_pattern("index", s), theirs_b.subsample_pattern("index", s), method="tau-a")[0, 0] for s in samples[:checked]
    ]
    reference = (time.perf_counter() - start) / checked * BOOTSTRAPS
    difference = np.max(np.abs(ours[:checked] - reference_values))
    print(f"   new {new:.2f} s, former {old:.0f} s (scaled from 3), rsatoolbox {reference:.1f} s (scaled from {checked})")
    print(f"   former / new = {old / new:.0f}x, rsatoolbox / new = {reference / new:.1f}x; largest difference from rsatoolbox: {difference:.1e}")

    print(f"3. stst compare --metric rsa --rdm-compare kendall --bootstrap {BOOTSTRAPS}: {STIMULI} natural clips and their 'metamers'")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        natural, metamers = [], []
        for i in range(STIMULI):
            frames = clip(rng)
            noisy = np.clip(frames + 0.15 * rng.normal(size=frames.shape), 0, 1)
            for name, values, paths in ((f"clip{i:03d}", frames, natural), (f"metamer{i:03d}", noisy, metamers)):
                paths.append(folder / f"{name}.npz")
                write_video(Video(torch.from_numpy(values).float(), 25), paths[-1])
        store = folder / "acts.zarr"
        extract = [STST, "extract", "-o", store, "--backbone", "random-multiscale", "--option", "channels=64", "--layers", "level2,level3", "--batch", "8"]
        start = time.perf_counter()
        subprocess.run([*extract, *natural, "--quiet"], check=True)
        subprocess.run([*extract, *metamers, "--condition", "metamer", "--quiet"], check=True)
        print(f"   extraction: {time.perf_counter() - start:.0f} s")
        command = [STST, "compare", store, "--between", "condition=natural", "--and", "condition=metamer", "--pair-by", "order"]
        command += ["--metric", "rsa", "--rdm-compare", "kendall", "--bootstrap", str(BOOTSTRAPS), "-o", folder / "rsa.csv"]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        print(f"   stst compare: {time.perf_counter() - start:.1f} s (the whole command, start-up included)")
        table = pd.read_csv(folder / "rsa.csv")
        for row in table.itertuples():
            a = to_rsatoolbox(store, row.variable, rows=range(STIMULI))
            b = to_rsatoolbox(store, row.variable, rows=range(STIMULI, 2 * STIMULI))
            expected = rsatoolbox.rdm.compare(
                rsatoolbox.rdm.calc_rdm(a, method="correlation"), rsatoolbox.rdm.calc_rdm(b, method="correlation"), method="tau-a"
            )
            features = int(np.prod(a.measurements.shape[1:]))
            print(
                f"   {row.variable} ({features} features): {row.value:.6f}, rsatoolbox {expected[0, 0]:.6f}, difference {abs(row.value - expected[0, 0]):.1e}"
            )


if __name__ == "__main__":
    main()
