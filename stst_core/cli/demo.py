"""``stst demo``: the toolkit's main job on an embedded default."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    cli.add_command(demo)


@click.command()
def demo() -> None:
    """Make a metamer of a short embedded video (arrives with the STST synthesizer)."""
    click.echo(
        "The demo arrives with the STST synthesizer. Meanwhile try "
        "`stst backbones list` and `stst backbones info msoe`."
    )
