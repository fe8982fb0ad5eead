"""``stst extract``: model activations of videos and stimulus stores into an activation store."""

from __future__ import annotations

from pathlib import Path

import click

from .._activations import POOLS, extract, load_inputs
from .._config import MAX_SEED
from .options import device_option, option_option, parse_options, quiet_option, video_options


def register(cli: click.Group) -> None:
    cli.add_command(extract_command)


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="The activation store (a .zarr folder); created, or extended.")
@click.option("--backbone", required=True, help="A registered backbone (`stst backbones list`).")
@click.option("--weights", help="Its weights: a tag or a file (default: the backbone's default).")
@click.option("--layers", default=None, help="Comma-separated layer names, or 'all' (default: the backbone's default layers).")
@click.option("--label", help="Name prefix of the stored variables (default: the backbone name); one per network (weights, seed, options) in a store.")
@click.option("--condition", help="Condition label of every input (default: 'natural' for videos, the method for stimulus stores).")
@click.option("--id", "ids", multiple=True, help="Stimulus id of each input, in order (default: the file names).")
@click.option("--include-targets", is_flag=True, help="Also extract the target each stimulus store was made from, as a natural stimulus.")
@click.option("--pool", type=click.Choice(list(POOLS)), default="none", show_default=True, help="Average over axes before storing.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Stimuli per forward pass.")
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True, help="Storage type.")
@video_options()
@option_option(named=False, example="levels=2")
@device_option
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    default=0,
    show_default=True,
    help="Seed of random weights; recorded, and it must match the store's where it changes the network.",
)
@quiet_option
def extract_command(
    inputs,
    output,
    backbone,
    weights,
    layers,
    label,
    condition,
    ids,
    include_targets,
    pool,
    batch,
    dtype,
    start,
    frames,
    stride,
    size,
    crop,
    options,
    device,
    seed,
    quiet,
):
    """Run a backbone over INPUTS (videos or stimulus stores) and store their activations, labelled.

    Calling it again on the same store appends new stimuli and adds new layers
    (another backbone) for the stimuli already there. Rows are added to a
    stored layer only from the same network (backbone, weights, seed where
    the weights are random, options), pool, dtype and input shape; anything
    else is refused before the store is touched: use --label or another store.
    """
    backbone_options = parse_options(options)
    stimuli = load_inputs(
        inputs, condition=condition, ids=ids or None, include_targets=include_targets, start=start, frames=frames, stride=stride, size=size, crop=crop
    )
    store = extract(
        stimuli,
        output,
        backbone=backbone,
        weights=weights,
        layers=layers,
        pool=pool,
        batch=batch,
        dtype=dtype,
        label=label,
        device=device,
        seed=seed,
        options=backbone_options,
        progress=not quiet,
    )
    click.echo(f"{store.path}: {len(store.stimulus_ids)} stimuli, {len(store.variables)} layers")
