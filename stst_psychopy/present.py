"""``stst present``: look at a stimulus on the screen, frame-locked, before using it in an experiment.

:func:`present` opens a PsychoPy window, plays the stimulus with
:class:`~stst_psychopy.DynamicStim` and returns the presentation logs. Keys:
space pauses and resumes, ``r`` plays backwards, ``l`` toggles looping,
Escape or ``q`` quits.
"""

from __future__ import annotations

from pathlib import Path

from .timing import DEFAULT_TOLERANCE

__all__ = ["present"]

_MARGIN = 40  # pixels around the stimulus in a window that is not full screen
_MIN_WINDOW = (320, 240)


def present(
    stimulus,
    *,
    fullscreen: bool = False,
    screen: int = 0,
    loop: bool = False,
    reverse: bool = False,
    fps: float | None = None,
    refresh_rate: float | None = None,
    policy: str = "nearest",
    tolerance: float = DEFAULT_TOLERANCE,
    scale: float = 1.0,
    background=(0.0, 0.0, 0.0),
    duration: float | None = None,
    info: bool = True,
    log_path: str | Path | None = None,
    echo=print,
):
    """Play a stimulus in a window until it ends, the time is up or a key quits.

    Parameters
    ----------
    stimulus : str, os.PathLike or array
        Anything :class:`~stst_psychopy.DynamicStim` plays.
    fullscreen : bool
        Full screen (otherwise a window just larger than the stimulus).
    screen : int
        Which screen to open the window on.
    loop, reverse : bool
        Loop until a key is pressed; play backwards.
    fps : float, optional
        Play at this rate instead of the stimulus' own.
    refresh_rate : float, optional
        The display's refresh rate in Hz; measured when not given.
    policy : str
        Timing policy when the rates do not divide (see :mod:`stst_psychopy.timing`).
    tolerance : float
        Relative rate mismatch still treated as a whole number of refreshes.
    scale : float
        Magnification (2: every stimulus pixel becomes 2 × 2 screen pixels).
    background : sequence of float
        Window colour in PsychoPy's rgb space (-1 to 1; 0 is mid grey).
    duration : float, optional
        Stop after at most this many seconds (default: after one pass, or
        when a key quits a looping clip).
    info : bool
        Show a line of text under the stimulus with its timing and the keys.
    log_path : str or Path, optional
        Write one CSV row per flip (all presentations) to this file.
    echo : callable
        Where to report the summary (``print``; the CLI passes ``click.echo``).

    Returns
    -------
    list of PresentationLog
        The presentation's flips (one log: pausing, reversing and looping
        continue the same presentation).
    """
    from .sources import load_frames

    frames = load_frames(stimulus, fps)  # a bad stimulus fails before a window opens, and before PsychoPy needs a display

    from psychopy import core, event, logging, visual

    from .stim import DynamicStim

    width, height = frames.size
    logging.console.setLevel(logging.ERROR)  # not PsychoPy's note about a missing monitor profile
    window = None
    try:
        window = visual.Window(
            size=(
                max(_MIN_WINDOW[0], round(width * scale) + 2 * _MARGIN),
                max(_MIN_WINDOW[1], round(height * scale) + 3 * _MARGIN),
            ),
            fullscr=fullscreen,
            screen=screen,
            units="pix",
            color=background,
            colorSpace="rgb",
            allowGUI=not fullscreen,
            checkTiming=refresh_rate is None,  # measure the refresh rate unless it is given
            winType="pyglet",
        )
        stim = DynamicStim(
            window,
            frames,
            refreshRate=refresh_rate,
            timingPolicy=policy,
            tolerance=tolerance,
            loop=loop,
            reverse=reverse,
            size=(width * scale, height * scale),
            name="present",
            autoLog=False,
        )
        caption = None
        if info:
            caption = visual.TextStim(
                window,
                text="",
                pos=(0, -height * scale / 2 - _MARGIN / 2),
                height=12,
                color=(0.6, 0.6, 0.6),
                autoLog=False,
            )

        def describe() -> str:
            state = "paused" if stim.isPaused else ("backwards" if stim.reverse else "forwards")
            return (
                f"{Path(str(stim.source)).name}: {stim.nFrames} frames at {stim.fps:.4g} fps on {stim.schedule.refresh_rate:.4g} Hz, "
                f"{stim.effectiveFps:.4g} fps shown, {state}{', looping' if stim.loop else ''}.  "
                "space pause · r reverse · l loop · esc quit"
            )

        logging.console.setLevel(logging.WARNING)
        echo(stim.schedule.describe())
        if caption is not None:
            caption.text = describe()
            caption.draw()  # the first draw of a text lays out its glyphs: not during the clip
        window.flip()
        event.clearEvents()
        clock = core.Clock()
        stim.play()
        while True:
            if duration is not None and clock.getTime() >= duration:
                break
            keys = event.getKeys()
            if "escape" in keys or "q" in keys:
                break
            if "space" in keys:
                if stim.isPaused:
                    stim.play()
                else:
                    stim.pause()
            if "r" in keys:
                stim.reverse = not stim.reverse
            if "l" in keys:
                stim.loop = not stim.loop
            if keys and caption is not None:
                caption.text = describe()
            if stim.isFinished:
                break
            stim.draw()
            if caption is not None:
                caption.draw()
            window.flip()
        stim.stop()
        logs = list(stim.logs)
    finally:
        if window is not None:
            window.close()
    flips = sum(log.n_flips for log in logs)
    dropped = sum(log.n_dropped for log in logs)
    echo(f"{len(logs)} presentation(s), {flips} flips, {dropped} refresh(es) dropped")
    if log_path is not None:
        path = Path(log_path)
        path.unlink(missing_ok=True)
        for log in logs:
            log.to_csv(path, append=True)
        echo(f"flip log: {path}")
    return logs
