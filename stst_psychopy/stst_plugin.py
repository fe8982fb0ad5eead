"""The toolkit-side plugin of stst_psychopy: the ``stst present`` command.

PsychoPy is imported only when the command runs, so that ``stst --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from stst_core import hookimpl

from .timing import DEFAULT_TOLERANCE, POLICIES


@click.command()
@click.argument("stimulus", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--fullscreen",
    is_flag=True,
    help="Full screen instead of a window just larger than the stimulus.",
)
@click.option(
    "--screen",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Screen to show it on.",
)
@click.option("--loop", is_flag=True, help="Loop until Escape or q.")
@click.option("--reverse", is_flag=True, help="Play backwards.")
@click.option(
    "--fps",
    type=click.FloatRange(min=0, min_open=True),
    help="Play at this frame rate instead of the stimulus' own.",
)
@click.option(
    "--refresh-rate",
    type=click.FloatRange(min=0, min_open=True),
    help="The display's refresh rate in Hz (default: measured).",
)
@click.option(
    "--policy",
    type=click.Choice(POLICIES),
    default="nearest",
    show_default=True,
    help="What to do when the refresh rate is not a whole multiple of the frame rate.",
)
@click.option(
    "--tolerance",
    default=DEFAULT_TOLERANCE,
    show_default=True,
    type=click.FloatRange(0, 0.5, max_open=True),
    help="Relative rate mismatch still treated as a whole number of refreshes per frame.",
)
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Magnification (2: each stimulus pixel becomes 2x2 screen pixels).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after at most this many seconds.",
)
@click.option("--no-info", is_flag=True, help="No line of text under the stimulus.")
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one CSV row per flip (frame drawn, flip time, dropped refreshes).",
)
def present(
    stimulus,
    fullscreen,
    screen,
    loop,
    reverse,
    fps,
    refresh_rate,
    policy,
    tolerance,
    scale,
    duration,
    no_info,
    log_path,
):
    """Show STIMULUS (a stimulus store, video file or frames folder) frame-locked, as an experiment would.

    Each frame is shown for a whole number of screen refreshes; the summary
    reports dropped frames. Keys: space pauses, r reverses, l loops, Escape or
    q quits.
    """
    from .errors import StimulusError
    from .present import present as run_present

    try:
        run_present(
            stimulus,
            fullscreen=fullscreen,
            screen=screen,
            loop=loop,
            reverse=reverse,
            fps=fps,
            refresh_rate=refresh_rate,
            policy=policy,
            tolerance=tolerance,
            scale=scale,
            duration=duration,
            info=not no_info,
            log_path=log_path,
            echo=click.echo,
        )
    except StimulusError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:
        if type(exc).__name__ == "NoSuchDisplayException":  # pyglet's; importing it would need a display
            raise click.ClickException(f"no display to show the stimulus on ({exc}); on a machine without a screen use xvfb-run") from None
        raise


@hookimpl
def stst_register_commands(cli):
    cli.add_command(present)
