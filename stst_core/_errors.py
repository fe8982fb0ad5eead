"""The toolkit's exceptions.

Every error a user can cause derives from :class:`STSTError`, whose message
names the problem and what to do about it. The CLI prints these messages
without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class STSTError(Exception):
    """Base class of all errors caused by input, configuration or environment."""


class VideoError(STSTError, ValueError):
    """A video could not be read or written (missing, unreadable, empty, inconsistent)."""


class RegistryError(STSTError, LookupError):
    """An unknown or duplicate name in the registry, or a plugin that broke the contract."""


class BackboneError(STSTError, ValueError):
    """Bad arguments to a backbone: unknown layer, wrong input shape, bad weights choice."""


class WeightsError(STSTError, OSError):
    """Weights could not be found, downloaded, verified or loaded."""


class ConfigError(STSTError, ValueError):
    """An invalid configuration key or value."""
