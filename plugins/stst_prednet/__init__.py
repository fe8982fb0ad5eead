"""PredNet (Lotter, Kreiman & Cox 2017): train a predictive-coding network and compare how well it predicts sets of videos.

The STST paper trains PredNet on natural videos and asks whether it predicts
metamers as well as natural clips. ``stst prednet train`` fits one to videos;
``stst prednet eval`` reports each set's next-frame prediction error against
the copy-last-frame baseline, with a plot. A trained model is also the backbone
``prednet`` (``weights=<model.pt>``), so ``stst extract`` can store its
representation (``R0`` …) and error (``E0`` …) units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import click
import torch

from stst_core import Backbone, BackboneCard, BackboneError, LayerSpec, WeightsChoice, hookimpl, write_text_atomically
from stst_core.cli import device_option, quiet_option, seed_option

from .network import PredNet, PredNetConfig
from .training import evaluate, load, load_clips, load_videos, plot_evaluation, save, train, training_settings

PAPER = "Lotter, Kreiman & Cox (2017). Deep Predictive Coding Networks for Video Prediction and Unsupervised Learning. ICLR. arXiv:1605.08104"


class PredNetBackbone(Backbone):
    """A trained PredNet's representation and error units over a clip (Lotter et al. 2017)."""

    paper = PAPER
    licence = "Apache-2.0 (this toolkit); weights: whatever you trained them on"
    weights_choices = (WeightsChoice("random", "an untrained PredNet of the default size, under the seed"),)
    default_weights = "random"
    temporal_window = 1

    def __init__(self, weights: str | None = None):
        resolved = self.resolve_weights(weights)
        # a trained model's file carries its architecture (its card's options): read whole, not as a bare state dict
        model = PredNet() if resolved.path is None else load(resolved.path)
        levels = model.levels
        channels = model.config.channels
        layers = [LayerSpec(f"R{l}", "CTHW", channels[l], f"representation units of layer {l}") for l in range(levels)]
        layers += [LayerSpec(f"E{l}", "CTHW", 2 * channels[l], f"error units of layer {l}") for l in range(levels)]
        layers.append(LayerSpec("prediction", "CTHW", 3, "the predicted frame (frame t from frames before t)"))
        super().__init__(card=BackboneCard(name="prednet"), layers=layers, default_layers=[f"R{l}" for l in range(levels)], weights=resolved)
        self.model = model

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        try:
            return self.model(video, keep=tuple(layers))
        except ValueError as exc:
            raise BackboneError(f"prednet: {exc}") from None


def _conditions(items: Sequence[str]) -> dict[str, list[str]]:
    conditions: dict[str, list[str]] = {}
    for item in items:
        name, sep, paths = item.partition("=")
        if not sep or not name or not paths:
            raise click.BadParameter(f"expected NAME=PATH[,PATH…], got {item!r}", param_hint="--condition")
        conditions.setdefault(name, []).extend(p for p in paths.split(",") if p)
    return conditions


def _square_option(default: int | None, help: str):
    # not --size, which everywhere else keeps the aspect ratio: PredNet's frames are square
    return click.option("--square", default=default, show_default=default is not None, type=click.IntRange(min=8), help=help)


@click.group("prednet")
def prednet_group():
    """Train PredNet on videos and measure its next-frame prediction (Lotter et al. 2017)."""


@prednet_group.command("train")
@click.argument("videos", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Model file to write (.safetensors, with its card OUTPUT.json)."
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Checkpoint file (default: OUTPUT.checkpoint.safetensors); run again after a kill to resume exactly.",
)
@_square_option(64, "Frames are centre-cropped to a square and resized to PX×PX.")
@click.option("--frames", default=8, show_default=True, type=click.IntRange(min=2), help="Frames per training clip.")
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--batch", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=1e-3, show_default=True, type=float, help="Adam learning rate (a tenth for the last quarter).")
@click.option("--channels", default="3,16,32", show_default=True, help="Layer widths, the first being 3.")
@click.option(
    "--loss", "layer_loss", type=click.Choice(["L0", "Lall"]), default="L0", show_default=True, help="Pixel-layer error only, or 0.1 for the other layers too."
)
@seed_option
@device_option
@quiet_option
def train_command(videos, output, checkpoint, square, frames, steps, batch, lr, channels, layer_loss, seed, device, quiet):
    """Fit a PredNet to random clips of VIDEOS (files or stimulus stores)."""
    widths = [int(c) for c in channels.split(",")]
    weights = [1.0] + [0.0 if layer_loss == "L0" else 0.1] * (len(widths) - 1)
    try:
        config = PredNetConfig(channels=widths, layer_weights=weights)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--channels") from None
    if output.suffix != ".safetensors":
        raise click.BadParameter(f"{output}: models are written as .safetensors (with a JSON card beside them)", param_hint="--output")
    size = square
    clips = load_clips(videos, size=size, frames=frames)
    checkpoint = checkpoint or output.with_name(output.stem + ".checkpoint.safetensors")
    result = train(
        [clip.frames for clip in clips],
        config=config,
        frames=frames,
        steps=steps,
        batch=batch,
        lr=lr,
        seed=seed,
        device=device,
        progress=not quiet,
        checkpoint=checkpoint,
    )
    save(result.model.cpu(), output, data=clips, size=size, frames=frames, steps=steps, batch=batch, lr=lr, seed=seed, final_loss=result.losses[-1])
    checkpoint.unlink(missing_ok=True)
    click.echo(f"wrote {output} (final loss {result.losses[-1]:.4g})")


@prednet_group.command("eval")
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    required=True,
    metavar="NAME=PATH[,PATH…]",
    help="A named set of videos or stimulus stores (repeatable), e.g. natural=a.mp4,b.mp4.",
)
@click.option("--frames", type=click.IntRange(min=2), help="Frames per clip (default: as trained).")
@_square_option(None, "Square frame size (default: as trained).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the figure.")
def eval_command(model_path, conditions, frames, square, output, plot_path):
    """Next-frame prediction error of MODEL on each set, against copying the last frame."""
    saved = training_settings(model_path)
    frames = frames or int(saved.get("frames", 8))
    size = square or int(saved.get("size", 64))
    model = load(model_path)
    groups = {name: load_videos(paths, size=size, frames=frames) for name, paths in _conditions(conditions).items()}
    report = evaluate(model, groups, frames=frames)
    for name, values in report.items():
        click.echo(
            f"{name:<12} PredNet {values['prediction_mse']:.5f}  copy-last-frame {values['copy_last_frame_mse']:.5f}  "
            f"ratio {values['ratio']:.3f} ± {values['ratio_sem']:.3f}  ({values['videos']} videos)"
        )
    if output:
        write_text_atomically(output, json.dumps({"model": str(model_path), "frames": frames, "size": size, "conditions": report}, indent=2) + "\n")
    if plot_path:
        plot_evaluation(report, plot_path)


@hookimpl
def stst_register_commands(cli):
    cli.add_command(prednet_group)


@hookimpl
def stst_register_backbones(register):
    register("prednet", PredNetBackbone)


__all__ = ["PredNet", "PredNetBackbone", "PredNetConfig"]
