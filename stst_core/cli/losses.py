"""``stst losses``: the registered losses."""

from __future__ import annotations

import click

from .._plugins import get_registry
from .._table import format_table


def register(cli: click.Group) -> None:
    cli.add_command(losses_group)


@click.group("losses")
def losses_group() -> None:
    """Inspect the registered losses."""


@losses_group.command("list")
@click.argument("pattern", required=False)
def list_losses(pattern: str | None) -> None:
    """List losses, optionally matching a wildcard PATTERN."""
    registry = get_registry("losses")
    rows = [(e.name, e.plugin, e.summary) for e in registry if e.name in registry.names(pattern)]
    click.echo(format_table(["NAME", "PLUGIN", "DESCRIPTION"], rows))
