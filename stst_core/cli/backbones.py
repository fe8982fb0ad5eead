"""``stst backbones``: list the registered backbones and describe one."""

from __future__ import annotations

import json

import click

from .._backbone import create_backbone
from .._plugins import get_registry
from .._table import format_table
from .._weights import cached_path
from .options import MIN_SIZE

CLASSES_SHOWN = 5  # of a classifier's class names in the text listing; --json has them all


def register(cli: click.Group) -> None:
    cli.add_command(backbones_group)


@click.group("backbones")
def backbones_group() -> None:
    """Inspect the registered backbones."""


@backbones_group.command("list")
@click.argument("pattern", required=False)
def list_backbones(pattern: str | None) -> None:
    """List backbones, optionally matching a wildcard PATTERN such as 'vgg*'."""
    registry = get_registry("backbones")
    rows = []
    for name in registry.names(pattern):
        entry = registry.get(name)
        tags = ", ".join(c.tag for c in getattr(entry.factory, "weights_choices", ()))
        rows.append((name, entry.plugin, tags, entry.summary))
    click.echo(format_table(["NAME", "PLUGIN", "WEIGHTS", "DESCRIPTION"], rows))


@backbones_group.command("info")
@click.argument("name")
@click.option("--weights", default=None, help="Weights to build it with for the shapes (default: random when offered).")
@click.option("--size", default=224, show_default=True, type=click.IntRange(min=MIN_SIZE), help="Longer side of the example input, a square clip of PX×PX.")
@click.option("--frames", default=4, show_default=True, type=click.IntRange(min=1), help="Frames of the example input.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(name: str, weights: str | None, size: int, frames: int, as_json: bool) -> None:
    """Describe backbone NAME: layers with axes and shapes, weights choices, licence, paper."""
    entry = get_registry("backbones").get(name)
    factory = entry.factory
    choices = getattr(factory, "weights_choices", ())
    if weights is None:
        weights = "random" if any(c.tag == "random" for c in choices) else None
    model = create_backbone(name, weights=weights)  # the full name: a family needs its member
    frames = max(frames, model.temporal_window)
    shape = (1, 3, frames, size, size)
    shapes = model.output_shapes(shape)
    options = get_registry("backbones").options(name)  # what create_backbone accepts, typed and bounded
    record = {
        "name": name.lower(),
        "plugin": entry.plugin,
        "description": entry.summary,
        "paper": getattr(factory, "paper", "") or model.card.paper,
        "licence": getattr(factory, "licence", "") or model.card.licence,
        "temporal_window": model.temporal_window,
        "input_normalization": model.card.input_normalization,
        "default_weights": getattr(factory, "default_weights", None),
        "weights_choices": [
            {
                "tag": c.tag,
                "description": c.description,
                "licence": c.licence,
                "file": c.file.name if c.file else None,
                "cached": bool(c.file and cached_path(c.file)),
            }
            for c in choices
        ],
        "accepts_weight_files": getattr(factory, "accepts_weight_files", False),
        "options": options,
        "default_layers": list(model.default_layers),
        "classes": list(model.card.classes),
        "input_shape": list(shape),
        "layers": [
            {"name": s.name, "axes": s.axes, "channels": s.channels, "shape": list(shapes[s.name]), "description": s.description} for s in model.layers.values()
        ],
    }
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    click.echo(f"{record['name']}  (plugin {record['plugin']})")
    click.echo(f"  {record['description']}")
    click.echo(f"  paper:     {record['paper']}")
    click.echo(f"  licence:   {record['licence']}")
    click.echo(f"  input:     [0,1] RGB (B, C, T, H, W); normalised as: {record['input_normalization']}")
    click.echo(f"  frames:    {record['temporal_window']} consecutive frame(s) per output step")
    if options:
        click.echo("  options (--option KEY=VALUE):")
        for key, described in options.items():
            click.echo(f"    {key:<12} {described}")
    click.echo(f"  weights (default {record['default_weights']}):")
    for c in record["weights_choices"]:
        cached = " [cached]" if c["cached"] else ""
        click.echo(f"    {c['tag']:<12} {c['description']}{cached}")
    if record["accepts_weight_files"]:
        click.echo(f"    {'PATH':<12} a local weights file")
    click.echo(f"  default layers: {', '.join(record['default_layers'])}")
    if record["classes"]:
        shown = ", ".join(record["classes"][:CLASSES_SHOWN]) + (", …" if len(record["classes"]) > CLASSES_SHOWN else "")
        click.echo(f"  classes:   {len(record['classes'])} in the logits layer ({shown}; all of them with --json)")
    click.echo(f"\nLayers for an input of shape {tuple(shape)} (batch first):")
    rows = [(l["name"], l["axes"], l["channels"], tuple(l["shape"]), l["description"]) for l in record["layers"]]
    click.echo(format_table(["LAYER", "AXES", "CHANNELS", "SHAPE", "NOTE"], rows))
