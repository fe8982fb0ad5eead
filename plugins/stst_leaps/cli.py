"""``stst leaps-eval``: the paper's score of an inversion (other classifiers' accuracy on the samples) with weight-free motion measures."""

from __future__ import annotations

import json
from pathlib import Path

import click

from stst_core import ConfigError, format_table, open_store, read_video, write_text_atomically
from stst_core.cli import device_option

from .evaluate import Judge, evaluate, summary


@click.command("leaps-eval")
@click.argument("stores", metavar="STORE...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--judge", "judges", multiple=True, required=True, help="A classifier that scores the samples (a registered backbone; repeatable).")
@click.option("--judge-weights", "judge_weights", multiple=True, help="Its weights (one per --judge, in order; default: the backbone's).")
@click.option("--stimulus", type=click.Path(exists=True, path_type=Path), help="The stimulus video: adds the oriented-energy distance of each sample to it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write every row and the summary as JSON.")
@device_option
def leaps_eval_command(stores, judges, judge_weights, stimulus, output, device):
    """Top-1/top-5 accuracy of other classifiers on the samples of LEAPS stores, and how the samples move."""
    if judge_weights and len(judge_weights) != len(judges):
        raise click.UsageError(f"give one --judge-weights per --judge ({len(judges)}), or none; got {len(judge_weights)}")
    chosen = [Judge(name, weights) for name, weights in zip(judges, judge_weights or [None] * len(judges))]
    rows = []
    for path in stores:
        store = open_store(path)
        reference = None
        if stimulus is not None:
            frames = store.array("video").shape
            reference = read_video(stimulus, num_frames=frames[-4], size=min(frames[-2:]), crop=(frames[-2], frames[-1]))
        rows += evaluate(store, chosen, stimulus=reference, device=device)
    if not rows:
        raise ConfigError("the stores hold no samples")
    columns = ["sample", "target", *[f"{j.name}:{k}" for j in chosen for k in ("says", "p")], "flow_direction", "frame_change"]
    columns += ["oriented_energy"] if stimulus is not None else []
    table = [[_cell(row[c]) for c in columns] for row in rows]
    click.echo(format_table(columns, table))
    overall = summary(rows, chosen)
    click.echo("  ".join(f"{key} {value:.3g}" for key, value in overall.items()))
    if output:
        write_text_atomically(output, json.dumps({"judges": [j.label for j in chosen], "rows": rows, "summary": overall}, indent=2) + "\n")


def _cell(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)
