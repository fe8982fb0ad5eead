"""STGConvNet (Xie, Zhu & Wu 2017): an energy-based model of a dynamic pattern, learned from video and sampled by Langevin dynamics.

Registers the ``stgconvnet`` synthesizer: ``stst synth stgconvnet INPUT -o OUT.zarr``
learns ``p(Y; w) ∝ exp(f(Y; w)) · N(Y; 0, σ²)`` from the input, ``f`` a
spatio-temporal ConvNet (:mod:`stst_stgconvnet.energy`), and writes the
persistent Langevin chains as the store's samples, with the learned weights;
``stst recover INPUT --mask MASK -o OUT.zarr`` fills occluded pixels the same way.
"""

from stst_core import hookimpl

from .config import STGConvNetConfig
from .energy import ARCHITECTURES, EnergyNet, Layer, from_model, langevin, learning_loss, same_padding, to_model
from .synthesizer import STGConvNetSynthesizer

__all__ = [
    "ARCHITECTURES",
    "EnergyNet",
    "Layer",
    "STGConvNetConfig",
    "STGConvNetSynthesizer",
    "from_model",
    "langevin",
    "learning_loss",
    "same_padding",
    "to_model",
]


@hookimpl
def stst_register_synthesizers(register):
    register("stgconvnet", STGConvNetSynthesizer)


@hookimpl
def stst_register_commands(cli):
    from .cli import recover_command

    cli.add_command(recover_command())
