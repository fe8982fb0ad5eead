"""``stst synth METHOD``: one subcommand per registered synthesizer, and ``stst export``."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import STSTError, WeightsError
from .._plugins import get_registry
from .._store import StimulusStore, is_store
from .._video import read_video, write_video


def register(cli: click.Group) -> None:
    cli.add_command(SynthGroup("synth", help="Generate a stimulus with a registered method (`stst synth METHOD --help`)."))
    cli.add_command(export)


def _input_options(function):
    for option in reversed(
        [
            click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="The stimulus store to write (a .zarr folder)."),
            click.option("--preset", help="A preset name, or a TOML file (default: the method's default preset)."),
            click.option(
                "--config",
                "config_file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="A TOML file with settings that override the preset.",
            ),
            click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override one setting, e.g. --set octaves.0.steps=100 (repeatable)."),
            click.option("--frames", type=click.IntRange(min=1), help="Use the first N frames of the input."),
            click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First input frame."),
            click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True, help="Take every Nth input frame."),
            click.option("--size", type=click.IntRange(min=16), help="Resize so that the longer side has PX pixels."),
            click.option("--seed", type=int, default=0, show_default=True, help="Random seed: the same seed on the same device gives the same stimulus."),
            click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N."),
            click.option("--overwrite", is_flag=True, help="Start again even if OUTPUT holds a run (default: resume it)."),
            click.option("--quiet", is_flag=True, help="No progress bars."),
        ]
    ):
        function = option(function)
    return function


class SynthGroup(click.Group):
    """Builds ``stst synth NAME`` from the synthesizer registry on demand."""

    def list_commands(self, ctx):
        return get_registry("synthesizers").names()

    def get_command(self, ctx, name):
        registry = get_registry("synthesizers")
        if name.lower() not in registry:
            return None
        return _make_command(registry.get(name).name, registry.get(name).factory)


def _make_command(name: str, cls) -> click.Command:
    roles = getattr(cls, "target_roles", ())

    @click.command(name=name, help=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else None)
    @click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
    @_input_options
    def command(input_path, output, preset, config_file, overrides, frames, start, stride, size, seed, device, overwrite, quiet, **roles_given):
        config = cls.resolve(preset, config_file, overrides)

        def load(path):
            return read_video(path, start=start, num_frames=frames, stride=stride, size=size)

        targets = {"content": load(input_path)}
        for role in roles:
            if roles_given.get(role):
                targets[role] = load(roles_given[role])
        synthesizer = cls(targets, config, seed=seed, device=device)
        resuming = output.exists() and not overwrite
        was_complete = resuming and is_store(output) and StimulusStore(output).complete
        try:
            store = synthesizer.synthesize(output, overwrite=overwrite, progress=not quiet)
        except WeightsError as exc:
            hint = " Or run with --preset offline, which needs no download." if "offline" in getattr(cls, "presets", {}) else ""
            raise WeightsError(f"{exc}{hint}") from None
        verb = "already complete, left as it is:" if was_complete else "resumed and completed" if resuming else "wrote"
        frames, _, height, width = store.shape[-4:]
        samples = f"{store.samples} samples of " if store.samples else ""
        click.echo(f"{verb} {store.path}: {samples}{frames} frames of {height}x{width}, status {store.status}")

    for role in roles:
        flag = "--" + role.replace("_", "-")
        command = click.option(flag, role, type=click.Path(path_type=Path), help=f"Video for the {role.replace('_', ' ')} target (default: INPUT).")(command)
    return command


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
