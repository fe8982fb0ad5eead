"""Helpers for tests that open PsychoPy windows (this project's, and experiments built on it).

:func:`require_display`
    call it before importing ``psychopy.visual`` (which needs an X display):
    skips the test, or fails it in CI, when there is none; and loads triton
    before the first OpenGL context (see the function).
:func:`back_buffer`
    the pixels drawn so far for the coming flip, as an array.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

__all__ = ["back_buffer", "in_ci", "require_display"]

# Either one makes a missing display an error: the project's CI sets the first
# (./.ci/run), and CI services (GitHub Actions, GitLab, ...) set the second.
CI_VARIABLES = ("STST_REQUIRE_TEST_DATA", "CI")


def in_ci() -> bool:
    """Whether tests run in CI, where nothing may be skipped for want of a display."""
    return any(os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no") for name in CI_VARIABLES)


def require_display() -> None:
    """Skip (or, in CI, fail) unless an X display is available to open windows on.

    Rendering tests run under Xvfb (``./dev test`` wraps pytest in
    ``xvfb-run``). In CI (the environment variable ``STST_REQUIRE_TEST_DATA``
    or ``CI`` is set) a missing display is an error, not a reason to skip.
    """
    import pytest

    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        reason = "no X display for PsychoPy windows: run the tests under xvfb-run (./dev test does)"
        if in_ci():
            pytest.fail(
                f"{reason}; {' or '.join(CI_VARIABLES)} is set (CI), so this is an error",
                pytrace=False,
            )
        pytest.skip(reason, allow_module_level=True)
    # Mesa's software OpenGL (Xvfb's llvmpipe) and triton (which torchvision
    # imports through torch's compiler) each load their own LLVM, and importing
    # triton after the first OpenGL context crashes the process. Tests that open
    # windows and then synthesize stimuli therefore load it first.
    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401


def back_buffer(win) -> np.ndarray:
    """The window's back buffer as ``(height, width, 3)`` uint8, row 0 at the top."""
    image = win.getMovieFrame(buffer="back")
    win.movieFrames.clear()  # getMovieFrame keeps a copy for saveMovieFrames
    return np.asarray(image.convert("RGB"))
