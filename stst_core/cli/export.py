"""``stst export``: the video of a stimulus store as a file, and how exactly the file holds it."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import STSTError
from .._store import StimulusStore, is_store
from .._video import DEFAULT_CRF, LOSSLESS_FORMATS, PIXEL_FORMATS, WRITABLE_FORMATS, round_trip_error, video_format, write_video


def register(cli: click.Group) -> None:
    cli.add_command(export)


@click.command()
@click.argument("store_path", metavar="STORE", type=click.Path(exists=True, path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(WRITABLE_FORMATS), help="Default: from OUTPUT's suffix.")
@click.option("--fps", type=float, help="Frame rate of the written video (default: the store's).")
@click.option("--target", is_flag=True, help="Export the target the stimulus was made from instead.")
@click.option("--sample", type=int, help="Which sample of a store with several (Langevin chains, seeds); `stst export` says how many.")
@click.option(
    "--lossless", is_flag=True, help="Refuse a format that changes the frames: .mkv (FFV1), a PNG folder, .npz and .npy are exact; mp4 and gif are not."
)
@click.option("--crf", type=float, help=f"mp4: H.264 quality, 0 (best, largest) to 51 [default: {DEFAULT_CRF}].")
@click.option(
    "--pixel-format",
    type=click.Choice(PIXEL_FORMATS),
    help="mp4: yuv420p (default) plays everywhere but keeps colour at half resolution; yuv444p keeps it whole, for FFmpeg-based players (VLC, mpv, PsychoPy).",
)
def export(store_path, output, fmt, fps, target, sample, lossless, crf, pixel_format):
    """Write the video of a stimulus STORE to OUTPUT (.mp4, .mkv, .gif, a PNG folder, .npz, .npy).

    The file is read back and its error printed: the largest and the mean
    difference from the stored frames, in levels of 255 (the frames rounded to
    8 bits for 8-bit files). `--lossless` with .mkv gives an exact copy.
    """
    if not is_store(store_path):
        raise STSTError(f"{store_path} is not a stimulus store")
    store = StimulusStore(store_path)
    video = store.target() if target else store.video(sample)
    if not target and not store.complete:
        click.echo(f"note: {store_path} is not complete ({store.status}); exporting the {video.num_frames} frames done", err=True)
    written = write_video(video, output, fps=fps, format=fmt, lossless=lossless, crf=crf, pixel_format=pixel_format)
    click.echo(str(written))
    click.echo(_round_trip_line(video, written, fmt or video_format(written)), err=True)


def _round_trip_line(video, path: Path, fmt: str) -> str:
    largest, mean = round_trip_error(video, path)
    if largest == 0:
        return f"round trip: exact ({fmt}: read back, it gives the stored frames{'' if fmt in ('npz', 'npy') else ' rounded to 8 bits'})"
    hint = "" if fmt in LOSSLESS_FORMATS else "; for an exact copy write .mkv, a PNG folder or .npz (--lossless)"
    return f"round trip: error up to {largest:.3g} levels of 255, {mean:.3g} on average ({fmt}){hint}"
