"""The Builder component: PsychoPy's own component tests, the generated code, and the example experiment.

PsychoPy ships its component test mixins in its wheel
(``psychopy.tests.test_experiment.test_components``); the component runs
them the way PsychoPy's own components do. The example experiment in
``docs/examples/natural-vs-metamer`` is compiled from its ``.psyexp`` and run
headless under Xvfb in PsychoPy's pilot mode, where a simulated observer
answers.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stst_psychopy.testing import require_display

require_display()  # psychopy.visual (DynamicStim's base) needs a display even to import

from psychopy import experiment, logging, plugins
from psychopy.experiment.components import getAllComponents
from psychopy.experiment.loops import TrialHandler
from psychopy.tests.test_experiment.test_component_compile_python import (
    _TestBoilerplateMixin,
)
from psychopy.tests.test_experiment.test_components.test_base_components import (
    BaseComponentTests,
    _TestDepthMixin,
    _TestLibraryClassMixin,
)
from psychopy.tests.test_visual.test_basevisual import _TestSerializationMixin

from stst_psychopy import DynamicStim
from stst_psychopy.components import DynamicStimComponent, compile_experiment

logging.console.setLevel(logging.ERROR)
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "natural-vs-metamer"


class TestDynamicStimComponent(BaseComponentTests, _TestLibraryClassMixin, _TestDepthMixin):
    """PsychoPy's own checks: syntax of the generated code with any start/stop, icons for every
    theme, indentation, disabling, every parameter used, a set method for every settable one, depth."""

    comp = DynamicStimComponent
    libraryClass = DynamicStim
    # for components of hardware devices; this one drives none
    test_device_class_refs = None


class TestDynamicStimWorksWithBuilderCode(_TestBoilerplateMixin, _TestSerializationMixin):
    """PsychoPy's checks of library classes that compiled scripts call: name, autoLog and depth
    arguments, a settable status, and serialize()/actualize() round trips."""

    @pytest.fixture(autouse=True, params=["array", "file"])
    def stim(self, request, tmp_path):
        from psychopy import visual

        if not hasattr(type(self), "window"):  # one window for the class: opening one takes a while
            type(self).window = visual.Window((64, 64), units="pix", checkTiming=False, allowGUI=False, autoLog=False)
        self.win = self.window
        frames = np.random.default_rng(0).integers(0, 256, (2, 8, 12, 3), dtype=np.uint8)
        if request.param == "file":
            np.save(tmp_path / "clip.npy", frames)
            frames = tmp_path / "clip.npy"
        self.obj = DynamicStim(self.win, frames, fps=30, refreshRate=60, name="clip", pos=(3, 4))
        yield
        self.obj.clearTextures()

    def test_serialized_copy_plays_the_same_clip(self):
        from psychopy.tools.stimulustools import actualize, serialize

        params = serialize(self.obj)
        params["win"] = self.win
        copy = actualize(params)
        assert (copy.nFrames, copy.fps, copy.flipsPerFrame, tuple(copy.pos)) == (
            2,
            30,
            2,
            (3, 4),
        )
        assert np.array_equal(np.asarray(copy.stimulus), np.asarray(self.obj.stimulus))  # the path, or the frames

    @classmethod
    def teardown_class(cls):
        if hasattr(cls, "window"):
            cls.window.close()


def test_plugin_registers_the_component_and_the_stimulus():
    plugins.scanPlugins()
    assert plugins.loadPlugin("stst-toolkit")
    from psychopy import visual

    assert visual.DynamicStim is DynamicStim
    assert getAllComponents()["DynamicStimComponent"] is DynamicStimComponent
    assert DynamicStimComponent.categories == ["Stimuli"] and DynamicStimComponent.plugin == "stst-toolkit"


def test_every_parameter_has_a_label_and_a_hint():
    comp = DynamicStimComponent(experiment.Experiment(), "trial")
    for name in (
        "stimulus",
        "fps",
        "refreshRate",
        "timingPolicy",
        "loop",
        "reverse",
        "catchUp",
        "forceEndRoutine",
        "saveFlipLog",
        "interpolate",
        "flipHoriz",
        "flipVert",
        "anchor",
    ):
        param = comp.params[name]
        assert param.label and len(param.hint) > 20, name
    assert list(comp.params["timingPolicy"].allowedVals) == [
        "nearest",
        "floor",
        "ceil",
        "pulldown",
        "error",
    ]
    assert "fillColor" not in comp.params and DynamicStimComponent.tooltip


def one_routine_experiment(**params):
    exp = experiment.Experiment()
    routine = exp.addRoutine("trial")
    exp.flow.addRoutine(routine, 0)
    exp.flow.addLoop(TrialHandler(exp=exp, name="trials"), 0, 1)  # around the routine
    comp = DynamicStimComponent(exp, "trial", name="clip", **params)
    routine.append(comp)
    return exp, comp


def test_generated_code_uses_dynamicstim_and_takes_the_stimulus_from_conditions():
    exp, comp = one_routine_experiment(
        stimulus="$movieFile",
        fps=30,
        refreshRate=60,
        timingPolicy="pulldown",
        loop=True,
        forceEndRoutine=True,
    )
    comp.params["stimulus"].updates = "set every repeat"
    script = exp.writeScript(target="PsychoPy")
    compile(script, "experiment.py", "exec")
    assert "from stst_psychopy import DynamicStim" in script
    assert "clip = DynamicStim(" in script
    assert "stimulus=None, fps=30.0, refreshRate=60.0" in script  # loaded at each routine start instead
    assert "timingPolicy='pulldown', loop=True" in script
    assert "clip.setStimulus(movieFile)" in script
    assert "clip.play()" in script and "or clip.isFinished:" in script
    assert "continueRoutine = False" in script
    assert "clip.log.to_csv(thisExp.dataFileName + '_clip_flips.csv', append=True)" in script
    assert "thisExp.addData('clip.' + _key, _value)" in script
    comp.params["saveFlipLog"].val = False
    comp.params["refreshRate"].val = ""  # blank: the experiment's rate, measured or set in its settings
    script = exp.writeScript(target="PsychoPy")
    assert "_flips.csv" not in script and "refreshRate=expInfo.get('frameRate')" in script


def test_psyexp_round_trip(tmp_path):
    exp, comp = one_routine_experiment(stimulus="$movieFile", reverse=True)
    comp.params["stimulus"].updates = "set every repeat"
    path = tmp_path / "exp.psyexp"
    exp.saveToXML(str(path))
    assert 'plugin="stst-toolkit"' in path.read_text()
    plugins.scanPlugins()
    plugins.loadPlugin("stst-toolkit")
    loaded = experiment.Experiment()
    loaded.loadFromXML(str(path))
    clip = loaded.routines["trial"].getComponentFromName("clip")
    assert type(clip) is DynamicStimComponent
    assert clip.params["stimulus"].val == "$movieFile" and clip.params["stimulus"].updates == "set every repeat"
    assert clip.params["reverse"].val is True


def _without_date(script: str) -> list[str]:
    # the compiler stamps the date; the committed copy says it must not be linted
    return [line for line in script.splitlines() if not line.startswith(("    on ", "# ruff: noqa"))]


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_experiment_runs_headless_saves_data_and_is_analysed(tmp_path):
    for name in ("natural_vs_metamer.psyexp", "make_stimuli.py", "analyse.py"):
        shutil.copy(EXAMPLE / name, tmp_path / name)

    # one clip and its metamer, made by the STST synthesizer with tiny settings
    conditions = _module(tmp_path / "make_stimuli.py").main(["--fast", "--clips", "1", "--out", str(tmp_path)])
    with conditions.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["natural_interval"] for row in rows] == ["1", "2"]
    assert (tmp_path / rows[0]["stimulus2"]).is_dir()  # the metamer is a stimulus store, played as it is

    script = compile_experiment(tmp_path / "natural_vs_metamer.psyexp")
    import psychopy

    if f"psychopyVersion = '{psychopy.__version__}'" in (EXAMPLE / "natural_vs_metamer.py").read_text():
        assert _without_date(script.read_text()) == _without_date((EXAMPLE / "natural_vs_metamer.py").read_text()), (
            "docs/examples/natural-vs-metamer/natural_vs_metamer.py is out of date: recompile it from the .psyexp (see docs/psychopy.md)"
        )

    # --pilot: windowed, and the simulated observer answers
    result = subprocess.run(
        [sys.executable, script.name, "--pilot"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    data = [p for p in (tmp_path / "data").glob("pilot_natural_vs_metamer_*.csv") if not p.name.endswith("_flips.csv")]
    assert len(data) == 1
    with data[0].open(encoding="utf-8-sig") as handle:  # PsychoPy writes a byte-order mark
        trials = [row for row in csv.DictReader(handle) if row["clip"]]
    assert len(trials) == 2
    for trial in trials:
        assert trial["resp.keys"] in ("1", "2") and int(float(trial["resp.corr"])) == (trial["resp.keys"] == trial["corrAns"])
        # clip1 waits for the whole 0.5 s fixation, however long it took to load
        fixation_shown = float(trial["clip1.started"]) - float(trial["fixation1.started"])
        assert fixation_shown > 0.5 - 0.02, fixation_shown
        for interval in ("clip1", "clip2"):
            assert trial[f"{interval}.source"] == trial[f"stimulus{interval[-1]}"]
            assert int(float(trial[f"{interval}.frames_shown"])) == 3 and int(float(trial[f"{interval}.flips"])) >= 3

    # the flip logs: one row per flip of every presentation, matching the counts in the data file
    for interval in ("clip1", "clip2"):
        flips_file = data[0].with_name(data[0].stem + f"_{interval}_flips.csv")
        with flips_file.open() as handle:
            flips = list(csv.DictReader(handle))
        for trial in trials:
            presentation = [f for f in flips if f["presentation"] == str(int(float(trial[f"{interval}.presentation"])))]
            assert len(presentation) == int(float(trial[f"{interval}.flips"]))
            assert [int(f["flip"]) for f in presentation] == list(range(len(presentation)))
            frames = [int(f["frame"]) for f in presentation]
            assert frames == sorted(frames) and set(frames) == {0, 1, 2}

    table = _module(tmp_path / "analyse.py").main([str(tmp_path / "data"), "--out", str(tmp_path / "results.csv")])
    overall = table[table["condition"] == "all"].iloc[0]
    correct = sum(int(float(t["resp.corr"])) for t in trials)
    assert overall["trials"] == 2 and overall["correct"] == correct
    assert overall["percent_correct"] == pytest.approx(50.0 * correct)
    assert list(table[table["by"] == "natural clip"]["condition"]) == [
        "first",
        "second",
    ]
    assert (tmp_path / "results.csv").is_file()
