"""The Builder component for :class:`stst_psychopy.DynamicStim`.

Registered in PsychoPy's ``psychopy.experiment.components`` entry-point
group, so it appears under *Stimuli* in Builder once the toolkit is installed
in PsychoPy's Python. The generated script imports
``stst_psychopy.DynamicStim``, uploads the frames when the stimulus is
created (or, when the stimulus comes from a conditions file, at the start of
each routine, before its first flip, moving the routine timer back by the
time that took), plays from the component's start, and at the routine's end
writes the presentation's summary to the data file and its flips to
``<data file>_<name>_flips.csv``.

Code in parameters: a leading ``$`` makes any field that takes code code
(Builder's field check already treats it so, but PsychoPy would write the
``$`` of a number field into the script). A ``$`` anywhere else, or in a
field that takes no code (a choice or a checkbox), raises PsychoPy's alert
4315 in the integrity check that Builder's Runner shows.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import ClassVar

from psychopy.alerts import alert
from psychopy.experiment.components import BaseVisualComponent, Param, getInitVals
from psychopy.localization import _translate

from ...timing import POLICIES

__all__ = ["DynamicStimComponent"]

_HERE = Path(__file__).parent
_DOCS = _HERE.parents[2] / "docs"  # in a checkout of the toolkit
_NO_CODE_INPUTS = ("choice", "bool", "multiChoice", "richChoice")  # fields Builder offers no typing in
_INVALID_DOLLAR = 4315  # PsychoPy's alert "a dollar sign has been used incorrectly"


def _asCode(param: Param) -> Param:
    """``param``, or a copy holding code when its value starts with ``$`` and its type would write the ``$`` itself."""
    if param.valType in ("num", "int", "bool") and isinstance(param.val, str) and param.val.strip().startswith("$"):
        param = copy.copy(param)
        param.val, param.valType = param.val.strip()[1:], "code"
    return param


def _misplacedDollar(param: Param) -> bool:
    """Whether a ``$`` in the value cannot mean what PsychoPy's dollar syntax allows.

    A field that takes code accepts one ``$`` at the start (then further ones
    only in quotes or comments) or escaped ones (``\\$``); a field without
    typing (a choice, a checkbox) accepts none.
    """
    value = param.val
    if not isinstance(value, str) or "$" not in value:
        return False
    if param.inputType in _NO_CODE_INPUTS:
        return True
    valid, _ = Param(value.strip(), "str").dollarSyntax()  # PsychoPy's own rule, as for its text fields
    return not valid


class DynamicStimComponent(BaseVisualComponent):
    """Present a generated stimulus (stimulus store, video file or frames folder), frame-locked to the screen."""

    categories: ClassVar[list[str]] = ["Stimuli"]
    targets: ClassVar[list[str]] = ["PsychoPy"]
    plugin = "stst-toolkit"  # recorded in .psyexp files, so Builder can name what is missing
    iconFile = _HERE / "dynamicstim.png"
    iconSVG = _HERE / "DynamicStimComponent.svg"
    tooltip = _translate("Dynamic stimulus: play a generated stimulus (STST store or video), frame-locked, with a log of every flip")

    @property
    def url(self) -> str | None:
        """The help page Builder's *Help* button opens: the toolkit's PsychoPy page.

        The HTML page when the documentation has been built in the checkout
        (``docs/_build/html``), else its Markdown source; None (no *Help*
        button) in an install without the documentation.
        """
        html = _DOCS / "_build" / "html" / "psychopy.html"
        if html.is_file():
            return html.as_uri() + "#builder-the-dynamic-stimulus-component"
        source = _DOCS / "psychopy.md"
        return source.as_uri() if source.is_file() else None

    def __init__(
        self,
        exp,
        parentName,
        name="dynamicStim",
        stimulus="",
        units="from exp settings",
        color="white",
        colorSpace="rgb",
        pos=(0, 0),
        size="",
        anchor="center",
        ori=0,
        opacity="",
        contrast=1,
        fps="",
        refreshRate="",
        timingPolicy="nearest",
        loop=False,
        reverse=False,
        catchUp=False,
        forceEndRoutine=False,
        saveFlipLog=True,
        interpolate="nearest",
        flipHoriz=False,
        flipVert=False,
        startType="time (s)",
        startVal=0.0,
        stopType="duration (s)",
        stopVal="",
        startEstim="",
        durationEstim="",
    ):
        super().__init__(
            exp,
            parentName,
            name=name,
            units=units,
            color=color,
            colorSpace=colorSpace,
            pos=pos,
            size=size,
            ori=ori,
            opacity=opacity,
            contrast=contrast,
            startType=startType,
            startVal=startVal,
            stopType=stopType,
            stopVal=stopVal,
            startEstim=startEstim,
            durationEstim=durationEstim,
        )
        self.type = "DynamicStim"
        self.exp.requireImport(importName="DynamicStim", importFrom="stst_psychopy")
        self.order += [
            "stimulus", "forceEndRoutine",  # Basic
            "fps", "refreshRate", "timingPolicy", "loop", "reverse", "catchUp",  # Playback
            "flipHoriz", "flipVert",  # Layout
            "saveFlipLog",  # Data
        ]  # fmt: skip

        self.params["stopVal"].hint = _translate("When does the Component end? (blank: when the clip ends, or never for a looping clip)")
        self.params["stimulus"] = Param(
            stimulus, valType="file", inputType="file", allowedTypes=[], categ="Basic",
            updates="constant", allowedUpdates=["constant", "set every repeat"],
            hint=_translate(
                "The clip to play: a stimulus store (the .zarr folder `stst synth` writes), a video file "
                "(.mp4, .gif ...), a folder of frame images or a .npy/.npz array. Use $variable and "
                "'set every repeat' to take it from a conditions file; its frames are then uploaded at the "
                "start of the routine, before the first flip, and the loading time is not counted as "
                "routine time."
            ),
            label=_translate("Stimulus"),
        )  # fmt: skip
        self.params["forceEndRoutine"] = Param(
            forceEndRoutine, valType="bool", inputType="bool", categ="Basic",
            updates="constant", allowedUpdates=[], direct=False,
            hint=_translate("Should the end of the clip end the Routine (e.g. the trial)?"),
            label=_translate("Force end of Routine"),
        )  # fmt: skip
        self.params["fps"] = Param(
            fps, valType="num", inputType="single", categ="Playback",
            updates="constant", allowedUpdates=["constant", "set every repeat"],
            hint=_translate("Frame rate of the clip in frames per second; blank: the rate stored with the stimulus."),
            label=_translate("Frame rate (fps)"),
        )  # fmt: skip
        self.params["refreshRate"] = Param(
            refreshRate, valType="num", inputType="single", categ="Playback",
            updates="constant", allowedUpdates=[],
            hint=_translate(
                "Refresh rate of the display in Hz; blank: the experiment's frame rate (expInfo['frameRate']: "
                "measured when the experiment starts, or as set under Experiment settings > Screen). Each "
                "frame is shown for a whole number of refreshes."
            ),
            label=_translate("Refresh rate (Hz)"),
        )  # fmt: skip
        self.params["timingPolicy"] = Param(
            timingPolicy, valType="str", inputType="choice", categ="Playback",
            allowedVals=list(POLICIES),
            allowedLabels=[
                _translate("nearest: round, equal frames"),
                _translate("floor: round down (never slower)"),
                _translate("ceil: round up (never faster)"),
                _translate("pulldown: alternate, keep duration"),
                _translate("error: stop with an error"),
            ],
            updates="constant", allowedUpdates=[],
            hint=_translate(
                "What to do when the refresh rate is not a whole multiple of the frame rate: nearest shows "
                "every frame for the nearest whole number of refreshes (the clip plays a little faster or "
                "slower); floor/ceil round down/up; pulldown alternates (2, 3, 2, 3 refreshes for 24 fps at "
                "60 Hz) to keep the duration; error stops the experiment."
            ),
            label=_translate("Timing policy"),
        )  # fmt: skip
        # Loop and Play backwards are code fields, not checkboxes: a checkbox cannot hold a
        # $variable, and PsychoPy evaluates a checkbox's value as Python when it loads a
        # .psyexp file, so '$backwards' there is a SyntaxError inside PsychoPy.
        self.params["loop"] = Param(
            loop, valType="code", inputType="single", categ="Playback",
            updates="constant", allowedUpdates=["constant", "set every repeat"],
            hint=_translate(
                "Start again from the first frame after the last one: True or False, or a variable "
                "(e.g. loop, a column of the conditions file, with 'set every repeat')."
            ),
            label=_translate("Loop playback"),
        )  # fmt: skip
        self.params["reverse"] = Param(
            reverse, valType="code", inputType="single", categ="Playback",
            updates="constant", allowedUpdates=["constant", "set every repeat"],
            hint=_translate(
                "Play the clip backwards, from its last frame to its first: True or False, or a variable "
                "(e.g. backwards, a column of the conditions file, with 'set every repeat')."
            ),
            label=_translate("Play backwards"),
        )  # fmt: skip
        self.params["catchUp"] = Param(
            catchUp, valType="bool", inputType="bool", categ="Playback",
            updates="constant", allowedUpdates=[],
            hint=_translate(
                "After dropped frames, skip content to stay in time. Off: every frame is shown and the clip "
                "runs late by the dropped refreshes (both are logged)."
            ),
            label=_translate("Catch up after dropped frames"),
        )  # fmt: skip
        self.params["saveFlipLog"] = Param(
            saveFlipLog, valType="bool", inputType="bool", categ="Data",
            updates="constant", allowedUpdates=[], direct=False,
            hint=_translate(
                "Save one row per flip (frame drawn, flip time, dropped refreshes) to "
                "<data file>_<name>_flips.csv; the data file gets the counts either way."
            ),
            label=_translate("Save flip log"),
        )  # fmt: skip
        self.params["interpolate"] = Param(
            interpolate, valType="str", inputType="choice", allowedVals=["linear", "nearest"], categ="Texture",
            updates="constant", allowedUpdates=[], direct=False,
            hint=_translate("How should the frames be interpolated if shown at another size than their pixels?"),
            label=_translate("Interpolate"),
        )  # fmt: skip
        self.params["flipHoriz"] = Param(
            flipHoriz, valType="bool", inputType="bool", categ="Layout",
            updates="constant", allowedUpdates=[],
            hint=_translate("Should the frames be flipped horizontally (left to right)?"),
            label=_translate("Flip horizontally"),
        )  # fmt: skip
        self.params["flipVert"] = Param(
            flipVert, valType="bool", inputType="bool", categ="Layout",
            updates="constant", allowedUpdates=[],
            hint=_translate("Should the frames be flipped vertically (top to bottom)?"),
            label=_translate("Flip vertically"),
        )  # fmt: skip
        self.params["anchor"] = Param(
            anchor, valType="str", inputType="choice", categ="Layout",
            allowedVals=["center", "top-center", "bottom-center", "center-left", "center-right",
                         "top-left", "top-right", "bottom-left", "bottom-right"],
            updates="constant",
            hint=_translate("Which point on the stimulus should be anchored to its exact position?"),
            label=_translate("Anchor"),
        )  # fmt: skip
        self.params["size"].hint = _translate("Size of the stimulus [w,h] in its units; blank: the frames' own size in pixels.")
        # a clip has no fill or border
        del self.params["fillColor"]
        del self.params["borderColor"]

    def integrityCheck(self):
        """PsychoPy's checks, and alert 4315 for every parameter whose ``$`` cannot work.

        Builder's Runner runs the experiment's integrity check when the
        experiment is sent to it and lists the alerts in its *Alerts* panel;
        :func:`~stst_psychopy.components.compile_experiment` runs it too.
        """
        super().integrityCheck()
        for param in self.params.values():
            if _misplacedDollar(param):
                alert(_INVALID_DOLLAR, self, strFields={"component": self, "param": param})

    def writeInitCode(self, buff):
        for name in ("loop", "reverse"):  # earlier versions saved them as checkboxes (valType bool)
            self.params[name].valType = "code"
        inits = {name: _asCode(param) for name, param in getInitVals(self.params, "PsychoPy").items()}
        inits["depth"] = -self.getPosInRoutine()
        inits["interp"] = self.params["interpolate"].val == "linear"
        if str(self.params["refreshRate"].val).strip() in ("", "None"):
            # the experiment's rate: measured at start-up, or the one typed into its Screen settings
            # (which leaves the window's own guess, 60 Hz, unchanged)
            inits["refreshRate"] = "expInfo.get('frameRate')"
        code = (
            "%(name)s = DynamicStim(\n"
            "    win=win, name='%(name)s',\n"
            "    stimulus=%(stimulus)s, fps=%(fps)s, refreshRate=%(refreshRate)s,\n"
            "    timingPolicy=%(timingPolicy)s, loop=%(loop)s, reverse=%(reverse)s, catchUp=%(catchUp)s,\n"
            "    units=%(units)s, pos=%(pos)s, size=%(size)s, anchor=%(anchor)s, ori=%(ori)s,\n"
            "    color=%(color)s, colorSpace=%(colorSpace)s, opacity=%(opacity)s, contrast=%(contrast)s,\n"
            "    flipHoriz=%(flipHoriz)s, flipVert=%(flipVert)s, interpolate=%(interp)s,\n"
            "    depth=%(depth).1f)\n"
        )
        buff.writeIndentedLines(code % inits)

    def writeParamUpdate(self, buff, compName, paramName, val, updateType, params=None, target="PsychoPy"):
        """PsychoPy's update line (``clip.setReverse(backwards)``), with a leading ``$`` read as code in any field."""
        if isinstance(val, Param):
            val = _asCode(val)
        super().writeParamUpdate(buff, compName, paramName, val, updateType, params=params, target=target)

    def writeRoutineStartCode(self, buff):
        super().writeRoutineStartCode(buff)  # the 'set every repeat' updates: clip.setStimulus(...) loads the clip
        if self.params["stimulus"].updates == "set every repeat":
            # Builder counts a Routine's time from the end of the previous one, so loading would use
            # up Routine time: shorten what comes before the clip and, in a Routine of fixed duration
            # shorter than the load, leave PsychoPy's frame loop without a single frame (the Routine is
            # skipped, or the script stops with an UnboundLocalError).
            buff.writeIndentedLines(f"routineTimer.addTime(-{self.params['name']}.loadDuration)  # loading takes no Routine time\n")

    def writeFrameCode(self, buff):
        params = self.params
        buff.writeIndented("\n")
        buff.writeIndented(f"# *{params['name']}* updates\n")
        indented = self.writeStartTestCode(buff)
        if indented:
            buff.writeIndentedLines(f"{params['name']}.setAutoDraw(True)\n{params['name']}.play()  # from the first frame; it shows on this flip\n")
            buff.setIndentLevel(-indented, relative=True)
        indented = self.writeActiveTestCode(buff)
        if indented:
            buff.setIndentLevel(-indented, relative=True)
        indented = self.writeStopTestCode(buff, extra=f" or {params['name']}.isFinished")
        if indented:
            buff.writeIndented(f"{params['name']}.setAutoDraw(False)\n")
            buff.setIndentLevel(-indented, relative=True)
        if params["forceEndRoutine"].val:
            buff.writeIndentedLines(f"if {params['name']}.status == FINISHED:  # the clip has ended: end the Routine\n    continueRoutine = False\n")

    def writeRoutineEndCode(self, buff):
        name = self.params["name"]
        code = (
            f"# *{name}*: what was shown, one entry per presentation (and per flip in the flip log)\n"
            f"if {name}.status != NOT_STARTED and {name}.log is not None:\n"
            f"    thisExp.addData('{name}.presentation', {name}.log.info['presentation'])\n"
            f"    thisExp.addData('{name}.source', {name}.source)\n"
            f"    thisExp.addData('{name}.effectiveFps', {name}.effectiveFps)\n"
        )
        if self.params["stimulus"].updates != "constant":  # loaded during the experiment: how long it took
            code += f"    thisExp.addData('{name}.loadDuration', {name}.loadDuration)\n"
        code += f"    for _key, _value in {name}.log.summary().items():\n        thisExp.addData('{name}.' + _key, _value)\n"
        if self.params["saveFlipLog"].val:
            code += f"    {name}.log.to_csv(thisExp.dataFileName + '_{name}_flips.csv', append=True)\n"
        code += f"{name}.setAutoDraw(False)\n{name}.stop()\n"
        buff.writeIndentedLines(code)
        super().writeRoutineEndCode(buff)
