"""The exceptions of the PsychoPy integration.

They derive from :class:`ValueError` only, not from the toolkit's
``STSTError``: importing ``stst_core`` imports torch, and this package is
imported by every PsychoPy session that activates its plugins, so it keeps
that cost out of experiments that never load a stimulus store. The ``stst
present`` command turns them into clean messages.
"""

from __future__ import annotations

import math


class StimulusError(ValueError):
    """A stimulus that cannot be presented: wrong array shape or type, no frame rate, unfinished store."""


class TimingError(StimulusError):
    """The stimulus frame rate does not fit the refresh rate under the chosen timing policy."""


class ExperimentError(ValueError):
    """A Builder experiment that cannot be compiled: a missing file, or one PsychoPy cannot load."""


def positive_number(name: str, value, error: type[StimulusError] = StimulusError) -> float:
    """``value`` as a finite float > 0, or ``error`` naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise error(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise error(f"{name} must be a positive number, got {value!r}")
    return number
