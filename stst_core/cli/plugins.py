"""``stst plugins``: what is installed, where it came from, and what failed."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from .._plugins import plugin_infos
from .._table import format_table


def register(cli: click.Group) -> None:
    cli.add_command(plugins_group)


@click.group("plugins")
def plugins_group() -> None:
    """Inspect the installed plugins."""


@plugins_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("-v", "--verbose", is_flag=True, help="Add each plugin's module file (a checkout or site-packages?).")
def list_plugins(as_json: bool, verbose: bool) -> None:
    """List plugins with their status, distribution, version, hooks and origin."""
    infos = plugin_infos()
    if as_json:
        click.echo(json.dumps([asdict(i) for i in infos], indent=2))
        return
    short = [", ".join(h.removeprefix("stst_register_") for h in i.hooks) for i in infos]
    rows = [[i.name, i.status, i.distribution or "-", i.version or "-", hooks, i.origin] for i, hooks in zip(infos, short)]
    header = ["NAME", "STATUS", "DISTRIBUTION", "VERSION", "HOOKS", "ORIGIN"]
    if verbose:
        header.append("LOCATION")
        for row, info in zip(rows, infos):
            row.append(info.location or "-")
    click.echo(format_table(header, rows))
    for info in infos:
        if info.error:
            click.echo(f"\n{info.name} ({info.distribution or 'registered at runtime'}) {info.status}: {info.error}", err=True)
