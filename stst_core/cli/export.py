"""``stst export``: the video of a stimulus store as a file."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import STSTError
from .._store import StimulusStore, is_store
from .._video import write_video


def register(cli: click.Group) -> None:
    cli.add_command(export)


@click.command()
@click.argument("store_path", metavar="STORE", type=click.Path(exists=True, path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["mp4", "gif", "png-dir", "npz", "npy"]), help="Default: from OUTPUT's suffix.")
@click.option("--fps", type=float, help="Frame rate of the written video (default: the store's).")
@click.option("--target", is_flag=True, help="Export the target the stimulus was made from instead.")
@click.option("--sample", type=int, help="Which sample of a store with several (Langevin chains, seeds); `stst export` says how many.")
def export(store_path, output, fmt, fps, target, sample):
    """Write the video of a stimulus STORE to OUTPUT (.mp4, .gif, a PNG folder, .npz)."""
    if not is_store(store_path):
        raise STSTError(f"{store_path} is not a stimulus store")
    store = StimulusStore(store_path)
    video = store.target() if target else store.video(sample)
    if not target and not store.complete:
        click.echo(f"note: {store_path} is not complete ({store.status}); exporting the {video.num_frames} frames done", err=True)
    written = write_video(video, output, fps=fps, format=fmt)
    click.echo(str(written))
