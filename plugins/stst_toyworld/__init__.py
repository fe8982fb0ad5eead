"""The toy world: labelled clips of drifting textures and two classifiers of their direction, a known truth to validate inversions and metamers.

``stst toyworld make -o WORLD`` writes the clips (:mod:`stst_toyworld.world`);
``stst toyworld train WORLD -o MODELS`` trains the BatchNorm classifier
``toy-classifier`` and the held-out judge ``toy-judge``
(:mod:`stst_toyworld.networks`), both then backbones
(``--backbone toy-classifier --weights MODELS/toy-classifier.safetensors``).
"""

from __future__ import annotations

from pathlib import Path

import click

from stst_core import hookimpl
from stst_core.cli import device_option, quiet_option, seed_option

from .networks import ARCHITECTURES, ToyClassifier, ToyClassifierBackbone, ToyJudge, ToyJudgeBackbone
from .training import accuracy, score, train
from .world import DIRECTIONS, WorldSpec, make_clip, make_world, read_world

__all__ = [
    "DIRECTIONS",
    "ToyClassifier",
    "ToyClassifierBackbone",
    "ToyJudge",
    "ToyJudgeBackbone",
    "WorldSpec",
    "accuracy",
    "make_clip",
    "make_world",
    "read_world",
    "score",
    "train",
]


@click.group("toyworld")
def toyworld_group():
    """A world with a known truth: textures drifting in four directions, and classifiers of their direction."""


@toyworld_group.command("make")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write the world into (new).")
@click.option("--clips-per-class", default=64, show_default=True, type=click.IntRange(min=2), help="Clips of each direction.")
@click.option("--heldout", default=0.25, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True), help="Share of them held out.")
@click.option("--frames", default=8, show_default=True, type=click.IntRange(min=2))
@click.option("--square", default=32, show_default=True, type=click.IntRange(min=8), help="Frames are PX×PX.")
@click.option("--speeds", default="1,2", show_default=True, help="Speeds to draw from, whole pixels per frame.")
@seed_option
def make_command(output, clips_per_class, heldout, frames, square, speeds, seed):
    """Write labelled clips of textures drifting right, left, down or up (a train and a held-out split)."""
    try:
        speed_list = tuple(int(s) for s in speeds.split(","))
    except ValueError:
        raise click.BadParameter(f"expected whole numbers separated by commas, got {speeds!r}", param_hint="--speeds") from None
    make_world(output, clips_per_class=clips_per_class, heldout=heldout, spec=WorldSpec(frames=frames, size=square, speeds=speed_list), seed=seed)
    click.echo(f"wrote {output}: {clips_per_class} clips of each of {', '.join(DIRECTIONS)} ({frames} frames of {square}x{square}), labels.csv")


@toyworld_group.command("train")
@click.argument("world", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the model files (NAME.safetensors with cards)."
)
@click.option("--only", type=click.Choice(list(ARCHITECTURES)), help="Train one of the two (default: both).")
@click.option("--steps", default=300, show_default=True, type=click.IntRange(min=1))
@click.option("--batch", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=3e-3, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Adam's learning rate (cosine decay).")
@seed_option
@device_option
@quiet_option
def train_command(world, output, only, steps, batch, lr, seed, device, quiet):
    """Train the toy classifier and its judge on WORLD's train split; print their held-out accuracy."""
    for architecture in [only] if only else list(ARCHITECTURES):
        path = output / f"{architecture}.safetensors"
        scores = train(world, path, architecture=architecture, steps=steps, batch=batch, lr=lr, seed=seed, device=device, progress=not quiet)
        click.echo(f"wrote {path}: train accuracy {scores['train_accuracy']:.1%}, held-out accuracy {scores['heldout_accuracy']:.1%}")


@hookimpl
def stst_register_commands(cli):
    cli.add_command(toyworld_group)


@hookimpl
def stst_register_backbones(register):
    register("toy-classifier", ToyClassifierBackbone)
    register("toy-judge", ToyJudgeBackbone)
