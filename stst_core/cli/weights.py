"""``stst weights``: the download cache and the known weights files."""

from __future__ import annotations

import click

from .._errors import RegistryError
from .._plugins import get_registry
from .._table import format_table
from .._weights import WeightsFile, cache_dir, cached_path, fetch


def register(cli: click.Group) -> None:
    cli.add_command(weights_group)


def known_files() -> dict[str, WeightsFile]:
    """Every downloadable weights file that a registered backbone offers, by name."""
    files = {}
    for entry in get_registry("backbones"):
        for choice in getattr(entry.factory, "weights_choices", ()):
            if choice.file is not None:
                files[choice.file.name] = choice.file
    return files


@click.group("weights")
def weights_group() -> None:
    """Manage downloaded weights."""


@weights_group.command("path")
def path() -> None:
    """Print the cache folder (set STST_CACHE_DIR to move it)."""
    click.echo(str(cache_dir()))


@weights_group.command("list")
def list_files() -> None:
    """List the downloadable weights files and whether they are cached."""
    rows = []
    for name, file in sorted(known_files().items()):
        where = cached_path(file)
        rows.append((name, "yes" if where else "no", file.licence, str(where or cache_dir() / file.filename)))
    click.echo(format_table(["NAME", "CACHED", "LICENCE", "PATH"], rows))


@weights_group.command("fetch")
@click.argument("name")
def fetch_command(name: str) -> None:
    """Download weights NAME (e.g. msoe.tesfaldet, or a backbone name for its default) into the cache."""
    files = known_files()
    file = files.get(name.lower())
    if file is None:
        entry = get_registry("backbones").get(name) if name.lower() in get_registry("backbones") else None
        default = getattr(entry.factory, "default_weights", None) if entry else None
        file = files.get(f"{entry.name}.{default}") if entry else None
    if file is None:
        raise RegistryError(f"no downloadable weights called {name!r}; known: {', '.join(sorted(files)) or 'none'}")
    target = fetch(file)
    click.echo(f"{file.name}: {target}")
