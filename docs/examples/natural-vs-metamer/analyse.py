"""Percent correct per condition in the natural-vs-metamer experiment.

    python analyse.py                  # every data file in data/
    python analyse.py data/P01_*.csv --exclude-dropped --out results.csv

Reads PsychoPy's trial-by-trial CSV files (not the ``*_flips.csv`` logs),
keeps the trial rows, and reports for each clip, for each position of the
natural clip (first or second interval: a bias check) and over all trials:
trials, correct answers, percent correct with a 95 % Wilson interval, and a
two-sided binomial test against chance (50 %). Chance means the observer
cannot tell the metamer from the natural clip.

It also reports dropped frames, which ``DynamicStim`` logs for every
presentation (``clip1.dropped``, ``clip2.dropped``: refreshes missed);
``--exclude-dropped`` leaves out trials in which either clip dropped any.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
from scipy.stats import binomtest

HERE = Path(__file__).resolve().parent


def data_files(paths) -> list[Path]:
    """The trial CSV files among ``paths`` (files or folders)."""
    files = []
    for path in map(Path, paths):
        candidates = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        files += [p for p in candidates if not p.name.endswith("_flips.csv")]
    if not files:
        raise SystemExit(f"no data files in {', '.join(map(str, paths))}: run the experiment first")
    return files


def load_trials(paths) -> pd.DataFrame:
    """One row per trial of every data file, with ``correct`` (0/1) and ``dropped`` (refreshes, both intervals)."""
    frames = []
    for path in data_files(paths):
        data = pd.read_csv(path)
        if "clip" not in data or "resp.corr" not in data:
            continue  # not a data file of this experiment
        trials = data[data["clip"].notna()].copy()
        trials["file"] = path.name
        frames.append(trials)
    if not frames:
        raise SystemExit("no trials found (files without 'clip' and 'resp.corr' columns are skipped)")
    trials = pd.concat(frames, ignore_index=True)
    trials["correct"] = trials["resp.corr"].astype(int)
    trials["natural_interval"] = trials["natural_interval"].astype(int)
    trials["dropped"] = trials.get("clip1.dropped", 0) + trials.get("clip2.dropped", 0)
    return trials


def wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion, in percent."""
    if n == 0:
        return math.nan, math.nan
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def summarise(trials: pd.DataFrame) -> pd.DataFrame:
    """Percent correct per clip, per position of the natural clip, and overall."""
    groups = [("clip", name, rows) for name, rows in trials.groupby("clip")]
    groups += [("natural clip", "first" if k == 1 else "second", rows) for k, rows in trials.groupby("natural_interval")]
    groups.append(("all", "all", trials))
    records = []
    for kind, name, rows in groups:
        n, correct = len(rows), int(rows["correct"].sum())
        low, high = wilson(correct, n)
        records.append(
            {
                "by": kind,
                "condition": name,
                "trials": n,
                "correct": correct,
                "percent_correct": 100 * correct / n,
                "ci_low": low,
                "ci_high": high,
                "p_chance": binomtest(correct, n, 0.5).pvalue,
            }
        )
    return pd.DataFrame.from_records(records)


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data",
        nargs="*",
        default=[HERE / "data"],
        help="data CSV files or folders (default: data/)",
    )
    parser.add_argument(
        "--exclude-dropped",
        action="store_true",
        help="leave out trials in which a clip dropped frames",
    )
    parser.add_argument("--out", type=Path, help="also write the table to this CSV file")
    args = parser.parse_args(argv)

    trials = load_trials(args.data)
    with_drops = int((trials["dropped"] > 0).sum())
    participants = ", ".join(sorted(trials["participant"].astype(str).unique())) if "participant" in trials else "?"
    print(f"{len(trials)} trials from {trials['file'].nunique()} file(s); participant(s): {participants}")
    print(f"trials with dropped frames: {with_drops} ({int(trials['dropped'].sum())} refreshes missed in all)")
    if args.exclude_dropped:
        trials = trials[trials["dropped"] == 0]
        print(f"excluding them: {len(trials)} trials left")
        if trials.empty:
            raise SystemExit("no trials left")
    table = summarise(trials)
    print()
    print(
        table.to_string(
            index=False,
            formatters={
                "percent_correct": "{:.1f}".format,
                "ci_low": "{:.1f}".format,
                "ci_high": "{:.1f}".format,
                "p_chance": "{:.3g}".format,
            },
        )
    )
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"\nwrote {args.out}")
    return table


if __name__ == "__main__":
    main()
