"""``stst synth METHOD``: one subcommand per registered synthesizer."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from .._config import to_dict
from .._device import deterministic as deterministic_algorithms
from .._device import nondeterminism_problem
from .._errors import STSTError, WeightsError
from .._plugins import get_registry
from .._store import StimulusStore, is_store
from .._table import format_table
from .._video import read_video
from .options import deterministic_option, device_option, quiet_option, seed_given, seed_option, set_option, video_options


def register(cli: click.Group) -> None:
    cli.add_command(SynthGroup("synth", help="Generate a stimulus with a registered method (`stst synth METHOD --help`)."))
    cli.add_command(synthesizers_group)


@click.group("synthesizers")
def synthesizers_group() -> None:
    """Inspect the registered synthesis methods."""


@synthesizers_group.command("list")
@click.argument("pattern", required=False)
def list_synthesizers(pattern: str | None) -> None:
    """List methods with their presets, optionally matching a wildcard PATTERN."""
    registry = get_registry("synthesizers")
    rows = []
    for name in registry.names(pattern):
        entry = registry.get(name)
        cls = entry.factory
        presets = ", ".join(f"{p}*" if p == cls.default_preset else p for p in cls.presets)
        rows.append((name, entry.plugin, presets, entry.summary))
    click.echo(format_table(["NAME", "PLUGIN", "PRESETS (* default)", "DESCRIPTION"], rows))
    click.echo("\n`stst synth NAME --show-config [--preset P]` prints a method's settings.")


def config_toml(config) -> str:
    """A resolved configuration as TOML that ``--config`` reads back (unset values are listed in a comment)."""
    import tomli_w

    def without_none(node):
        if isinstance(node, dict):
            return {k: without_none(v) for k, v in node.items() if v is not None}
        if isinstance(node, list):
            return [without_none(v) for v in node]
        return node

    data = to_dict(config)
    unset = sorted(k for k, v in data.items() if v is None)
    note = f"# unset (the method's default): {', '.join(unset)}\n" if unset else ""
    return note + tomli_w.dumps(without_none(data))


def _synth_options(function):
    for option in reversed(
        [
            click.option("-o", "--output", type=click.Path(path_type=Path), help="The stimulus store to write (a .zarr folder)."),
            click.option("--preset", help="A preset name, or a TOML file (default: the method's default preset)."),
            click.option(
                "--config",
                "config_file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="A TOML file with settings that override the preset.",
            ),
            set_option,
            click.option("--show-config", is_flag=True, help="Print the resolved configuration (preset, --config and --set applied) as TOML and exit."),
            video_options(square_crop=True),
            click.option("--fps", type=click.FloatRange(min=0, min_open=True), help="Frame rate of an input that has none (frame folders, arrays)."),
            seed_option,
            deterministic_option,
            device_option,
            click.option("--overwrite", is_flag=True, help="Start again even if OUTPUT holds a run (default: resume it)."),
            click.option(
                "--repair",
                is_flag=True,
                help="Mend a damaged OUTPUT (complete or unfinished): make the run again as far as it had got and replace only its damaged frames, arrays and checkpoint, if the re-made run reproduces the recorded checksums; an unfinished run then resumes.",
            ),
            quiet_option,
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


def _expand_folders(paths) -> list[Path]:
    """The inputs, a folder of video files standing for its files in name order (a folder of frames is one video)."""
    from .._video import ARRAY_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES

    inputs = []
    for path in map(Path, paths):
        if path.is_dir() and not any(f.suffix.lower() in IMAGE_SUFFIXES for f in path.iterdir()):
            files = sorted(f for f in path.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES + ARRAY_SUFFIXES and not f.name.startswith("."))
            if files:
                inputs += files
                continue
        inputs.append(path)
    return inputs


def synth_command(name: str) -> click.Command:
    """The ``stst synth NAME`` command of a registered synthesizer.

    For a plugin command that runs a synthesizer with options of its own
    (``stst recover`` is ``stst synth stgconvnet`` with mask options): take
    its ``params`` and call it with ``ctx.invoke(command, **values)``, so that
    loading, checking, resuming and the messages are the synth command's.
    """
    entry = get_registry("synthesizers").get(name)
    return _make_command(entry.name, entry.factory)


@contextlib.contextmanager
def _deterministic_run(what: str, on: bool | None, asked_by: str):
    """Run the block with deterministic algorithms ``on`` or off (None: as they are); torch's refusal of an operation becomes one line naming it and the way out."""
    # process-wide torch settings, put back afterwards for whoever runs the command in their own process (tests, plugin commands)
    with deterministic_algorithms(on) if on is not None else contextlib.nullcontext():
        try:
            yield
        except RuntimeError as exc:
            problem = nondeterminism_problem(exc)  # raised only while deterministic algorithms are on
            if problem is None:
                raise
            raise STSTError(f"{what}: {problem}, and {asked_by} asks for deterministic algorithms only; run with --no-deterministic") from None


def _make_command(name: str, cls) -> click.Command:
    roles = getattr(cls, "target_roles", ())

    @click.command(name=name, help=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else None)
    @click.argument("input_paths", metavar="INPUT..." if cls.many_inputs else "INPUT", nargs=-1, type=click.Path(path_type=Path))
    @_synth_options
    @click.pass_context
    def command(
        ctx,
        input_paths,
        output,
        preset,
        config_file,
        overrides,
        show_config,
        start,
        frames,
        stride,
        size,
        crop,
        fps,
        seed,
        deterministic,
        device,
        overwrite,
        repair,
        quiet,
        **extra,
    ):
        roles_given = {role: extra.pop(role) for role in roles}
        # a setting offered as an option is an override like --set KEY=VALUE, after the others
        overrides = (*overrides, *(f"{key}={value}" for key, value in extra.items() if value is not None))
        config = cls.resolve(preset, config_file, overrides)
        if show_config:
            click.echo(f"# stst synth {name} --preset {preset or cls.default_preset}" + "".join(f" --set {o}" for o in overrides))
            click.echo(config_toml(config), nl=False)
            return
        if not input_paths:
            raise click.MissingParameter(ctx=ctx, param=next(p for p in ctx.command.params if p.name == "input_paths"))
        inputs = _expand_folders(input_paths)
        if len(inputs) > 1 and not cls.many_inputs:
            raise click.UsageError(f"{name} makes a stimulus from one INPUT, got {len(inputs)}: {', '.join(map(str, inputs[:3]))}", ctx=ctx)
        if output is None:
            raise click.UsageError("Missing option '-o' / '--output'.", ctx=ctx)

        def load(path):
            return read_video(path, start=start, num_frames=frames, stride=stride, size=size, crop=crop, fps=fps)

        targets = {cls.input_role(i): load(path) for i, path in enumerate(inputs)}
        for role in roles:
            if roles_given.get(role):
                targets[role] = cls.read_target(role, roles_given[role], content=targets["content"], read=load, start=start, stride=stride)
        if deterministic is not None:
            asked_by = "--deterministic"
        elif seed_given(ctx):
            deterministic, asked_by = True, "--seed (which turns --deterministic on)"
        else:  # left as this process has it: off, unless a caller turned it on (stst_core.deterministic)
            asked_by = "this process's torch.use_deterministic_algorithms(True)"
        with _deterministic_run(f"{name} on {device}", deterministic, asked_by):
            synthesizer = cls(targets, config, seed=seed, device=device)
            resuming = output.exists() and not overwrite
            was_complete = resuming and is_store(output) and StimulusStore(output).complete
            damage = StimulusStore(output).damage() if repair and resuming and is_store(output) else {}
            try:
                store = synthesizer.synthesize(output, overwrite=overwrite, repair=repair, progress=not quiet)
            except WeightsError as exc:
                hint = " Or run with --preset offline, which needs no download." if "offline" in getattr(cls, "presets", {}) else ""
                raise WeightsError(f"{exc}{hint}") from None
        if damage:
            verb = f"repaired ({'; '.join(f'{name}: {len(parts)} part(s)' for name, parts in damage.items())})" + (
                "" if was_complete else ", resumed and completed"
            )
        elif was_complete:
            verb = "already complete, left as it is:"
        else:
            verb = "resumed and completed" if resuming else "wrote"
        frames, _, height, width = store.shape[-4:]
        samples = f"{store.samples} samples of " if store.samples else ""
        click.echo(f"{verb} {store.path}: {samples}{frames} frames of {height}x{width}, status {store.status}")

    for key, text in reversed(list(cls.setting_options.items())):
        flag = "--" + cls.setting_flags.get(key, key).replace("_", "-")
        command = click.option(flag, key, help=f"{text} (the setting {key}).")(command)
    for role in reversed(roles):
        flag = "--" + role.replace("_", "-")
        text = cls.target_help.get(role) or f"Video for the {role.replace('_', ' ')} target (default: INPUT)."
        command = click.option(flag, role, type=click.Path(path_type=Path), help=text)(command)
    return command
