"""``DynamicStim``: a PsychoPy stimulus that plays a clip frame-locked to the screen refresh."""

from __future__ import annotations

import contextlib
import ctypes
import math
import numbers
import os
import time

import numpy as np
import pyglet.gl as GL
from PIL import Image
from psychopy import logging
from psychopy.constants import FINISHED, NOT_STARTED, PAUSED, PLAYING
from psychopy.tools.attributetools import setAttribute
from psychopy.visual.image import ImageStim

from .errors import StimulusError, TimingError
from .sources import load_frames
from .timing import (
    DEFAULT_TOLERANCE,
    DROP_THRESHOLD,
    FrameSchedule,
    Playback,
    PresentationLog,
)

__all__ = ["DynamicStim"]

_DROP_WARNINGS = 1  # per presentation; the rest go to the info level (PsychoPy warns about drops too)
# what a conditions file may hold for an on/off setting (CSV cells arrive as text, spreadsheet cells as numbers)
_TRUE_WORDS, _FALSE_WORDS = {"true", "yes", "on", "1"}, {"false", "no", "off", "0", "none", ""}


class DynamicStim(ImageStim):
    """Play a stimulus store, a video file or an array, frame-locked to the monitor.

    Every frame becomes a texture on the graphics card when the stimulus is
    created (or given a new clip with :meth:`setStimulus`), so drawing only
    binds a texture. Each stimulus frame is shown for a whole number of
    screen refreshes chosen from the clip's frame rate and the refresh rate
    (see :mod:`stst_psychopy.timing` for the policies when they do not
    divide), and every flip of every presentation is logged: which frame it
    drew, when, and how many refreshes were dropped before it.

    Everything :class:`psychopy.visual.ImageStim` offers works as there:
    ``pos``, ``size``, ``units``, ``ori``, ``anchor``, ``opacity``,
    ``contrast``, ``color``, ``mask``, ``flipHoriz``, ``flipVert``,
    ``autoDraw``, ``contains()``. Call :meth:`draw` once per frame (or set
    ``autoDraw``) and flip the window; the clip starts when first drawn (or
    on :meth:`play`).

    The names of :class:`psychopy.visual.MovieStim` work too: ``filename``,
    :meth:`setMovie` / :meth:`loadMovie`, :meth:`seek`, ``frameRate`` /
    :meth:`getFPS`, ``loopCount``, ``movieTime``, ``videoSize``,
    :meth:`getCurrentFrameNumber`, :meth:`toggle`, ``isStopped``. There is
    no sound.

    Parameters
    ----------
    win : psychopy.visual.Window
        The window to draw in.
    stimulus : str, os.PathLike, numpy.ndarray, torch.Tensor or stst_core.Video
        A stimulus store (``.zarr`` folder written by ``stst synth``), a video
        file, a folder of frame images, a ``.npy``/``.npz`` file, or frames
        ``(T, H, W, C)`` / ``(T, H, W)``, uint8 or float in [0, 1].
    fps : float, optional
        Frame rate of the clip; by default the source's. Required for arrays.
    refreshRate : float, optional
        The display's refresh rate in Hz. By default the rate a Builder
        experiment measured at start-up (``expInfo['frameRate']``), else the
        window's ``1 / monitorFramePeriod`` (measured when the window was
        created with ``checkTiming=True``, otherwise PsychoPy assumes 60 Hz).
        Give it explicitly when the measurement cannot be trusted (virtual
        displays, remote sessions).
    timingPolicy : {'nearest', 'floor', 'ceil', 'pulldown', 'error'}
        What to do when ``refreshRate / fps`` is not a whole number:
        ``'nearest'`` shows every frame for the nearest whole number of
        refreshes (uniform frames, the clip plays a little faster or slower);
        ``'floor'``/``'ceil'`` round down/up; ``'pulldown'`` alternates
        (2, 3, 2, 3 … refreshes for 24 fps at 60 Hz) to keep the duration;
        ``'error'`` raises :class:`~stst_psychopy.errors.TimingError`.
    tolerance : float
        Relative mismatch still treated as a whole number (0.02: a 30 fps
        clip on a display measured at 59.4-60.6 Hz gets 2 refreshes per frame).
    loop : bool
        Start again after the last frame. ``True``/``False``, 1/0, or the
        words a conditions file may hold ("true", "yes", "no", ...).
    reverse : bool
        Play backwards, last frame first (values as for ``loop``).
    catchUp : bool
        After dropped refreshes, skip content to stay locked to the clock;
        by default every frame is shown and the presentation runs late.
    dropThreshold : float
        A flip more than this many refresh periods after the previous one
        counts as dropped refreshes: 1.2, PsychoPy's own criterion
        (``win.refreshThreshold``).
    units, pos, size, anchor, ori, color, colorSpace, contrast, opacity, depth, interpolate, flipHoriz, flipVert, mask, texRes, name, autoLog
        As for :class:`psychopy.visual.ImageStim`. ``size=None`` shows the
        frames at their size in pixels.

    Attributes
    ----------
    log : PresentationLog or None
        The current (or last) presentation's flips; see
        :class:`~stst_psychopy.timing.PresentationLog`.
    logs : list of PresentationLog
        Every presentation of this stimulus, in order.
    loadDuration : float
        Seconds the current clip took to read and upload (0.0 for none).

    Raises
    ------
    StimulusError
        Bad stimulus (missing file, unfinished store, wrong array shape or
        type, no frame rate).
    TimingError
        ``timingPolicy='error'`` and the rates do not divide, or a bad rate.

    Examples
    --------
    A stimulus store, shown once at its own rate on a 60 Hz display::

        from psychopy import visual
        from stst_psychopy import DynamicStim

        win = visual.Window((800, 600), units="pix")
        stim = DynamicStim(win, "metamer.zarr", refreshRate=60)
        while not stim.isFinished:
            stim.draw()
            win.flip()
        print(stim.log.frame_runs())   # [(0, 2), (1, 2), ...] for a 30 fps clip
        stim.log.to_csv("flips.csv")
    """

    def __init__(
        self,
        win,
        stimulus,
        fps=None,
        refreshRate=None,
        timingPolicy="nearest",
        tolerance=DEFAULT_TOLERANCE,
        loop=False,
        reverse=False,
        catchUp=False,
        dropThreshold=DROP_THRESHOLD,
        units="",
        pos=(0.0, 0.0),
        size=None,
        anchor="center",
        ori=0.0,
        color=(1.0, 1.0, 1.0),
        colorSpace="rgb",
        contrast=1.0,
        opacity=1.0,
        depth=0,
        interpolate=False,
        flipHoriz=False,
        flipVert=False,
        mask=None,
        texRes=128,
        name=None,
        autoLog=None,
    ):
        if not getattr(win, "_haveShaders", True):
            raise StimulusError("DynamicStim needs a window with OpenGL shaders (every PsychoPy window since 2020 has them)")
        loadStart = time.perf_counter()
        if _isBlank(stimulus):
            frames = None  # a placeholder until setStimulus (Builder: the clip comes from a conditions file)
        else:
            frames = load_frames(stimulus, fps)  # bad input fails before any OpenGL work
        loop, reverse = _onOff(name, "loop", loop), _onOff(name, "reverse", reverse)
        self._frameTextures = []
        self._frameLists = []
        self._warned = set()
        super().__init__(
            win,
            image=_firstImage(frames),
            mask=mask,
            units=units,
            pos=pos,
            size=size,
            anchor=anchor,
            ori=ori,
            color=color,
            colorSpace=colorSpace,
            contrast=contrast,
            opacity=opacity,
            depth=depth,
            interpolate=interpolate,
            flipHoriz=flipHoriz,
            flipVert=flipVert,
            texRes=texRes,
            name=name,
            autoLog=False,
        )
        self._baseTexID = self._texID
        self._baseListID = getattr(self, "_listID", None)
        self.__dict__["refreshRate"] = refreshRate
        self.__dict__["timingPolicy"] = timingPolicy
        self.__dict__["tolerance"] = float(tolerance)
        self.__dict__["dropThreshold"] = float(dropThreshold)
        self.__dict__["catchUp"] = bool(catchUp)
        self._loop = loop
        self._reverse = reverse
        self._requestedFps = fps
        self._playbackState = NOT_STARTED
        self._playback: Playback | None = None
        self._startRefresh = 0
        self.log: PresentationLog | None = None
        self.logs: list[PresentationLog] = []
        self._load(frames, stimulus)
        self.loadDuration = time.perf_counter() - loadStart if frames is not None else 0.0
        self._initParams = [
            "name",
            "source",
            "nFrames",
            "fps",
            "refreshRate",
            "timingPolicy",
            "loop",
            "reverse",
            "units",
            "pos",
            "size",
            "ori",
            "opacity",
            "contrast",
        ]
        wantLog = autoLog is None and self.win.autoLog
        self.__dict__["autoLog"] = autoLog or wantLog
        if self.autoLog:
            logging.exp(f"Created {self.name!r}: {self._describe()}")

    # -- frames and textures ---------------------------------------------------------

    def _load(self, frames, stimulus) -> None:
        """Upload every frame as a texture and work out the schedule."""
        schedule = None if frames is None else self._makeSchedule(frames.n_frames, frames.fps)
        # what `stimulus` reports, and PsychoPy's serialize() stores: the path given, else the frames
        self._stimulus = str(stimulus) if frames is not None and isinstance(stimulus, (str, os.PathLike)) else getattr(frames, "pixels", None)
        if self._frameTextures:
            # a new clip: frame 0 goes into the stimulus' own texture, as for ImageStim
            self._releaseFrameTextures()
            self._texID = self._baseTexID
            super().setImage(_firstImage(frames), log=False)
        self._playbackState = NOT_STARTED
        self._playback = None
        self._startRefresh = 0
        if frames is None:
            self._frameTextures = [self._baseTexID]
            self._frameLists, self._frameListCurrent = [], []
            self._source, self._sourceFps, self._nFrames, self._frameSize = (
                None,
                None,
                0,
                None,
            )
            self.schedule = None
            return
        textures = [self._baseTexID]
        for pixels in frames.pixels[1:]:
            texture = GL.GLuint()
            GL.glGenTextures(1, ctypes.byref(texture))
            textures.append(texture)  # listed first, so that a failed upload is still released
            self._createTexture(
                Image.fromarray(pixels),
                id=texture,
                stim=self,
                pixFormat=GL.GL_RGB,
                dataType=GL.GL_UNSIGNED_BYTE,
                maskParams=self.maskParams,
                forcePOW2=False,
                wrapping=False,
            )
            self._frameTextures = textures
        self._frameTextures = textures
        self._frameLists = [None] * frames.n_frames
        self._frameListCurrent = [False] * frames.n_frames
        GL.glFinish()  # the uploads are done before the trial, not during its first flips
        self._source = frames.source
        self._sourceFps = frames.fps
        self._nFrames = frames.n_frames
        self._frameSize = frames.size
        self.schedule = schedule
        self._warnMismatch()
        if self.win.USE_LEGACY_GL:
            for frame in range(frames.n_frames):  # compile the display lists now, not during the trial
                self._useFrameList(frame)
            self._listID = self._baseListID

    def _makeSchedule(self, nFrames: int, fps: float) -> FrameSchedule:
        return FrameSchedule(nFrames, fps, self._resolveRefreshRate(), self.timingPolicy, self.tolerance)

    def _resolveRefreshRate(self) -> float:
        rate = self.refreshRate
        if not _isBlank(rate):
            self._refreshRateSource = "given"
            return rate
        measured = getattr(self.win, "_monitorFrameRate", None)  # Builder experiments measure it at start-up
        if measured:
            self._refreshRateSource = "measured"
            return float(measured)
        period = getattr(self.win, "monitorFramePeriod", None) or 1 / 60
        self._refreshRateSource = "window"
        return 1.0 / period

    def _releaseFrameTextures(self) -> None:
        for texture in self._frameTextures[1:]:
            GL.glDeleteTextures(1, ctypes.byref(texture))
        self._frameTextures = self._frameTextures[:1]
        for listID in self._frameLists:
            if listID is not None:
                GL.glDeleteLists(listID, 1)
        self._frameLists = []

    def _useFrameList(self, frame: int) -> None:
        # PsychoPy's legacy-GL path (pyglet 1.x) draws a display list with the
        # texture compiled in, so each frame has its own list. Any change of
        # position, size, colour... sets _needUpdate, which only compiling a
        # list clears: then every list is out of date and is recompiled (a
        # quad, no texture upload) the next time its frame is drawn.
        if self._needUpdate:
            self._frameListCurrent = [False] * len(self._frameLists)
        if self._frameLists[frame] is None:
            self._frameLists[frame] = GL.glGenLists(1)
            self._frameListCurrent[frame] = False
        self._listID = self._frameLists[frame]
        if not self._frameListCurrent[frame]:
            texID, self._texID = self._texID, self._frameTextures[frame]
            try:
                self._updateList()  # compiles with the frame's texture bound; clears _needUpdate
            finally:
                self._texID = texID
            self._frameListCurrent[frame] = True

    def clearTextures(self):
        """Delete every frame's texture from the graphics card (done on garbage collection too)."""
        if getattr(self, "_frameTextures", None):
            self._releaseFrameTextures()
        if hasattr(self, "_baseTexID"):
            self._texID = self._baseTexID
            self._listID = self._baseListID
        super().clearTextures()

    def setStimulus(self, stimulus, log=None):
        """Play another clip (a store, a file or an array); its frames are uploaded now.

        Uses the ``fps`` given at creation, if any. The next draw starts a new
        presentation. Builder calls this at the start of each routine when the
        stimulus comes from a conditions file. ``loadDuration`` says how long
        it took.
        """
        loadStart = time.perf_counter()
        frames = None if _isBlank(stimulus) else load_frames(stimulus, self._requestedFps)
        self._load(frames, stimulus)
        self.loadDuration = time.perf_counter() - loadStart if frames is not None else 0.0
        if log or (log is None and self.autoLog):
            self.win.logOnFlip(
                f"Set {self.name} stimulus={self._describe()}",
                level=logging.EXP,
                obj=self,
            )

    def setFps(self, fps, log=None):
        """Play at another frame rate (None: the source's); applies from the next presentation."""
        self._requestedFps = fps
        if not self._nFrames:
            return  # no clip yet: setStimulus uses this rate
        self.schedule = self._makeSchedule(self._nFrames, self._sourceFps if _isBlank(fps) else fps)
        self._warnMismatch()

    def _warnMismatch(self) -> None:
        # once per stimulus and combination of rates, not on every trial
        if self.schedule.matched:
            return
        key = (self.schedule.fps, self.schedule.refresh_rate, self.schedule.policy)
        if key not in self._warned:
            self._warned.add(key)
            logging.warning(f"{self.name}: {self.schedule.describe()}")

    def setRefreshRate(self, refreshRate, log=None):
        """Assume another refresh rate (None: the measured one); applies from the next presentation."""
        self.__dict__["refreshRate"] = refreshRate
        self.setFps(self._requestedFps, log=False)

    # -- the clip and what it plays like ----------------------------------------------

    @property
    def stimulus(self):
        """The clip: the path it was read from, else its frames ``(T, H, W, C)`` uint8 (None before one is set)."""
        return self._stimulus

    @stimulus.setter
    def stimulus(self, value):
        self.setStimulus(value)

    # MovieStim's names for the clip
    @property
    def filename(self) -> str | None:
        """The path the clip was read from (None for frames given as an array): ``MovieStim.filename``."""
        return self._stimulus if isinstance(self._stimulus, str) else None

    @filename.setter
    def filename(self, value):
        self.setStimulus(value)

    def setMovie(self, filename, log=None):
        """Play another clip: :meth:`setStimulus` under ``MovieStim``'s name."""
        self.setStimulus(filename, log=log)

    def loadMovie(self, filename, log=None):
        """Play another clip: :meth:`setStimulus` under ``MovieStim``'s name."""
        self.setStimulus(filename, log=log)

    @property
    def source(self) -> str:
        """Where the frames came from."""
        return self._source

    @property
    def nFrames(self) -> int:
        """Number of frames of the clip."""
        return self._nFrames

    @property
    def frameSize(self) -> tuple[int, int]:
        """``(width, height)`` of the frames in pixels."""
        return self._frameSize

    @property
    def videoSize(self) -> tuple[int, int]:
        """``(width, height)`` of the frames in pixels, ``MovieStim.videoSize``: the same as ``frameSize``."""
        return self._frameSize

    @property
    def fps(self) -> float:
        """The clip's nominal frame rate (None without a clip)."""
        return self.schedule.fps if self.schedule else None

    @property
    def frameRate(self) -> float:
        """The clip's nominal frame rate, ``MovieStim.frameRate``: the same as ``fps``."""
        return self.fps

    def getFPS(self) -> float:
        """The clip's nominal frame rate (``MovieStim.getFPS()``); see ``effectiveFps`` for the rate it plays at."""
        return self.fps

    @property
    def effectiveFps(self) -> float:
        """The rate the clip actually plays at on this display (see ``timingPolicy``)."""
        return self.schedule.effective_fps if self.schedule else None

    @property
    def flipsPerFrame(self) -> int | None:
        """Refreshes each frame is shown for (None under ``'pulldown'`` when the rates do not divide)."""
        return self.schedule.flips_per_frame if self.schedule else None

    @property
    def duration(self) -> float:
        """Seconds one pass through the clip takes when no refresh is dropped."""
        return self.schedule.duration if self.schedule else None

    @property
    def frameIndex(self) -> int | None:
        """The frame shown on the last flip (None before the first)."""
        if self.log is None or not len(self.log):
            return None
        return self.log[-1].frame

    def getCurrentFrameNumber(self) -> int | None:
        """The frame shown on the last flip: ``frameIndex`` under ``MovieStim``'s name."""
        return self.frameIndex

    @property
    def loopCount(self) -> int:
        """Passes through the clip completed before the last flip of this presentation (``MovieStim.loopCount``)."""
        if self.log is None or not len(self.log):
            return 0
        return self.log[-1].refresh // self.schedule.refreshes_per_pass

    @property
    def movieTime(self) -> float:
        """Seconds into the pass of the last flip's frame (0.0 before the first flip), ``MovieStim.movieTime``.

        Counted in the direction of play: the start of a backwards pass is
        its last frame.
        """
        if self.log is None or not len(self.log):
            return 0.0
        return (self.log[-1].refresh % self.schedule.refreshes_per_pass) / self.schedule.refresh_rate

    # -- playback --------------------------------------------------------------------

    @property
    def loop(self) -> bool:
        """Whether the clip starts again after its last frame (may change while playing)."""
        return self._loop

    @loop.setter
    def loop(self, value):
        self._loop = _onOff(self.name, "loop", value)
        if self._playback is not None:
            self._playback.loop = self._loop

    def setLoop(self, value, log=None):
        setAttribute(self, "loop", value, log)

    @property
    def reverse(self) -> bool:
        """Whether the clip plays backwards (changing it while playing jumps to the mirrored frame)."""
        return self._reverse

    @reverse.setter
    def reverse(self, value):
        self._reverse = _onOff(self.name, "reverse", value)
        if self._playback is not None:
            self._playback.reverse = self._reverse

    def setReverse(self, value, log=None):
        setAttribute(self, "reverse", value, log)

    @property
    def isNotStarted(self) -> bool:
        """True until the first :meth:`play` (or draw)."""
        return self._playbackState == NOT_STARTED

    @property
    def isPlaying(self) -> bool:
        return self._playbackState == PLAYING

    @property
    def isPaused(self) -> bool:
        return self._playbackState == PAUSED

    @property
    def isFinished(self) -> bool:
        """True once the last flip of a non-looping pass has happened, or after :meth:`stop`."""
        return self._playbackState == FINISHED

    isStopped = isFinished

    def play(self, log=True):
        """Start a presentation from the first frame, or continue a paused one.

        The first frame appears on the next flip after the next draw.
        """
        if self._playbackState == PLAYING:
            return
        if self._playbackState == PAUSED and self._playback is not None:
            self._playback.resume()
            self._playbackState = PLAYING
            if log and self.autoLog:
                self.win.logOnFlip(f"{self.name}: resumed", level=logging.EXP, obj=self)
            return
        if self.schedule is None:
            raise StimulusError(
                f"{self.name}: no stimulus loaded; give one when creating the DynamicStim or with setStimulus() (in Builder: the Stimulus field)"
            )
        info = {
            "presentation": len(self.logs) + 1,
            "name": self.name,
            "source": self._source,
            "refresh_rate_source": self._refreshRateSource,
        }
        self._playback = Playback(
            self.schedule,
            loop=self._loop,
            reverse=self._reverse,
            catch_up=self.catchUp,
            drop_threshold=self.dropThreshold,
            info=info,
        )
        if self._startRefresh:  # seek() before the presentation began
            self._playback.seek(self._startRefresh)
            self._startRefresh = 0
        self._dropWarnings = 0
        self.log = self._playback.log
        self.logs.append(self.log)
        self._playbackState = PLAYING
        if log and self.autoLog:
            self.win.logOnFlip(
                f"{self.name}: presentation {info['presentation']} started ({self._describe()})",
                level=logging.EXP,
                obj=self,
            )

    def pause(self, log=True):
        """Hold the frame on screen; its flips are logged with ``paused=True``."""
        if self._playbackState != PLAYING:
            return
        self._playback.pause()
        self._playbackState = PAUSED
        if log and self.autoLog:
            self.win.logOnFlip(f"{self.name}: paused", level=logging.EXP, obj=self)

    def stop(self, log=True):
        """End the presentation; nothing is drawn until :meth:`play` starts a new one."""
        if self._playback is not None:
            self._playback.finished = True
        if self._playbackState in (PLAYING, PAUSED) and log and self.autoLog:
            self.win.logOnFlip(f"{self.name}: stopped", level=logging.EXP, obj=self)
        self._playbackState = FINISHED

    def replay(self, log=True):
        """Start again from the first frame."""
        self.stop(log=False)
        self.play(log=log)

    def toggle(self, log=True):
        """Pause if playing, else play (``MovieStim.toggle()``)."""
        if self._playbackState == PLAYING:
            self.pause(log=log)
        else:
            self.play(log=log)

    def seek(self, timestamp, log=True):
        """Jump to ``timestamp`` seconds into the clip (``MovieStim.seek()``).

        The clip's time on this display: the refresh nearest to
        ``timestamp × refreshRate`` of one pass, counted in the direction of
        play. A presentation under way continues from there with the next
        flip (a paused one shows and holds that frame); otherwise the next
        presentation starts there. Past the end of a non-looping clip the
        presentation is over.
        """
        if self.schedule is None:
            raise StimulusError(f"{self.name}: no stimulus loaded to seek in")
        try:
            seconds = float(timestamp)
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0:
            raise TimingError(f"{self.name}: seek needs a time in seconds >= 0, got {timestamp!r}")
        refresh = round(seconds * self.schedule.refresh_rate)
        playback = self._playback
        if playback is not None and self._playbackState in (PLAYING, PAUSED):
            if self._loop:  # the passes completed so far still count (loopCount)
                refresh += (playback.refresh // self.schedule.refreshes_per_pass) * self.schedule.refreshes_per_pass
            playback.seek(refresh)
        else:
            self._startRefresh = refresh
        if log and self.autoLog:
            self.win.logOnFlip(f"{self.name}: seek to {seconds:.4g} s (refresh {refresh})", level=logging.EXP, obj=self)

    def draw(self, win=None):
        """Draw the frame due on the next flip (starting the clip if it never played).

        Draws nothing once the presentation is over or stopped. Drawing more
        than once before a flip draws the same frame.
        """
        if self._playbackState == NOT_STARTED:
            self.play()
        if self._playbackState == FINISHED:
            return
        win = win or self.win
        playback = self._playback
        firstDrawThisFlip = not playback.pending
        frame = playback.frame_for_flip()
        if frame is None:
            self._playbackState = FINISHED
            return
        if firstDrawThisFlip:
            stamp = {}
            win.timeOnFlip(stamp, "time")  # PsychoPy's own flip time, assigned before the next call
            win.callOnFlip(self._onFlip, playback, stamp)
        self._texID = self._frameTextures[frame]
        try:
            if win.USE_LEGACY_GL:
                self._useFrameList(frame)
            super().draw(win)
        finally:
            self._texID = self._baseTexID
            self._listID = self._baseListID

    def _onFlip(self, playback: Playback, stamp: dict) -> None:
        record = playback.flipped(stamp["time"])
        if record.dropped:
            message = f"{self.name}: {record.dropped} refresh(es) dropped before flip {record.flip} (frame {record.frame})"
            if self._dropWarnings < _DROP_WARNINGS:
                logging.warning(message + "; see the presentation log for all drops")
            else:
                logging.info(message)
            self._dropWarnings += 1
        if playback is self._playback and playback.finished and self._playbackState == PLAYING:
            self._playbackState = FINISHED

    def _describe(self) -> str:
        if self.schedule is None:
            return "no stimulus loaded"
        return f"{self._source}: {self.schedule.describe()}"

    def __repr__(self):
        return f"<DynamicStim {self.name!r}: {self._describe()}>"

    def __del__(self):
        with contextlib.suppress(Exception):  # the OpenGL context may already be gone at exit
            self.clearTextures()


def _onOff(name, setting: str, value) -> bool:
    """An on/off setting as a bool, from what code or a conditions file gives (None: off)."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Number) and value in (0, 1):  # numpy bools and ints, 1.0 from a spreadsheet
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    raise StimulusError(f"{name or 'DynamicStim'}: {setting} must be True or False (or 1/0, yes/no), got {value!r}")


def _isBlank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "None"))


def _firstImage(frames) -> Image.Image:
    if frames is None:
        return Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    return Image.fromarray(frames.pixels[0])
