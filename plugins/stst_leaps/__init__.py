"""LEAPS: video classifiers inverted into videos of a class, primed by stimulus videos (Stergiou & Deligiannis, ICCV 2023).

Registers the ``leaps`` synthesizer: ``stst synth leaps STIMULUS... --backbone
NAME --weights W --class LABEL|INDEX -o OUT.zarr``. The objective's terms
are in :mod:`stst_leaps.objective`, the run in :mod:`stst_leaps.synthesizer`;
the presets ``paper``, ``released`` and ``fast`` are beside them.
"""

from stst_core import hookimpl

from .config import LEAPSConfig
from .objective import BatchNormStatistics, augment, batchnorm_weights, coherence, cross_entropy, image_prior, jvs, mean_embedding, priming_loss
from .synthesizer import LEAPSSynthesizer

__all__ = [
    "BatchNormStatistics",
    "LEAPSConfig",
    "LEAPSSynthesizer",
    "augment",
    "batchnorm_weights",
    "coherence",
    "cross_entropy",
    "image_prior",
    "jvs",
    "mean_embedding",
    "priming_loss",
]


@hookimpl
def stst_register_synthesizers(register):
    register("leaps", LEAPSSynthesizer)


@hookimpl
def stst_register_commands(cli):
    from .cli import leaps_eval_command

    cli.add_command(leaps_eval_command)
