"""Weight-free and model-based metrics that compare a generated video with its target.

Registers the metrics ``power_spectrum``, ``oriented_energy``, ``flow``,
``flicker``, ``autocorrelation``, ``pixels``, ``novelty`` and ``gram`` (one module each,
with its formula), and the commands ``stst metrics`` (a table, JSON, CSV and
a report-card figure) and ``stst compare-methods`` (one stimulus per method
from the same input, then the metrics). See ``docs/metrics.md``.
"""

from stst_core import hookimpl

from .autocorrelation import AutocorrelationDistance, autocorrelation_curve
from .energy import OrientedEnergyDistance
from .flicker import FlickerDistance, flicker
from .flow import FlowDistance, flow_statistics, optical_flow
from .gram import GramDistance
from .novelty import Novelty
from .pixels import PixelStatisticsDistance, pixel_statistics
from .spectrum import PowerSpectrumDistance, binned_power

# every metric is a stst_core.Metric, registered under its own name
METRICS = {
    metric.name: metric
    for metric in (
        PowerSpectrumDistance,
        OrientedEnergyDistance,
        FlowDistance,
        FlickerDistance,
        AutocorrelationDistance,
        PixelStatisticsDistance,
        Novelty,
        GramDistance,
    )
}

__all__ = [
    "AutocorrelationDistance",
    "FlickerDistance",
    "FlowDistance",
    "GramDistance",
    "Novelty",
    "OrientedEnergyDistance",
    "PixelStatisticsDistance",
    "PowerSpectrumDistance",
    "autocorrelation_curve",
    "binned_power",
    "flicker",
    "flow_statistics",
    "optical_flow",
    "pixel_statistics",
]


@hookimpl
def stst_register_metrics(register):
    for name, metric in METRICS.items():
        register(name, metric)


@hookimpl
def stst_register_commands(cli):
    from .cli import compare_methods, metrics

    cli.add_command(metrics)
    cli.add_command(compare_methods)
