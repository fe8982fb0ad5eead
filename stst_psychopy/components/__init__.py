"""Builder components of the PsychoPy integration (one folder per component, with its icons).

:func:`compile_experiment` compiles a ``.psyexp`` file that uses them: PsychoPy's
own command-line compiler (``python -m psychopy.scripts.psyexpCompile``) does
not activate plugins and would replace the components with a comment (alert
7105); Builder's compile button does activate them.

It registers the components with Builder directly rather than by loading the
plugin: loading it also imports the runtime stimulus, and with it
``psychopy.visual``, which needs a display, whereas compiling does not.

Before writing the script it runs the experiment's integrity check, as
Builder's Runner does, and logs each alert as a PsychoPy warning (a
misplaced ``$``, for example, is alert 4315).
"""

from __future__ import annotations

import ast
import contextlib
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import ExperimentError
from .dynamicstim import DynamicStimComponent

__all__ = ["DynamicStimComponent", "compile_experiment"]

DISTRIBUTION = "stst-toolkit"  # the name PsychoPy knows the plugin by


def compile_experiment(psyexp, outfile=None) -> Path:
    """Compile a Builder experiment into the Python script that runs it.

    Other installed PsychoPy plugins are activated too, so that their
    components compile as well. This toolkit's components need no display.
    The alerts of the experiment's integrity check (those Builder's Runner
    lists) are logged as warnings; the script is written all the same.

    Parameters
    ----------
    psyexp : str or Path
        The ``.psyexp`` file.
    outfile : str or Path, optional
        The script to write; by default beside ``psyexp``, with ``.py``.

    Returns
    -------
    Path
        The script written.

    Raises
    ------
    ExperimentError
        The file is missing, or PsychoPy cannot load it (e.g. a checkbox
        parameter holding a ``$variable``).
    """
    from psychopy import experiment, plugins
    from psychopy.experiment.components import addComponent

    addComponent(DynamicStimComponent)
    plugins.scanPlugins()
    for plugin in plugins.listPlugins("all"):
        if plugin != DISTRIBUTION:
            plugins.loadPlugin(plugin)
    psyexp = Path(psyexp)
    if not psyexp.is_file():
        raise ExperimentError(f"{psyexp}: no such experiment file")
    exp = experiment.Experiment()
    try:
        exp.loadFromXML(str(psyexp))
    except SyntaxError as exc:  # PsychoPy evaluates checkbox values as Python while loading
        raise ExperimentError(_unloadable(psyexp, exc)) from exc
    with _alerts_logged():
        exp.integrityCheck()
    outfile = Path(outfile) if outfile is not None else psyexp.with_suffix(".py")
    # the file name, not its full path: the script then names no folder of the machine it was compiled on
    outfile.write_text(exp.writeScript(expPath=psyexp.name, target="PsychoPy"), encoding="utf-8")
    return outfile


class _AlertLogger:
    """An alert handler (PsychoPy's ``receiveAlert`` protocol) that logs each alert as a warning."""

    def receiveAlert(self, alert):
        from psychopy import logging

        logging.warning(str(alert).replace("\n", " "))


@contextlib.contextmanager
def _alerts_logged():
    from psychopy.alerts import addAlertHandler, removeAlertHandler

    handler = _AlertLogger()
    addAlertHandler(handler)
    try:
        yield
    finally:
        removeAlertHandler(handler)


def _unloadable(psyexp: Path, exc: SyntaxError) -> str:
    """Which checkbox parameters of ``psyexp`` PsychoPy cannot read, as an error message."""
    from psychopy import experiment
    from psychopy.experiment.components import getAllComponents

    components, exp, bad = getAllComponents(), experiment.Experiment(), []
    for node in ET.parse(psyexp).getroot().iter():
        if node.tag not in components:
            continue
        defaults = components[node.tag](exp, "routine").params
        for param in node.findall("Param"):
            name, value = param.get("name"), param.get("val", "")
            if name in defaults and defaults[name].valType == "bool" and not _parses(value):
                bad.append(f"{node.get('name')}: {defaults[name].label or name} = {value!r}")
    if not bad:
        return f"{psyexp}: PsychoPy cannot load this experiment ({exc.msg}: {exc.text!r})"
    return (
        f"{psyexp}: PsychoPy cannot load these checkbox parameters ({'; '.join(bad)}): a checkbox takes True or False, "
        "not code; set it in Builder, or take the setting from a field that takes code"
    )


def _parses(value: str) -> bool:
    try:
        ast.parse(value, mode="eval")
    except SyntaxError:
        return False
    return True
