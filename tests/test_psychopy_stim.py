"""DynamicStim: frame locking, the flip log, dropped frames, and pixels on screen.

The scheduling tests need no display. The rest open one small PsychoPy
window under Xvfb (``./dev test`` runs pytest inside ``xvfb-run``), where the
refresh rate is not real: they give DynamicStim an explicit refresh rate and
count flips, and plant dropped frames by sleeping before a flip.
"""

from __future__ import annotations

import itertools
import math
import shutil
import time

import numpy as np
import pytest

from stst_psychopy import (
    FrameSchedule,
    Playback,
    StimulusError,
    TimingError,
    detect_dropped,
    load_frames,
    missed_refreshes,
)
from stst_psychopy.testing import back_buffer, require_display
from stst_psychopy.timing import DROP_THRESHOLD

# -- scheduling, without a window -------------------------------------------------------


@pytest.mark.parametrize(
    "fps, refresh, policy, expected",
    [
        (30, 60, "nearest", [0, 0, 1, 1, 2, 2]),
        (60, 60, "nearest", [0, 1, 2]),
        (20, 60, "error", [0, 0, 0, 1, 1, 1, 2, 2, 2]),
        (30, 59.94, "error", [0, 0, 1, 1, 2, 2]),  # within the tolerance: a match
        (
            25,
            60,
            "nearest",
            [0, 0, 1, 1, 2, 2],
        ),  # 2.4 refreshes per frame: 2, so it plays at 30 fps
        (24, 60, "floor", [0, 0, 1, 1, 2, 2]),
        (24, 60, "ceil", [0, 0, 0, 1, 1, 1, 2, 2, 2]),
        (24, 60, "nearest", [0, 0, 0, 1, 1, 1, 2, 2, 2]),  # 2.5: halves round up
        (
            24,
            60,
            "pulldown",
            [0, 0, 1, 1, 1, 2, 2],
        ),  # 2, 3, 2: each frame starts on the refresh nearest its onset
        (120, 60, "pulldown", [0, 2]),  # more frames than refreshes: frames are skipped
    ],
)
def test_schedule(fps, refresh, policy, expected):
    schedule = FrameSchedule(3, fps, refresh, policy)
    assert schedule.frames() == expected
    assert schedule.refreshes_per_pass == len(expected)
    assert schedule.frame_at(len(expected)) is None
    assert schedule.duration == pytest.approx(len(expected) / refresh)


def test_schedule_rates_and_pulldown_keeps_the_duration():
    nearest = FrameSchedule(24, 25, 60)
    assert (nearest.flips_per_frame, nearest.effective_fps, nearest.matched) == (
        2,
        30,
        False,
    )
    assert nearest.speed == pytest.approx(1.2)
    pulldown = FrameSchedule(240, 24, 60, "pulldown")
    assert pulldown.flips_per_frame is None and pulldown.effective_fps == 24
    runs = np.diff([0] + [n for n in range(1, pulldown.refreshes_per_pass) if pulldown.frame_at(n) != pulldown.frame_at(n - 1)])
    assert set(runs) == {2, 3}  # whole refreshes, alternating
    assert pulldown.duration == pytest.approx(10.0, abs=1 / 60)


def test_schedule_loop_and_reverse():
    schedule = FrameSchedule(3, 30, 60)
    assert [schedule.frame_at(n, loop=True) for n in range(8)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        0,
        0,
    ]
    assert schedule.frames(reverse=True) == [2, 2, 1, 1, 0, 0]


def test_policy_error_explains_the_choices():
    with pytest.raises(TimingError) as info:
        FrameSchedule(8, 24, 60, "error")
    message = str(info.value)
    assert "24 fps" in message and "60 Hz" in message and "2.5 refreshes per frame" in message
    assert "'nearest'" in message and "'floor' (2: 30 fps)" in message and "'pulldown'" in message


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_frames": 0, "fps": 30, "refresh_rate": 60}, "n_frames"),
        ({"n_frames": 3, "fps": -1, "refresh_rate": 60}, "fps"),
        ({"n_frames": 3, "fps": 30, "refresh_rate": float("nan")}, "refresh rate"),
        (
            {"n_frames": 3, "fps": 30, "refresh_rate": 60, "policy": "round"},
            "unknown timing policy 'round'",
        ),
    ],
)
def test_schedule_rejects_bad_arguments(kwargs, match):
    with pytest.raises(TimingError, match=match):
        FrameSchedule(**kwargs)


def test_missed_refreshes():
    period = 1 / 60
    assert DROP_THRESHOLD == 1.2  # PsychoPy's own: Window.refreshThreshold = 1.2 frame periods
    assert missed_refreshes(math.nan, 60) == 0
    assert missed_refreshes(1.15 * period, 60) == 0
    assert missed_refreshes(1.25 * period, 60) == 1  # late, though it rounds to one period: PsychoPy counts it too
    assert missed_refreshes(1.6 * period, 60) == 1
    assert missed_refreshes(3 * period, 60) == 2
    assert missed_refreshes(1.4 * period, 60, threshold=1.5) == 0
    assert detect_dropped([0, period, 2 * period, 5 * period, 6 * period], 60) == [
        0,
        0,
        0,
        2,
        0,
    ]


def run_playback(playback, times):
    for t in times:
        assert playback.frame_for_flip() is not None
        assert playback.frame_for_flip() == playback.frame_for_flip()  # same frame until the flip
        playback.flipped(t)
    return playback.log


def test_playback_frame_locked_logs_drops_and_runs_late():
    period = 1 / 60
    times = [0, 1, 2, 5, 6, 7] * np.array(period)  # two refreshes missed before flip 3
    log = run_playback(Playback(FrameSchedule(3, 30, 60)), times)
    assert log.frames == [0, 0, 1, 1, 2, 2]  # every frame still shown for two flips
    assert [r.dropped for r in log] == [0, 0, 0, 2, 0, 0]
    assert log.dropped_flips == [3] and log.n_dropped == 2
    assert log.frame_runs() == [(0, 2), (1, 2), (2, 2)]
    assert math.isnan(log[0].interval) and log[3].interval == pytest.approx(3 * period)


def test_playback_catch_up_skips_what_was_missed():
    period = 1 / 60
    playback = Playback(FrameSchedule(4, 30, 60), catch_up=True)
    log = run_playback(playback, [0, 1, 2, 5, 6] * np.array(period))
    assert [r.refresh for r in log] == [
        0,
        1,
        2,
        3,
        6,
    ]  # flip 3 came 2 refreshes late: content moves on by 3
    assert log.frames == [0, 0, 1, 1, 3]
    assert playback.frame_for_flip() == 3
    playback.flipped(7 * period)
    assert playback.finished


def test_playback_pause_holds_the_frame_and_resume_continues():
    playback = Playback(FrameSchedule(3, 30, 60))
    run_playback(playback, [0.0, 0.1, 0.2])
    playback.pause()
    run_playback(playback, [0.3, 0.4])
    playback.resume()
    log = run_playback(playback, [5.0, 5.1, 5.2])
    assert log.frames == [0, 0, 1, 1, 1, 1, 2, 2]
    assert [r.paused for r in log] == [False] * 3 + [True] * 2 + [False] * 3
    assert math.isnan(log[5].interval)  # the pause is not judged as a drop
    assert playback.finished


def test_playback_seek_continues_from_the_refresh_asked_for():
    playback = Playback(FrameSchedule(4, 30, 60))  # 8 refreshes per pass
    run_playback(playback, [0, 1 / 60])
    assert playback.frame_for_flip() == 1
    playback.seek(6)  # the frame already drawn still shows on its flip
    log = run_playback(playback, [2 / 60, 3 / 60, 4 / 60])
    assert log.frames == [0, 0, 1, 3, 3] and [r.refresh for r in log] == [0, 1, 2, 6, 7]
    assert playback.finished
    playback.seek(2)  # back into the pass: not over any more
    assert not playback.finished and playback.frame_for_flip() == 1
    playback.flipped(5 / 60)
    playback.pause()
    playback.seek(0)  # paused: the frame sought is shown, and held
    log = run_playback(playback, [6 / 60, 7 / 60])
    assert log.frames[-2:] == [0, 0] and log[-1].paused
    with pytest.raises(TimingError, match="refresh index >= 0"):
        playback.seek(-1)


def test_log_to_csv(tmp_path):
    log = run_playback(Playback(FrameSchedule(2, 60, 60), info={"presentation": 3}), [0.0, 1 / 60])
    path = log.to_csv(tmp_path / "flips.csv", trial=7)
    log.to_csv(path, append=True, trial=8)
    lines = path.read_text().splitlines()
    assert lines[0] == "trial,presentation,flip,refresh,frame,time,interval,dropped,paused"
    assert lines[1].startswith("7,3,0,0,0,0.0,nan,0,False") and lines[4].startswith("8,3,1,1,1,")
    assert len(lines) == 5


# -- stimulus sources -------------------------------------------------------------------


def clip(frames=4, height=32, width=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "array, fps, match",
    [
        (
            np.zeros((3, 4, 8, 8), np.uint8),
            30,
            r"\(T, H, W, C\).*looks like \(C, T, H, W\)",
        ),
        (np.zeros((4, 8, 8, 2), np.uint8), 30, r"C = 1 \(grey\), 3 \(RGB\) or 4"),
        (
            np.full((4, 8, 8, 3), 300, np.int64),
            30,
            "integer frames must lie in 0-255, got values from 300 to 300",
        ),
        (
            np.zeros((4, 8, 8, 3), bool),
            30,
            "integers in 0-255 \\(uint8\\) or float in \\[0, 1\\], got dtype bool",
        ),
        (
            np.full((4, 8, 8, 3), 2.0),
            30,
            "must lie in \\[0, 1\\], got values from 2 to 2",
        ),
        (np.full((4, 8, 8, 3), np.nan), 30, "NaN"),
        (np.zeros((4, 8, 8, 3), np.uint8), None, "carries no frame rate: pass fps="),
        (np.zeros((4, 8, 8, 3), np.uint8), -5, "fps must be a positive number"),
        (None, 30, "no stimulus given"),
    ],
)
def test_bad_arrays(array, fps, match):
    with pytest.raises(StimulusError, match=match):
        load_frames(array, fps)


def test_bad_paths(tmp_path):
    import zarr

    with pytest.raises(StimulusError, match="missing.zarr: no such file or folder"):
        load_frames(tmp_path / "missing.zarr")
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    with pytest.raises(StimulusError, match="is a Zarr group but not a stimulus store"):
        load_frames(tmp_path / "other.zarr")
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.raises(StimulusError, match="notes.txt"):
        load_frames(tmp_path / "notes.txt")


def test_arrays_become_uint8_rgb():
    pixels = clip()
    assert np.array_equal(load_frames(pixels / 255.0, fps=30).pixels, pixels)
    assert np.array_equal(load_frames(pixels.tolist(), fps=30).pixels, pixels)  # nested lists of ints: 0-255
    grey = load_frames(pixels[..., 0], fps=30).pixels
    assert grey.shape == pixels.shape and np.array_equal(grey[..., 2], pixels[..., 0])


@pytest.mark.parametrize("variable", ["STST_REQUIRE_TEST_DATA", "CI"])
def test_no_display_is_a_failure_in_ci_and_a_skip_elsewhere(monkeypatch, variable):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    for name in ("STST_REQUIRE_TEST_DATA", "CI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(pytest.skip.Exception, match="xvfb-run"):
        require_display()
    monkeypatch.setenv(variable, "true")
    with pytest.raises(pytest.fail.Exception, match="so this is an error"):
        require_display()


# -- on screen --------------------------------------------------------------------------

W, H = 48, 32


@pytest.fixture(scope="module")
def win():
    require_display()
    from psychopy import logging, visual

    logging.console.setLevel(logging.ERROR)
    window = visual.Window(
        (128, 96),
        units="pix",
        color=(0, 0, 0),
        checkTiming=False,
        allowGUI=False,
        autoLog=False,
    )
    yield window
    window.close()


@pytest.fixture(scope="module")
def DynamicStim(win):
    from stst_psychopy import DynamicStim

    return DynamicStim


def centre(image, height=H, width=W, dx=0):
    top, left = image.shape[0] // 2 - height // 2, image.shape[1] // 2 - width // 2 + dx
    return image[top : top + height, left : left + width].astype(int)


def shown(stim, win, max_flips=200):
    """Play until the clip ends; the back buffer before every flip."""
    images = []
    while not stim.isFinished and len(images) < max_flips:
        stim.draw()
        images.append(back_buffer(win))
        win.flip()
    return images


@pytest.mark.parametrize("kind", ["uint8", "float", "grey"])
def test_rendered_frames_equal_the_source(win, DynamicStim, kind):
    pixels = clip()
    source = {"uint8": pixels, "float": pixels / 255.0, "grey": pixels[..., 0]}[kind]
    expected = pixels if kind != "grey" else np.repeat(pixels[..., :1], 3, axis=-1)
    stim = DynamicStim(win, source, fps=60, refreshRate=60)
    assert tuple(stim.size) == (W, H) and stim.frameSize == (W, H)
    images = shown(stim, win)
    assert len(images) == 4 and stim.log.frames == [0, 1, 2, 3]
    for k, image in enumerate(images):
        assert np.abs(centre(image) - expected[k]).max() <= 1, f"frame {k}"


def test_position_contrast_opacity_and_reverse(win, DynamicStim):
    pixels = clip()
    background = back_buffer(win)[0, 0].astype(int)  # the window colour, mid grey
    stim = DynamicStim(win, pixels, fps=60, refreshRate=60, reverse=True, pos=(10, 0), contrast=0.5)
    images = shown(stim, win)
    assert stim.log.frames == [3, 2, 1, 0]
    expected = 127.5 + 0.5 * (pixels[3].astype(float) - 127.5)
    assert np.abs(centre(images[0], dx=10) - expected).max() <= 2
    assert np.all(centre(images[0], dx=-W + 10)[:, :8] == background)  # left of the shifted stimulus: background
    faded = DynamicStim(win, pixels, fps=60, refreshRate=60, opacity=0.5, flipHoriz=True)
    image = shown(faded, win)[1]
    expected = 0.5 * pixels[1][:, ::-1] + 0.5 * background
    assert np.abs(centre(image) - expected).max() <= 2


@pytest.mark.parametrize(
    "fps, refresh, policy, frames",
    [
        (30, 60, "nearest", [0, 0, 1, 1, 2, 2]),
        (60, 60, "nearest", [0, 1, 2]),
        (24, 60, "pulldown", [0, 0, 1, 1, 1, 2, 2]),
    ],
)
def test_each_frame_lasts_whole_flips_and_every_flip_is_logged(win, DynamicStim, fps, refresh, policy, frames):
    pixels = clip(3)
    stim = DynamicStim(win, pixels, fps=fps, refreshRate=refresh, timingPolicy=policy)
    images = shown(stim, win)
    log = stim.log
    assert len(images) == len(frames) == log.n_flips  # one entry per flip, and the clip ends on time
    assert log.frames == frames and [r.flip for r in log] == list(range(len(frames)))
    for image, frame in zip(images, frames):
        assert np.abs(centre(image) - pixels[frame]).max() <= 1
    times = log.times
    assert all(b > a for a, b in itertools.pairwise(times))
    assert log.info["refresh_rate"] == refresh and log.info["policy"] == policy and log.info["presentation"] == 1
    assert stim.duration == pytest.approx(len(frames) / refresh)


@pytest.mark.parametrize("catch_up", [False, True])
def test_dropped_frames_are_detected_and_logged(win, DynamicStim, catch_up):
    # a declared 10 Hz display: a flip counts as late after 150 ms, far above Xvfb's flip times
    stim = DynamicStim(win, clip(8, 8, 8), fps=10, refreshRate=10, catchUp=catch_up)
    flips = 0
    while not stim.isFinished and flips < 20:
        stim.draw()
        if flips == 2:
            time.sleep(0.3)  # flip 2 comes about three refresh periods after flip 1
        win.flip()
        flips += 1
    log = stim.log
    assert log[2].dropped >= 2 and 2 in log.dropped_flips
    for record in log:
        assert record.dropped == missed_refreshes(record.interval, 10)
    refreshes = [r.refresh for r in log]
    if catch_up:  # the content moves on by what was missed
        assert all(b == a + 1 + r.dropped for a, b, r in zip(refreshes, refreshes[1:], log))
        assert log.frames[3] == 3 + log[2].dropped
    else:  # every frame is still shown; the presentation runs late
        assert log.frames == list(range(8)) and refreshes == list(range(8))


def test_pause_resume_stop_and_replay(win, DynamicStim):
    pixels = clip(3)
    stim = DynamicStim(win, pixels, fps=30, refreshRate=60, loop=True)
    stim.play()
    assert stim.isPlaying

    def flip(n):
        for _ in range(n):
            stim.draw()
            win.flip()

    flip(3)
    stim.pause()
    assert stim.isPaused
    flip(2)
    stim.play()
    flip(5)
    log = stim.log
    assert log.frames == [
        0,
        0,
        1,
        1,
        1,
        1,
        2,
        2,
        0,
        0,
    ]  # held while paused, then on, and looped
    assert [r.paused for r in log] == [False] * 3 + [True] * 2 + [False] * 5
    assert not stim.isFinished  # a looping clip never finishes by itself
    stim.stop()
    assert stim.isFinished
    stim.draw()
    assert np.all(centre(back_buffer(win)) == back_buffer(win)[0, 0])  # nothing drawn once stopped
    win.flip()
    assert log.n_flips == 10
    stim.replay()
    flip(1)
    assert len(stim.logs) == 2 and stim.log.info["presentation"] == 2 and stim.log.frames == [0]
    assert stim.frameIndex == 0


def test_the_drop_threshold_is_psychopys(win):
    assert win.refreshThreshold == pytest.approx(DROP_THRESHOLD * win.monitorFramePeriod)


def test_moviestim_names(win, DynamicStim, tmp_path):
    pixels = clip(3)
    np.save(tmp_path / "clip.npy", pixels)
    stim = DynamicStim(win, pixels, fps=30, refreshRate=60, loop=True)
    assert stim.filename is None and (stim.frameRate, stim.getFPS(), stim.videoSize) == (30, 30, (W, H))
    assert (stim.loopCount, stim.movieTime, stim.getCurrentFrameNumber()) == (0, 0.0, None)
    stim.setMovie(tmp_path / "clip.npy")
    assert stim.filename == str(tmp_path / "clip.npy") and stim.nFrames == 3 and stim.loadDuration > 0
    stim.filename = pixels[:2]  # MovieStim loads on assignment too
    assert stim.nFrames == 2 and stim.filename is None
    stim.loadMovie(tmp_path / "clip.npy")
    stim.seek(1 / 30)  # before playing: the presentation starts at frame 1
    for _ in range(9):  # a pass is 6 flips
        stim.draw()
        win.flip()
    assert stim.log.frames == [1, 1, 2, 2, 0, 0, 1, 1, 2] and stim.loopCount == 1
    assert stim.movieTime == pytest.approx(4 / 60) and stim.getCurrentFrameNumber() == 2
    stim.seek(0.0)  # during the presentation: the next flip shows the start of a pass, and the loop count stays
    stim.toggle()  # pause
    for _ in range(2):
        stim.draw()
        win.flip()
    assert stim.isPaused and stim.log.frames[-2:] == [0, 0] and stim.loopCount == 1
    stim.toggle()
    assert stim.isPlaying
    with pytest.raises(TimingError, match="seek needs a time in seconds >= 0"):
        stim.seek(-1)


@pytest.mark.parametrize("value, on", [(True, True), ("yes", True), ("False", False), (np.True_, True), (1.0, True), (0, False), (None, False), ("", False)])
def test_loop_and_reverse_take_what_a_conditions_file_holds(win, DynamicStim, value, on):
    stim = DynamicStim(win, clip(2), fps=60, refreshRate=60, reverse=value)
    stim.setLoop(value)
    assert stim.reverse is on and stim.loop is on


@pytest.mark.parametrize("value", ["maybe", math.nan, 2])
def test_loop_and_reverse_refuse_other_values(win, DynamicStim, value):
    stim = DynamicStim(win, clip(2), fps=60, refreshRate=60, name="movie")
    with pytest.raises(StimulusError, match=r"movie: loop must be True or False \(or 1/0, yes/no\), got"):
        stim.setLoop(value)
    with pytest.raises(StimulusError, match="reverse must be True or False"):
        DynamicStim(win, clip(2), fps=60, refreshRate=60, reverse=value)


def test_frames_are_textures_before_the_trial(win, DynamicStim, monkeypatch):
    pixels = clip(5)
    stim = DynamicStim(win, pixels, fps=60, refreshRate=60, loop=True)
    textures = [t.value for t in stim._frameTextures]
    assert len(textures) == 5 and len(set(textures)) == 5

    def no_work_while_playing(*args, **kwargs):
        raise AssertionError("texture upload or display-list compilation during playback")

    monkeypatch.setattr(stim, "_createTexture", no_work_while_playing)
    monkeypatch.setattr(stim, "_updateList", no_work_while_playing)
    images = []
    for _ in range(7):  # more than a pass: a loop reuses the textures too
        stim.draw()
        images.append(back_buffer(win))
        win.flip()
    assert stim.log.frames == [0, 1, 2, 3, 4, 0, 1]
    assert np.abs(centre(images[6]) - pixels[1]).max() <= 1


def test_placeholder_then_set_stimulus(win, DynamicStim):
    stim = DynamicStim(win, None, fps=60, refreshRate=60, name="later")
    assert stim.nFrames == 0 and stim.fps is None
    with pytest.raises(StimulusError, match="later: no stimulus loaded.*setStimulus"):
        stim.play()
    small, large = clip(2, 16, 24, seed=1), clip(3, 32, 48, seed=2)
    stim.setStimulus(small)
    assert tuple(stim.size) == (24, 16)
    assert stim.log is None
    stim.setStimulus(large)  # another size: the stimulus takes the new frames' size
    assert tuple(stim.size) == (W, H) and stim.nFrames == 3
    images = shown(stim, win)
    assert stim.log.frames == [0, 1, 2]
    assert np.abs(centre(images[2]) - large[2]).max() <= 1


def test_timing_policy_error_and_bad_input_raise_before_drawing(win, DynamicStim):
    with pytest.raises(TimingError, match="24 fps stimulus on a 60 Hz display"):
        DynamicStim(win, clip(2), fps=24, refreshRate=60, timingPolicy="error")
    with pytest.raises(StimulusError, match=r"shape \(T, H, W, C\)"):
        DynamicStim(win, np.zeros((2, 3, 5, 5, 5), np.uint8), fps=30)


def test_psychopy_visual_gets_dynamicstim_from_the_entry_point(DynamicStim):
    from psychopy import plugins, visual

    plugins.scanPlugins()
    assert plugins.loadPlugin("stst-toolkit")
    assert visual.DynamicStim is DynamicStim


# -- files the toolkit writes -------------------------------------------------------------


@pytest.fixture(scope="module")
def stst_store(tmp_path_factory):
    """A stimulus store written by the STST synthesizer, with settings that take about a second."""
    import torch

    from stst_core import Video
    from stst_styletransfer import STSTSynthesizer

    generator = torch.Generator().manual_seed(0)
    base = torch.rand(3, 24, 40, generator=generator)
    target = Video(
        torch.stack([torch.roll(base, 2 * t, dims=2)[:, :, :32] for t in range(3)], dim=1).contiguous(),
        fps=25,
        source="drift",
    )
    config = STSTSynthesizer.resolve(
        "offline",
        None,
        [
            "octaves=[{scale=0, steps=2, lr=0.01}]",
            "burn_in=1",
            "spatial.options={levels=1}",
            "spatial.style_layers=['level0']",
            "color_transfer=none",
        ],
    )
    path = tmp_path_factory.mktemp("stst") / "metamer.zarr"
    STSTSynthesizer({"content": target}, config, seed=0).synthesize(path, progress=False)
    return path


def test_a_store_from_the_stst_synthesizer_plays_without_conversion(win, DynamicStim, stst_store, tmp_path):
    from stst_core._store import StimulusStore

    expected = StimulusStore(stst_store).video().to_uint8()
    stim = DynamicStim(win, stst_store, refreshRate=50)
    assert stim.fps == 25 and stim.flipsPerFrame == 2 and stim.source == str(stst_store)
    assert stim.frameSize == (32, 24)
    images = shown(stim, win)
    assert stim.log.frames == [0, 0, 1, 1, 2, 2]
    for flip, frame in ((0, 0), (3, 1), (4, 2)):
        assert np.abs(centre(images[flip], 24, 32) - expected[frame]).max() <= 1

    unfinished = tmp_path / "unfinished.zarr"
    shutil.copytree(stst_store, unfinished)
    StimulusStore(unfinished).set_status("running")
    with pytest.raises(
        StimulusError,
        match="is 'running', not complete .*run the same `stst synth` command again",
    ):
        DynamicStim(win, unfinished)


def test_video_files_keep_their_rate_unless_told(win, DynamicStim, tmp_path):
    import torch

    from stst_core import Video, read_video, write_video

    video = Video(torch.rand(3, 4, 16, 24, generator=torch.Generator().manual_seed(3)), fps=20)
    npz = write_video(video, tmp_path / "clip.npz")
    mp4 = write_video(video, tmp_path / "clip.mp4")
    stim = DynamicStim(win, npz, refreshRate=60)
    assert (stim.fps, stim.flipsPerFrame, stim.nFrames) == (20, 3, 4)
    faster = DynamicStim(win, npz, fps=30, refreshRate=60)
    assert (faster.fps, faster.flipsPerFrame) == (30, 2)
    movie = DynamicStim(win, mp4, refreshRate=60)
    decoded = read_video(mp4).to_uint8()
    assert movie.fps == pytest.approx(20) and movie.nFrames == 4
    images = shown(movie, win)
    assert np.abs(centre(images[3], 16, 24) - decoded[1]).max() <= 1
