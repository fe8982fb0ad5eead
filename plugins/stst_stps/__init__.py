"""Spatiotemporal phase scrambling (STPS): the null model against which metamers are compared.

Registers the ``stps`` synthesizer: ``stst synth stps INPUT -o OUT.zarr [--seed N]``.
It keeps the amplitude spectrum of the input's 3-D (t, y, x) Fourier
transform and randomises its phases (:mod:`stst_stps.scramble`), so every
second-order statistic (power spectrum, autocorrelation) is the input's while
its structure (edges, objects, coherent motion) is gone.
"""

from stst_core import hookimpl

from .config import STPSConfig
from .scramble import amplitude_change, map_to_unit, phase_field, scramble_phase
from .synthesizer import STPSSynthesizer

__all__ = ["STPSConfig", "STPSSynthesizer", "amplitude_change", "map_to_unit", "phase_field", "scramble_phase"]


@hookimpl
def stst_register_synthesizers(register):
    register("stps", STPSSynthesizer)
