"""The ``stst`` command line.

Built-in commands live in the modules of this package; plugins add theirs
through the ``stst_register_commands`` hook. Errors a user can cause
(:class:`~stst_core._errors.STSTError`) are printed as one message without a
traceback, with exit status 1.
"""

from __future__ import annotations

import sys

import click

from .._errors import STSTError
from .._plugins import plugin_host
from . import backbones, compare, extract, losses, plugins, synth, weights


class STSTGroup(click.Group):
    """A click group that turns toolkit errors into clean messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except STSTError as exc:
            raise click.ClickException(str(exc)) from None


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


for module in (synth, extract, compare, plugins, backbones, losses, weights):
    module.register(cli)


def build_cli() -> click.Group:
    """The top-level group with every plugin's commands added."""
    plugin_host().add_commands(cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    build_cli().main(args=argv if argv is not None else sys.argv[1:], prog_name="stst")
