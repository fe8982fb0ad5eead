"""PsychoPy integration: present generated stimuli in experiments.

- :class:`DynamicStim` (also ``psychopy.visual.DynamicStim`` once PsychoPy has
  activated its plugins): plays a stimulus store, a video file or an array
  frame-locked to the monitor, with a log of every flip.
- :class:`DynamicStimComponent`: the Builder component that creates one.
- :mod:`stst_psychopy.timing`: the frame scheduler and the flip log, usable
  without a window.
- ``stst present STIMULUS``: a quick viewer.

Importing this package imports neither PsychoPy nor torch; the names below
are loaded on first use, so that ``stst --help`` and PsychoPy sessions that
merely activate the plugin stay fast.
"""

from __future__ import annotations

import importlib

from .errors import ExperimentError, StimulusError, TimingError
from .timing import (
    POLICIES,
    FlipRecord,
    FrameSchedule,
    Playback,
    PresentationLog,
    detect_dropped,
    missed_refreshes,
)

__all__ = [
    "POLICIES",
    "DynamicStim",
    "DynamicStimComponent",
    "ExperimentError",
    "FlipRecord",
    "FrameSchedule",
    "Frames",
    "Playback",
    "PresentationLog",
    "StimulusError",
    "TimingError",
    "detect_dropped",
    "load_frames",
    "missed_refreshes",
]

_LAZY = {
    "DynamicStim": "stst_psychopy.stim",
    "DynamicStimComponent": "stst_psychopy.components.dynamicstim",
    "Frames": "stst_psychopy.sources",
    "load_frames": "stst_psychopy.sources",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
