"""STST toolkit core: contracts, plugin registry, video I/O, weights and CLI.

The core knows no specific backbone or method; those come from plugins
(``stst plugins list``). The public API is this flat namespace::

    from stst_core import read_video, create_backbone
    video = read_video("clip.mp4", num_frames=8, size=128)
    net = create_backbone("msoe", weights="analytic")
    acts = net(video.batch(), ["concat"])
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .backbone import (
    Backbone,
    BackboneCard,
    LayerSpec,
    WeightsChoice,
    backbone_class,
    create_backbone,
    list_backbones,
)
from .errors import BackboneError, ConfigError, RegistryError, STSTError, VideoError, WeightsError
from .hookspecs import hookimpl
from .losses import create_loss, list_losses
from .plugins import (
    PluginLoadWarning,
    get_registry,
    plugin_infos,
    register_plugin,
    reload_plugins,
    unregister_plugin,
)
from .video import Video, read_video, write_video
from .weights import WeightsFile, cache_dir, load_state_dict

try:
    __version__ = _version("stst-toolkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Backbone",
    "BackboneCard",
    "BackboneError",
    "ConfigError",
    "LayerSpec",
    "PluginLoadWarning",
    "RegistryError",
    "STSTError",
    "Video",
    "VideoError",
    "WeightsChoice",
    "WeightsError",
    "WeightsFile",
    "backbone_class",
    "cache_dir",
    "create_backbone",
    "create_loss",
    "get_registry",
    "hookimpl",
    "list_backbones",
    "list_losses",
    "load_state_dict",
    "plugin_infos",
    "read_video",
    "register_plugin",
    "reload_plugins",
    "unregister_plugin",
    "write_video",
]
