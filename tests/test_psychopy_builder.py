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

from stst_psychopy import DynamicStim, ExperimentError
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
    exp, comp = one_routine_experiment(stimulus="$movieFile", reverse="$backwards", loop=True)
    for name in ("stimulus", "reverse"):
        comp.params[name].updates = "set every repeat"
    path = tmp_path / "exp.psyexp"
    exp.saveToXML(str(path))
    assert 'plugin="stst-toolkit"' in path.read_text()
    plugins.scanPlugins()
    plugins.loadPlugin("stst-toolkit")
    loaded = experiment.Experiment()
    loaded.loadFromXML(str(path))  # a checkbox holding $backwards was a SyntaxError here, inside PsychoPy
    clip = loaded.routines["trial"].getComponentFromName("clip")
    assert type(clip) is DynamicStimComponent
    assert clip.params["stimulus"].val == "$movieFile" and clip.params["stimulus"].updates == "set every repeat"
    assert (clip.params["reverse"].val, clip.params["reverse"].updates) == ("$backwards", "set every repeat")
    assert str(clip.params["loop"]) == "True"


def compiled(exp) -> str:
    script = exp.writeScript(target="PsychoPy")
    compile(script, "experiment.py", "exec")  # the script is valid Python
    return script


def test_every_settable_parameter_compiles_from_a_variable_in_every_update_mode():
    comp = DynamicStimComponent(experiment.Experiment(), "trial")
    settable = {name: param.allowedUpdates for name, param in comp.params.items() if param.allowedUpdates}
    assert {"stimulus", "fps", "loop", "reverse", "pos", "size", "ori", "opacity", "contrast", "color"} <= set(settable)
    for name, modes in settable.items():
        for mode in modes:
            exp, clip = one_routine_experiment(stimulus="clip.npy")
            clip.params[name].val = "$variable"  # a column of the conditions file
            clip.params[name].updates = mode
            script = compiled(exp)
            setter = f"clip.set{name[0].upper() + name[1:]}(variable"
            if mode == "constant":  # evaluated once, when the stimulus is created
                assert setter not in script and "=variable," in script.replace(" ", ""), (name, mode)
            else:
                assert setter in script, (name, mode)


def test_a_leading_dollar_is_code_in_number_fields_too():
    # Builder's field check takes $x in a number field for code; PsychoPy would write the $ into the script
    exp, clip = one_routine_experiment(stimulus="clip.npy", fps="$rate", refreshRate="$hz", contrast="$0.5 * c")
    script = compiled(exp)
    assert "fps=rate, refreshRate=hz" in script and "contrast=0.5 * c" in script


def test_loading_at_the_routine_start_takes_no_routine_time():
    exp, clip = one_routine_experiment(stimulus="$movieFile")
    assert "loadDuration" not in compiled(exp)  # constant: loaded once, when the experiment starts
    clip.params["stimulus"].updates = "set every repeat"
    script = compiled(exp)
    load = script.index("clip.setStimulus(movieFile)")
    assert script.index("routineTimer.addTime(-clip.loadDuration)") > load  # right after the load
    assert script.index("routineTimer.addTime(-clip.loadDuration)") < script.index("# --- Run Routine")
    assert "thisExp.addData('clip.loadDuration', clip.loadDuration)" in script


def test_a_static_period_can_load_the_clip():
    from psychopy.experiment.components.static import StaticComponent

    exp, clip = one_routine_experiment(stimulus="$movieFile", startVal=0.5)
    static = StaticComponent(exp, "trial", name="ISI", stopVal=0.5)
    exp.routines["trial"].insert(0, static)
    clip.params["stimulus"].updates = "set during: trial.ISI"
    static.addComponentUpdate("trial", "clip", "stimulus")
    script = compiled(exp)
    assert script.count("clip.setStimulus(movieFile)") == 1
    assert script.index("ISI.start(0.5)") < script.index("clip.setStimulus(movieFile)") < script.index("ISI.complete()")
    assert "routineTimer.addTime(-clip.loadDuration)" not in script  # the static period absorbs the load


class AlertCollector:
    """Receives PsychoPy's alerts, as Builder's Runner panel does."""

    def __init__(self):
        self.alerts = []

    def receiveAlert(self, alert):
        self.alerts.append(alert)


@pytest.fixture
def alerts():
    from psychopy.alerts import addAlertHandler, removeAlertHandler

    collector = AlertCollector()
    addAlertHandler(collector)
    yield collector.alerts
    removeAlertHandler(collector)


MISPLACED = {
    "fps": "my$rate",  # not at the start
    "stimulus": "clips/$name.npz",
    "stopVal": "$a + $b",  # a second one, outside quotes
    "timingPolicy": "$policy",  # a choice
    "catchUp": "$catch",  # a checkbox
}
WELL_PLACED = {"reverse": "$backwards", "opacity": "$o", "ori": "angle", "contrast": "$c  # costs $0"}


def test_a_misplaced_dollar_raises_psychopys_alert_in_the_integrity_check(alerts):
    exp, clip = one_routine_experiment(stimulus="clip.npy")
    for name, value in {**MISPLACED, **WELL_PLACED}.items():
        clip.params[name].val = value
    exp.integrityCheck()  # what Builder's Runner runs when it is given the experiment
    ours = [alert for alert in alerts if alert.code == 4315]
    assert sorted(alert.msg.split('"')[1] for alert in ours) == sorted(MISPLACED.values())
    assert all(alert.name == "clip" and 'for DynamicStim component "clip"' in alert.msg for alert in ours)
    assert any("of Timing policy" in alert.msg for alert in ours)


def test_compile_experiment_reports_alerts_and_still_writes_the_script(tmp_path, alerts):
    exp, clip = one_routine_experiment(stimulus="clip.npy", fps="my$rate")
    exp.saveToXML(str(tmp_path / "exp.psyexp"))
    script = compile_experiment(tmp_path / "exp.psyexp")
    assert [alert.code for alert in alerts if alert.name == "clip"] == [4315]
    assert "fps=my$rate" in script.read_text()  # what the user typed: the alert says why it cannot run


def test_compile_experiment_names_a_checkbox_that_holds_code(tmp_path):
    exp, clip = one_routine_experiment(stimulus="clip.npy", catchUp="$catch")
    exp.saveToXML(str(tmp_path / "exp.psyexp"))
    with pytest.raises(ExperimentError, match=r"clip: Catch up after dropped frames = '\$catch'.*True or False"):
        compile_experiment(tmp_path / "exp.psyexp")
    with pytest.raises(ExperimentError, match="missing.psyexp: no such experiment file"):
        compile_experiment(tmp_path / "missing.psyexp")


def test_experiments_saved_with_checkbox_loop_and_reverse_still_compile(tmp_path):
    exp, clip = one_routine_experiment(stimulus="$movieFile", reverse="$backwards", loop="$loop")
    for name in ("stimulus", "reverse", "loop"):
        clip.params[name].updates = "set every repeat"
    path = tmp_path / "old.psyexp"
    exp.saveToXML(str(path))
    # as earlier versions of the component saved them
    path.write_text(
        path.read_text()
        .replace('valType="code" updates="set every repeat" name="loop"', 'valType="bool" updates="set every repeat" name="loop"')
        .replace('valType="code" updates="set every repeat" name="reverse"', 'valType="bool" updates="set every repeat" name="reverse"')
    )
    assert path.read_text().count('valType="bool" updates="set every repeat"') == 2
    script = compile_experiment(path).read_text()
    compile(script, "old.py", "exec")
    assert "clip.setLoop(loop)" in script and "clip.setReverse(backwards)" in script


def test_the_help_button_opens_the_toolkits_psychopy_page():
    url = DynamicStimComponent(experiment.Experiment(), "trial").url
    assert url.startswith("file://") and Path(url.removeprefix("file://").split("#")[0]).is_file()
    assert url.split("#")[0].endswith(("docs/psychopy.md", "docs/_build/html/psychopy.html"))


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
