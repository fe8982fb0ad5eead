"""Frame-locked timing: which stimulus frame each screen refresh shows, and the flip log.

Nothing here touches a window, so the timing rules can be tested without a
display (under Xvfb the refresh rate is not real).

Frame locking
-------------
A stimulus at ``fps`` frames per second on a display refreshing at
``refresh_rate`` Hz needs ``ratio = refresh_rate / fps`` refreshes per frame.
When the ratio is a whole number ``k`` (within ``tolerance``, relative: a 30
fps clip on a display measured at 59.94 Hz is a match) every frame is shown
for exactly ``k`` refreshes. When it is not, the ``policy`` decides:

``"nearest"`` (default)
    every frame gets ``ratio`` rounded (halves up, at least 1) refreshes: all frames last
    equally long, and the clip plays slightly faster or slower than ``fps``
    (25 fps on 60 Hz: 2 refreshes per frame, played at 30 fps). Uniform
    temporal sampling keeps motion smooth, which matters more for vision
    experiments than the exact duration; the playback rate actually used is in
    the log.
``"floor"`` / ``"ceil"``
    ``floor(ratio)`` (at least 1) or ``ceil(ratio)`` refreshes per frame: never
    slower, or never faster, than ``fps``.
``"pulldown"``
    every frame starts on the refresh nearest to its nominal onset, so frames
    last ``floor(ratio)`` or ``ceil(ratio)`` refreshes (2, 3, 2, 3 … for 24 fps on
    60 Hz, as in telecine 3:2 pulldown) and the clip keeps its duration on
    average, at the price of uneven frame durations (judder). With more frames
    than refreshes, frames are skipped.
``"error"``
    raise :class:`~stst_psychopy.errors.TimingError`.

Dropped frames
--------------
A flip that comes more than ``drop_threshold`` (1.2) refresh periods after the
previous one missed ``round(interval / period) - 1`` refreshes, at least one:
the frame before it stayed on screen that much longer. The threshold is
PsychoPy's own (``Window.refreshThreshold`` is 1.2 frame periods, the
criterion of ``win.nDroppedFrames``), so that both count the same flips. The log records it on the late
flip. By default the clip then simply continues (frame locked: every frame
is still drawn, the presentation lasts longer); with ``catch_up=True`` the
playback skips as many refreshes of content as were missed, so the clip stays
locked to the clock instead.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .errors import TimingError, positive_number

__all__ = [
    "POLICIES",
    "FlipRecord",
    "FrameSchedule",
    "Playback",
    "PresentationLog",
    "detect_dropped",
    "missed_refreshes",
]

POLICIES = ("nearest", "floor", "ceil", "pulldown", "error")
DEFAULT_TOLERANCE = 0.02
# PsychoPy's own criterion: Window.refreshThreshold = 1.2 * monitorFramePeriod
DROP_THRESHOLD = 1.2
_EPS = 1e-9


class FrameSchedule:
    """Which stimulus frame each screen refresh shows, for one pass through a clip.

    Parameters
    ----------
    n_frames : int
        Number of frames of the clip.
    fps : float
        Its nominal frame rate.
    refresh_rate : float
        The display's refresh rate in Hz (measured, or declared).
    policy : {"nearest", "floor", "ceil", "pulldown", "error"}
        What to do when ``refresh_rate / fps`` is not a whole number (see the
        module documentation).
    tolerance : float
        Largest relative difference between ``refresh_rate / fps`` and a
        whole number that still counts as a match (0.02: 2 %).

    Attributes
    ----------
    ratio : float
        Refreshes per frame asked for, ``refresh_rate / fps``.
    matched : bool
        Whether ``ratio`` is a whole number within ``tolerance``.
    flips_per_frame : int or None
        Refreshes each frame is shown for; None under ``"pulldown"`` when the
        ratio does not match (frames then last unequally long).
    effective_fps : float
        The frame rate the clip actually plays at.
    refreshes_per_pass : int
        Refreshes one pass through the clip takes.

    Raises
    ------
    TimingError
        For a bad argument, or under ``policy="error"`` when the ratio does
        not match.

    Examples
    --------
    >>> schedule = FrameSchedule(3, fps=30, refresh_rate=60)
    >>> schedule.flips_per_frame, [schedule.frame_at(n) for n in range(7)]
    (2, [0, 0, 1, 1, 2, 2, None])
    >>> FrameSchedule(4, fps=24, refresh_rate=60, policy="pulldown").frames()
    [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    """

    def __init__(
        self,
        n_frames: int,
        fps: float,
        refresh_rate: float,
        policy: str = "nearest",
        tolerance: float = DEFAULT_TOLERANCE,
    ):
        if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
            raise TimingError(f"n_frames must be a whole number of at least 1, got {n_frames!r}")
        if policy not in POLICIES:
            raise TimingError(f"unknown timing policy {policy!r}; choose one of {', '.join(POLICIES)}")
        tolerance = float(tolerance)
        if not 0 <= tolerance < 0.5:
            raise TimingError(f"tolerance must be in [0, 0.5), got {tolerance!r}")
        self.n_frames = n_frames
        self.fps = positive_number("fps", fps, TimingError)
        self.refresh_rate = positive_number("refresh rate", refresh_rate, TimingError)
        self.policy = policy
        self.tolerance = tolerance
        self.ratio = self.refresh_rate / self.fps
        nearest = math.floor(self.ratio + 0.5)  # halves round up (slower), not to even
        self.matched = nearest >= 1 and abs(self.ratio - nearest) <= tolerance * self.ratio
        if self.matched:
            self.flips_per_frame = nearest
        elif policy == "error":
            raise TimingError(self._mismatch_message())
        elif policy == "nearest":
            self.flips_per_frame = max(1, nearest)
        elif policy == "floor":
            self.flips_per_frame = max(1, math.floor(self.ratio))
        elif policy == "ceil":
            self.flips_per_frame = max(1, math.ceil(self.ratio))
        else:  # pulldown
            self.flips_per_frame = None
        if self.flips_per_frame is None:
            self.effective_fps = self.fps
            self.refreshes_per_pass = self._pulldown_length()
        else:
            self.effective_fps = self.refresh_rate / self.flips_per_frame
            self.refreshes_per_pass = n_frames * self.flips_per_frame

    def _mismatch_message(self) -> str:
        nearest = max(1, math.floor(self.ratio + 0.5))
        floor, ceil = max(1, math.floor(self.ratio)), max(1, math.ceil(self.ratio))
        options = [f"'nearest' ({nearest} refreshes per frame: plays at {self.refresh_rate / nearest:.4g} fps)"]
        if floor != nearest:
            options.append(f"'floor' ({floor}: {self.refresh_rate / floor:.4g} fps)")
        if ceil != nearest:
            options.append(f"'ceil' ({ceil}: {self.refresh_rate / ceil:.4g} fps)")
        if self.ratio < 1:
            options.append(f"'pulldown' (skips frames: {self.fps:.4g} fps on average)")
        else:
            options.append(f"'pulldown' (alternating {floor} and {ceil} refreshes: {self.fps:.4g} fps on average)")
        return (
            f"a {self.fps:.4g} fps stimulus on a {self.refresh_rate:.4g} Hz display needs {self.ratio:.4g} refreshes per frame, "
            f"not a whole number (tolerance {self.tolerance:.0%}); choose the timing policy "
            + ", ".join(options)
            + ", resample the stimulus to a rate that divides the refresh rate, or set the refresh rate the display really has"
        )

    @property
    def speed(self) -> float:
        """Playback speed relative to ``fps`` (1.0: as intended)."""
        return self.effective_fps / self.fps

    @property
    def duration(self) -> float:
        """Seconds one pass takes on a display that never drops a frame."""
        return self.refreshes_per_pass / self.refresh_rate

    def _pulldown_frame(self, refresh: int) -> int:
        # frame k starts on the refresh nearest to its onset k * ratio; with fewer
        # refreshes than frames each refresh shows the frame nearest to it in time
        return math.floor(refresh / self.ratio + min(0.5, 0.5 / self.ratio) + _EPS)

    def _pulldown_length(self) -> int:
        refresh = max(0, math.floor(self.n_frames * self.ratio) - 2)
        while self._pulldown_frame(refresh) < self.n_frames:
            refresh += 1
        return refresh

    def frame_at(self, refresh: int, *, loop: bool = False, reverse: bool = False) -> int | None:
        """The frame shown on refresh ``refresh`` (0: the first) of the presentation.

        Parameters
        ----------
        refresh : int
            Refreshes since the presentation started.
        loop : bool
            Start again after the last frame; otherwise return None past the end.
        reverse : bool
            Play backwards: the last frame first.

        Returns
        -------
        int or None
            A frame index in ``[0, n_frames)``, or None once a non-looping pass
            is over.
        """
        if refresh < 0:
            raise TimingError(f"refresh index must not be negative, got {refresh}")
        if refresh >= self.refreshes_per_pass:
            if not loop:
                return None
            refresh %= self.refreshes_per_pass
        if self.flips_per_frame is not None:
            frame = refresh // self.flips_per_frame
        else:
            frame = min(self._pulldown_frame(refresh), self.n_frames - 1)
        return self.n_frames - 1 - frame if reverse else frame

    def frames(self, *, reverse: bool = False) -> list[int]:
        """The frame of every refresh of one pass."""
        return [self.frame_at(n, reverse=reverse) for n in range(self.refreshes_per_pass)]

    def describe(self) -> str:
        """One line for logs: the rates and how they were reconciled."""
        if self.flips_per_frame is None and self.ratio < 1:
            how = "pulldown (frames skipped)"
        elif self.flips_per_frame is None:
            how = f"pulldown ({math.floor(self.ratio)}-{math.ceil(self.ratio)} refreshes per frame)"
        else:
            how = f"{self.flips_per_frame} refresh{'es' if self.flips_per_frame > 1 else ''} per frame"
        text = f"{self.n_frames} frames at {self.fps:.4g} fps on {self.refresh_rate:.4g} Hz: {how}, plays at {self.effective_fps:.4g} fps"
        if not self.matched:
            text += f" (refresh rate / fps = {self.ratio:.4g} is not a whole number; policy {self.policy!r})"
        return text

    def __repr__(self) -> str:
        return f"FrameSchedule({self.describe()})"


def missed_refreshes(interval: float, refresh_rate: float, threshold: float = DROP_THRESHOLD) -> int:
    """Refreshes missed before a flip that came ``interval`` seconds after the previous one.

    Zero when the interval is at most ``threshold`` refresh periods (or not
    finite: the first flip of a presentation has no interval), else
    ``round(interval / period) - 1``, at least 1.

    Examples
    --------
    >>> missed_refreshes(1 / 60, 60), missed_refreshes(0.05, 60), missed_refreshes(0.03, 60)
    (0, 2, 1)
    """
    period = 1.0 / refresh_rate
    if interval is None or not math.isfinite(interval) or interval <= threshold * period:
        return 0
    return max(1, round(interval / period) - 1)


def detect_dropped(times: Sequence[float], refresh_rate: float, threshold: float = DROP_THRESHOLD) -> list[int]:
    """Refreshes missed before each flip of a sequence of flip times.

    Works on any list of flip times, e.g. a presentation log's ``times`` or
    the cumulative sum of PsychoPy's ``win.frameIntervals``. The first flip
    has no interval and counts 0.

    Examples
    --------
    >>> detect_dropped([0.0, 0.0167, 0.0333, 0.0833, 0.1], refresh_rate=60)
    [0, 0, 0, 2, 0]
    """
    return [0] + [missed_refreshes(b - a, refresh_rate, threshold) for a, b in itertools.pairwise(times)]


@dataclass(frozen=True)
class FlipRecord:
    """One flip of a presentation.

    Attributes
    ----------
    flip : int
        Index of the flip within the presentation (0: the first).
    refresh : int
        The refresh of the clip's timeline the drawn frame belongs to (equal
        to ``flip`` unless the presentation was paused or caught up).
    frame : int
        The stimulus frame drawn for this flip.
    time : float
        When the flip happened, on PsychoPy's clock (``win.flip()``'s time).
    interval : float
        Seconds since the previous flip of the presentation (NaN for the first
        flip and the first one after a pause).
    dropped : int
        Refreshes missed just before this flip (0 when on time).
    paused : bool
        Whether the presentation was paused (the frame held, not advanced).
    """

    flip: int
    refresh: int
    frame: int
    time: float
    interval: float
    dropped: int
    paused: bool


_COLUMNS = ["presentation"] + [f.name for f in fields(FlipRecord)]


class PresentationLog:
    """The flips of one presentation: one :class:`FlipRecord` per flip, and the settings.

    Parameters
    ----------
    info : dict
        What the presentation was: ``presentation`` (its number, counting
        from 1 per stimulus), ``source``, ``n_frames``, ``fps``,
        ``refresh_rate``, ``policy``, ``flips_per_frame``, ``effective_fps``,
        ``loop``, ``reverse``, ``catch_up``.
    """

    def __init__(self, info: dict[str, Any] | None = None):
        self.info = dict(info or {})
        self.records: list[FlipRecord] = []

    def append(self, record: FlipRecord) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[FlipRecord]:
        return iter(self.records)

    def __getitem__(self, index):
        return self.records[index]

    @property
    def frames(self) -> list[int]:
        """The frame drawn on each flip."""
        return [r.frame for r in self.records]

    @property
    def times(self) -> list[float]:
        """The time of each flip."""
        return [r.time for r in self.records]

    @property
    def n_flips(self) -> int:
        return len(self.records)

    @property
    def n_dropped(self) -> int:
        """Refreshes missed during the presentation, in all."""
        return sum(r.dropped for r in self.records)

    @property
    def dropped_flips(self) -> list[int]:
        """Indices of the flips that came late."""
        return [r.flip for r in self.records if r.dropped]

    def frame_runs(self) -> list[tuple[int, int]]:
        """``(frame, flips)`` for each run of consecutive flips that drew the same frame.

        A frame shown for two refreshes gives ``(k, 2)``; a refresh missed
        while it was on screen does not count (see ``dropped``).
        """
        runs: list[list[int]] = []
        for record in self.records:
            if runs and runs[-1][0] == record.frame:
                runs[-1][1] += 1
            else:
                runs.append([record.frame, 1])
        return [(frame, count) for frame, count in runs]

    def summary(self) -> dict[str, Any]:
        """Counts for a data file: flips, dropped refreshes, frames shown, duration."""
        times = self.times
        return {
            "flips": self.n_flips,
            "dropped": self.n_dropped,
            "frames_shown": len(set(self.frames)),
            "duration": (times[-1] - times[0]) if len(times) > 1 else 0.0,
        }

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per flip (the :class:`FlipRecord` fields and ``presentation``)."""
        presentation = self.info.get("presentation")
        return [{"presentation": presentation, **asdict(r)} for r in self.records]

    def to_csv(self, path, *, append: bool = False, **columns) -> Path:
        """Write one row per flip to a CSV file.

        Parameters
        ----------
        path : str or Path
            The file.
        append : bool
            Add rows to an existing file (its header is kept; a new file gets
            one), e.g. one file for all presentations of an experiment.
        **columns
            Constant columns added in front of every row, e.g. ``trial=3``.

        Returns
        -------
        Path
            The file written.
        """
        path = Path(path)
        header = list(columns) + _COLUMNS
        new = not (append and path.is_file() and path.stat().st_size > 0)
        with path.open("w" if not append else "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            if new:
                writer.writeheader()
            for row in self.to_records():
                writer.writerow({**columns, **row})
        return path

    def __repr__(self) -> str:
        return f"<PresentationLog {self.info.get('source', '')!r}: {self.n_flips} flips, {self.n_dropped} refreshes dropped>"


@dataclass
class _Pending:
    refresh: int
    frame: int
    paused: bool


class Playback:
    """One presentation of a clip: the frame for each coming flip, and the log of flips.

    Drive it once per screen refresh: :meth:`frame_for_flip` before drawing
    (asking again before the flip gives the same frame), :meth:`flipped`
    with the flip's time after it.

    Parameters
    ----------
    schedule : FrameSchedule
    loop, reverse : bool
        Start again after the last frame; play backwards. Read on every flip,
        so they may change during a presentation (reversing mid-way jumps to
        the mirrored frame).
    catch_up : bool
        After missed refreshes, skip that much content to stay locked to the
        clock (default: show every frame and run late).
    drop_threshold : float
        Flip intervals longer than this many refresh periods count as drops.
    info : dict, optional
        Extra entries for the log's ``info``.

    Examples
    --------
    >>> playback = Playback(FrameSchedule(2, fps=30, refresh_rate=60))
    >>> for t in (0.0, 1 / 60, 2 / 60, 5 / 60):
    ...     frame = playback.frame_for_flip()
    ...     record = playback.flipped(t)
    >>> playback.log.frames, playback.log.dropped_flips, playback.finished
    ([0, 0, 1, 1], [3], True)
    """

    def __init__(
        self,
        schedule: FrameSchedule,
        *,
        loop: bool = False,
        reverse: bool = False,
        catch_up: bool = False,
        drop_threshold: float = DROP_THRESHOLD,
        info: dict[str, Any] | None = None,
    ):
        self.schedule = schedule
        self.loop = bool(loop)
        self.reverse = bool(reverse)
        self.catch_up = bool(catch_up)
        self.drop_threshold = float(drop_threshold)
        self.refresh = 0
        self.paused = False
        self.finished = False
        self._pending: _Pending | None = None
        self._seek_to: int | None = None
        self._last_time: float | None = None
        self._last_frame: int | None = None
        self.log = PresentationLog(
            {
                "n_frames": schedule.n_frames,
                "fps": schedule.fps,
                "refresh_rate": schedule.refresh_rate,
                "policy": schedule.policy,
                "flips_per_frame": schedule.flips_per_frame,
                "effective_fps": schedule.effective_fps,
                "loop": self.loop,
                "reverse": self.reverse,
                "catch_up": self.catch_up,
                **(info or {}),
            }
        )

    @property
    def pending(self) -> bool:
        """Whether a frame was handed out for a flip that has not happened yet."""
        return self._pending is not None

    def frame_for_flip(self) -> int | None:
        """The frame to draw for the coming flip; None once a non-looping pass is over."""
        if self._pending is not None:
            return self._pending.frame
        if self.finished:
            return None
        if self.paused and self._last_frame is not None:
            frame = self._last_frame
        else:
            frame = self.schedule.frame_at(self.refresh, loop=self.loop, reverse=self.reverse)
            if frame is None:
                self.finished = True
                return None
        self._pending = _Pending(self.refresh, frame, self.paused)
        return frame

    def flipped(self, time: float) -> FlipRecord:
        """Record the flip that showed the pending frame, at ``time`` seconds."""
        pending = self._pending
        if pending is None:
            raise RuntimeError("flipped() without a frame drawn for this flip; call frame_for_flip() first")
        interval = math.nan if self._last_time is None else float(time) - self._last_time
        dropped = missed_refreshes(interval, self.schedule.refresh_rate, self.drop_threshold)
        record = FlipRecord(
            len(self.log),
            pending.refresh,
            pending.frame,
            float(time),
            interval,
            dropped,
            pending.paused,
        )
        self.log.append(record)
        self._pending = None
        self._last_time = float(time)
        self._last_frame = pending.frame
        if self._seek_to is not None:  # a seek while this flip's frame was already drawn
            target, self._seek_to = self._seek_to, None
            self._jump(target)
        elif not pending.paused:
            self.refresh += 1 + (dropped if self.catch_up else 0)
            if not self.loop and self.refresh >= self.schedule.refreshes_per_pass:
                self.finished = True
        return record

    def seek(self, refresh: int) -> None:
        """Continue from refresh ``refresh`` of the clip's timeline (0: the first refresh of the first pass).

        A frame already handed out for the coming flip is still shown on that
        flip; the flips after it follow on from ``refresh``. While paused, the
        frame at ``refresh`` is shown and held. Past the end of a non-looping
        pass the presentation is over.
        """
        if isinstance(refresh, bool) or not isinstance(refresh, int) or refresh < 0:
            raise TimingError(f"seek needs a refresh index >= 0, got {refresh!r}")
        if self._pending is not None:
            self._seek_to = refresh
        else:
            self._jump(refresh)

    def _jump(self, refresh: int) -> None:
        self.refresh = refresh
        self.finished = not self.loop and refresh >= self.schedule.refreshes_per_pass
        self._last_frame = None  # a paused presentation shows the frame sought, not the one it held

    def pause(self) -> None:
        """Hold the frame last shown; flips keep being logged (``paused=True``)."""
        self.paused = True

    def resume(self) -> None:
        """Continue after :meth:`pause`; the interval across the pause is not judged."""
        self.paused = False
        self._last_time = None
