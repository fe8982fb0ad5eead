"""STST toolkit core: contracts, plugin registry, video I/O, stores, synthesis, comparison and CLI.

The core knows no specific backbone or method; those come from plugins
(``stst plugins list``). Everything a user or a plugin needs is importable
from this flat namespace (the modules behind it are private, and
``docs/api.md`` documents every name in ``__all__``)::

    from stst_core import read_video, create_backbone
    video = read_video("clip.mp4", num_frames=8, size=128)
    net = create_backbone("msoe", weights="analytic")
    acts = net(video.batch(), ["concat"])

Public submodules: :mod:`stst_core.hookspecs` (the hooks),
:mod:`stst_core.testing` (fixtures, fault injection and conformance suites)
and :mod:`stst_core.similarity` (the similarity measures).
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from ._config import Range, StreamConfig, apply_overrides, complete_weights, resolve_config
from ._errors import BackboneError, ConfigError, RegistryError, STSTError, VideoError, WeightsError
from ._files import atomic_output, write_text_atomically
from ._lock import StoreLockedError
from ._plugins import (
    PluginLoadWarning,
    get_registry,
    plugin_infos,
    register_plugin,
    reload_plugins,
    unregister_plugin,
)
from ._table import format_table
from .hookspecs import hookimpl

# names whose modules bring in torch, xarray, zarr, pandas or matplotlib: imported when first
# used, so that `import stst_core` (and every plugin's announcement) stays quick, and the
# `stst` command can handle a Ctrl-C while torch is still loading (stst_core._entry)
_LAZY = {
    "._backbone": ("Backbone", "BackboneCard", "LayerSpec", "Normalization", "backbone_class", "create_backbone", "fold_time", "list_backbones", "unfold_time"),
    "._device": ("available_devices", "deterministic", "resolve_device"),
    "._losses": ("compare_prepared", "create_loss", "list_losses", "prepare_target"),
    "._video": ("Video", "read_video", "write_video"),
    "._weights": ("ResolvedWeights", "WeightsChoice", "WeightsFile", "cache_dir", "fetch", "is_weights_path", "load_state_dict"),
    "._activations": ("ActivationStore", "activation_layer", "extract", "is_activation_store", "load_inputs"),
    "._comparison": ("Selection", "compare", "plot_comparison", "to_rsatoolbox"),
    "._learned": ("card_path", "data_fingerprints", "fit", "load_model", "save_model"),
    "._metrics": ("Metric", "check_comparable", "create_metric", "create_metrics", "evaluate_metrics", "list_metrics", "read_stimulus"),
    "._optim": ("LBFGS", "NGD", "Adam", "Stepper", "make_stepper", "minimize", "value_and_grad", "warmup_cosine"),
    "._report": ("contact_sheet", "loss_curves", "pick_frames", "save_figure"),
    "._store": ("Array", "StimulusStore", "StoreLayout", "is_store", "open_store", "toolkit_versions", "video_fingerprint"),
    "._synthesis": ("OptimizedSynthesizer", "RunProgress", "Stream", "Synthesizer", "build_stream", "list_synthesizers"),
}
_LAZY_MODULE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name in _LAZY_MODULE:
        import importlib

        value = getattr(importlib.import_module(_LAZY_MODULE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'stst_core' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_MODULE))


try:
    __version__ = _version("stst-toolkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "atomic_output",
    "write_text_atomically",
    "save_figure",
    "StoreLockedError",
    "available_devices",
    "deterministic",
    "resolve_device",
    "save_model",
    "load_model",
    "fit",
    "data_fingerprints",
    "card_path",
    "Adam",
    "ActivationStore",
    "Array",
    "Backbone",
    "BackboneCard",
    "BackboneError",
    "ConfigError",
    "LBFGS",
    "LayerSpec",
    "Metric",
    "NGD",
    "Normalization",
    "OptimizedSynthesizer",
    "PluginLoadWarning",
    "Range",
    "RegistryError",
    "ResolvedWeights",
    "RunProgress",
    "STSTError",
    "Selection",
    "StimulusStore",
    "Stepper",
    "StoreLayout",
    "Stream",
    "StreamConfig",
    "Synthesizer",
    "Video",
    "VideoError",
    "WeightsChoice",
    "WeightsError",
    "WeightsFile",
    "activation_layer",
    "apply_overrides",
    "backbone_class",
    "build_stream",
    "cache_dir",
    "check_comparable",
    "compare",
    "compare_prepared",
    "complete_weights",
    "contact_sheet",
    "create_backbone",
    "create_loss",
    "create_metric",
    "create_metrics",
    "evaluate_metrics",
    "extract",
    "fetch",
    "fold_time",
    "format_table",
    "get_registry",
    "hookimpl",
    "is_activation_store",
    "is_store",
    "is_weights_path",
    "list_backbones",
    "list_losses",
    "list_metrics",
    "list_synthesizers",
    "load_inputs",
    "load_state_dict",
    "loss_curves",
    "make_stepper",
    "minimize",
    "open_store",
    "pick_frames",
    "plot_comparison",
    "plugin_infos",
    "prepare_target",
    "read_stimulus",
    "read_video",
    "register_plugin",
    "reload_plugins",
    "resolve_config",
    "to_rsatoolbox",
    "toolkit_versions",
    "unfold_time",
    "unregister_plugin",
    "value_and_grad",
    "warmup_cosine",
    "video_fingerprint",
    "write_video",
]
