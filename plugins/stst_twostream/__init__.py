"""Two-stream dynamic texture synthesis (Tesfaldet, Brubaker & Derpanis 2018).

Registers the ``two-stream`` synthesizer: ``stst synth two-stream INPUT -o OUT.zarr``.
See :mod:`stst_twostream.synthesizer` for the method and its variants.
"""

from stst_core import hookimpl

from .config import TwoStreamConfig
from .synthesizer import TwoStreamSynthesizer

__all__ = ["TwoStreamConfig", "TwoStreamSynthesizer"]


@hookimpl
def stst_register_synthesizers(register):
    register("two-stream", TwoStreamSynthesizer)
