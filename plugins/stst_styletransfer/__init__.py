"""Spatiotemporal style transfer (STST, Greco & Siegel 2024): model metamers of natural videos.

Registers the ``stst`` synthesizer; ``stst synth stst INPUT -o OUT.zarr`` runs it.
See :mod:`stst_styletransfer.synthesizer` for the algorithm and
:mod:`stst_styletransfer.config` for its settings.
"""

from stst_core import hookimpl

from .config import STSTConfig
from .synthesizer import STSTSynthesizer

__all__ = ["STSTConfig", "STSTSynthesizer"]


@hookimpl
def stst_register_synthesizers(register):
    register("stst", STSTSynthesizer)


@hookimpl
def stst_register_commands(cli):
    from .demo import demo

    cli.add_command(demo)
