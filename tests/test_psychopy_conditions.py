"""A Builder experiment that takes the clip and its playback from a conditions file, compiled and run headless.

The experiment is built with PsychoPy's own experiment API, saved as a
``.psyexp`` file, compiled with :func:`stst_psychopy.components.compile_experiment`
and run as a script under Xvfb in pilot mode. Its conditions file sets, per
row, the clip (a folder of PNG frames with a ``meta.json``), *Play
backwards*, *Loop*, the frame rate and the stop; a Routine of fixed duration
shorter than the first clip's loading time comes first (the loading time
once crashed compiled scripts), and a simulated observer answers through
the Keyboard component, as the recipe in docs/psychopy.md shows.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psychopy import experiment  # building and compiling need no display
from psychopy.experiment.components.code import CodeComponent
from psychopy.experiment.components.keyboard import KeyboardComponent
from psychopy.experiment.components.text import TextComponent
from psychopy.experiment.loops import TrialHandler

from stst_psychopy.components import DynamicStimComponent, compile_experiment
from stst_psychopy.testing import require_display

# the clips: three and two frames of one grey level each, so that a frame index is visible in its pixels
CLIPS = {"three": [40, 120, 200], "two": [80, 160]}
# one row per trial, in this order: the clip, the playback, the frame rate and the stop (flips, for looping clips)
ROWS = [
    {"movieFile": "three", "backwards": False, "loop": False, "rate": 30, "nFlips": 100, "corrAns": 1},
    {"movieFile": "three", "backwards": True, "loop": False, "rate": 30, "nFlips": 100, "corrAns": 2},
    {"movieFile": "two", "backwards": True, "loop": True, "rate": 30, "nFlips": 10, "corrAns": 1},
    {"movieFile": "two", "backwards": False, "loop": True, "rate": 60, "nFlips": 5, "corrAns": 2},
]
EXPECTED_FRAMES = [
    [0, 0, 1, 1, 2, 2],  # 30 fps on 60 Hz: two flips per frame
    [2, 2, 1, 1, 0, 0],  # backwards
    [1, 1, 0, 0, 1, 1, 0, 0, 1, 1],  # backwards and looping, stopped after 10 flips
    [0, 1, 0, 1, 0],  # 60 fps: one flip per frame, looping, 5 flips
]
FIXATION = 0.1  # seconds of fixation before the clip of the fixed-duration Routine

# the recipe of docs/psychopy.md: in pilot mode, a Code component answers through the Keyboard component
SIMULATED_OBSERVER = """\
if PILOTING and resp.status == STARTED and not resp.keys:
    answer = str(corrAns)  # this observer is always right
    press = keyboard.KeyPress(code=answer, tDown=resp.clock.getTime(), name=answer)
    resp.device.receiveMessage(press)
"""


def write_clips(folder: Path) -> None:
    for name, levels in CLIPS.items():
        (folder / name).mkdir()
        for index, level in enumerate(levels):
            Image.fromarray(np.full((6, 8, 3), level, np.uint8)).save(folder / name / f"frame_{index:05d}.png")
        (folder / name / "meta.json").write_text(json.dumps({"fps": 30}))  # the frames folder's rate


def build(folder: Path) -> Path:
    with (folder / "conditions.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    exp = experiment.Experiment()
    settings = exp.settings.params
    settings["expName"].val = "playback"
    settings["Show info dlg"].val = False  # nobody is there to answer it
    settings["Full-screen window"].val = False
    settings["Window size (pixels)"].val = "[200, 150]"
    settings["Units"].val = "pix"
    settings["measureFrameRate"].val = False  # Xvfb has no real refresh: declare 60 Hz
    settings["frameRate"].val = 60
    start, flash, trial = exp.addRoutine("start"), exp.addRoutine("flash"), exp.addRoutine("trial")
    for position, routine in enumerate((start, flash, trial)):
        exp.flow.addRoutine(routine, position)
    exp.flow.addLoop(TrialHandler(exp=exp, name="trials", loopType="sequential", nReps=1, conditionsFile="conditions.csv"), 1, 3)

    # in place of instructions: a Routine without a fixed duration first, which resets the Routine
    # timer (PsychoPy's start-up, its first flip and the conditions file, runs on it; see docs/psychopy.md)
    start.append(CodeComponent(exp, "start", name="skipInstructions", eachFrame="continueRoutine = False"))

    # a Routine of fixed duration (0.2 s): fixation, then the clip at 0.1 s for 0.1 s. The first clip's
    # load imports the toolkit's core and PyTorch, far longer than the Routine.
    flash.append(TextComponent(exp, "flash", name="fixation", text="+", stopVal=FIXATION))
    flashClip = DynamicStimComponent(exp, "flash", name="flashClip", stimulus="$movieFile", startVal=FIXATION, stopVal=0.1, saveFlipLog=False)
    flashClip.params["stimulus"].updates = "set every repeat"
    flash.append(flashClip)

    clip = DynamicStimComponent(
        exp,
        "trial",
        name="clip",
        stimulus="$movieFile",
        fps="$rate",
        reverse="$backwards",
        loop="$loop",
        opacity="$0.5 + 0.5 * backwards",  # code in a number field, with its $
        ori="t * 10",
        stopType="duration (frames)",
        stopVal="$nFlips",
        forceEndRoutine=True,
    )
    for name in ("stimulus", "fps", "reverse", "loop", "opacity"):
        clip.params[name].updates = "set every repeat"
    clip.params["ori"].updates = "set every frame"
    trial.append(clip)
    trial.append(KeyboardComponent(exp, "trial", name="resp", allowedKeys="'1', '2'", storeCorrect=True, correctAns="$corrAns", forceEndRoutine=False))
    trial.append(CodeComponent(exp, "trial", name="simulatedObserver", eachFrame=SIMULATED_OBSERVER))
    path = folder / "playback.psyexp"
    exp.saveToXML(str(path))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The experiment compiled and run once in pilot mode: its data rows and flip log."""
    require_display()  # the script opens a window
    folder = tmp_path_factory.mktemp("builder")
    write_clips(folder)
    script = compile_experiment(build(folder))
    result = subprocess.run([sys.executable, script.name, "--pilot"], cwd=folder, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (data,) = [path for path in (folder / "data").glob("*.csv") if not path.name.endswith("_flips.csv")]
    with data.open(encoding="utf-8-sig") as handle:  # PsychoPy writes a byte-order mark
        rows = [row for row in csv.DictReader(handle) if row.get("clip.source")]
    with data.with_name(data.stem + "_clip_flips.csv").open() as handle:
        flips = list(csv.DictReader(handle))
    return rows, flips, script.read_text()


def test_conditions_file_sets_clip_backwards_and_loop_and_the_script_runs_to_the_end(run):
    rows, flips, _ = run
    assert len(rows) == len(ROWS)
    for row, condition, frames in zip(rows, ROWS, EXPECTED_FRAMES):
        shown = [int(f["frame"]) for f in flips if f["presentation"] == str(int(float(row["clip.presentation"])))]
        assert shown == frames, condition
        assert row["clip.source"] == condition["movieFile"]
        assert float(row["clip.effectiveFps"]) == condition["rate"]
        assert int(float(row["clip.flips"])) == len(frames)


def test_loading_takes_no_routine_time(run):
    rows, _, script = run
    assert "routineTimer.addTime(-flashClip.loadDuration)" in script
    # the first load (PyTorch and all) took longer than the whole 0.2 s Routine; the Routine still ran
    # (counting the load, its frame loop would not have run at all), and on every trial the clip started
    # 0.1 s into the Routine, counted from when the clip was ready (flash.started), after the fixation
    assert float(rows[0]["flashClip.loadDuration"]) > 0.2
    for row in rows:
        assert row["flashClip.started"], "the Routine of fixed duration was skipped: the load used up its time"
        # (had the load counted, the clip would start at once; half the fixation leaves room for late flips on a busy machine)
        assert float(row["flashClip.started"]) - float(row["flash.started"]) > FIXATION / 2
        assert float(row["fixation.started"]) < float(row["flashClip.started"])
        assert int(float(row["flashClip.flips"])) >= 1


def test_the_simulated_observer_answers_through_the_keyboard_component(run):
    rows, _, _ = run
    for row, condition in zip(rows, ROWS):
        assert row["resp.keys"] == str(condition["corrAns"]) and int(float(row["resp.corr"])) == 1
        assert 0 < float(row["resp.rt"]) < 5
