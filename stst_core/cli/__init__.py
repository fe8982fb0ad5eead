"""The ``stst`` command line.

Built-in commands live in the modules of this package; plugins add theirs
through the ``stst_register_commands`` hook and declare their options with the
shared decorators of :mod:`stst_core.cli.options` (re-exported here). Every
error a user can cause (a :class:`~stst_core.STSTError`, a bad or missing
option, a missing file) is printed as one line, ``Error: …``, without a
traceback, with exit status 1.
"""

from __future__ import annotations

import sys

import click

from .._device import MEMORY_ADVICE
from .._errors import STSTError
from .._files import describe_os_error
from .._plugins import plugin_host
from . import backbones, compare, export, extract, losses, options, plugins, synth, weights
from .options import *  # noqa: F403 - the shared options (options.__all__) are part of this package's API
from .synth import synth_command


class STSTGroup(click.Group):
    """A click group that turns toolkit errors into clean messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except STSTError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # the machine said no (a full disk, a read-only folder): not a bug, one line
            raise click.ClickException(describe_os_error(exc)) from None
        except (MemoryError, RuntimeError) as exc:
            # out of host memory (MemoryError, torch's "can't allocate memory") or of device memory
            # (torch.OutOfMemoryError): the run was too big for the machine; any other RuntimeError is a bug
            text = str(exc)
            if not isinstance(exc, MemoryError) and "out of memory" not in text and "can't allocate memory" not in text:
                raise
            cause = text.splitlines()[0] if text else type(exc).__name__
            raise click.ClickException(f"out of memory ({cause}); {MEMORY_ADVICE}") from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """As click's, but every usage error too is one line with exit status 1 (click's own: several lines, status 2)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            # without standalone mode click returns the status of `ctx.exit(n)` (and of --help) instead of exiting
            status = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            click.echo(f"Error: {one_line(exc)}", err=True)
            sys.exit(1)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)


def one_line(exc: click.ClickException) -> str:
    """The message of a click error on one line, with where to find help for usage errors."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _version() -> str:
    from .. import __version__

    return __version__


@click.group(cls=STSTGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=_version(), prog_name="stst", message="%(prog)s %(version)s")
def cli() -> None:
    """STST toolkit: dynamic visual stimuli that match natural videos in model statistics.

    Start with `stst demo`; `stst backbones list` and `stst plugins list` show
    what is installed.
    """


for module in (synth, export, extract, compare, plugins, backbones, losses, weights):
    module.register(cli)


def build_cli() -> click.Group:
    """The top-level group with every plugin's commands added."""
    plugin_host().add_commands(cli)
    return cli


__all__ = ["build_cli", "cli", "main", "synth_command", *options.__all__]


def main(argv: list[str] | None = None) -> None:
    build_cli().main(args=argv if argv is not None else sys.argv[1:], prog_name="stst")
