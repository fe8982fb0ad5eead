"""Builder components of the PsychoPy integration (one folder per component, with its icons).

:func:`compile_experiment` compiles a ``.psyexp`` file that uses them: PsychoPy's
own command-line compiler (``python -m psychopy.scripts.psyexpCompile``) does
not activate plugins and would replace the components with a comment (alert
7105); Builder's compile button does activate them.

It registers the components with Builder directly rather than by loading the
plugin: loading it also imports the runtime stimulus, and with it
``psychopy.visual``, which needs a display, whereas compiling does not.
"""

from __future__ import annotations

from pathlib import Path

from .dynamicstim import DynamicStimComponent

__all__ = ["DynamicStimComponent", "compile_experiment"]

DISTRIBUTION = "stst-toolkit"  # the name PsychoPy knows the plugin by


def compile_experiment(psyexp, outfile=None) -> Path:
    """Compile a Builder experiment into the Python script that runs it.

    Other installed PsychoPy plugins are activated too, so that their
    components compile as well. This toolkit's components need no display.

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
    """
    from psychopy import experiment, plugins
    from psychopy.experiment.components import addComponent

    addComponent(DynamicStimComponent)
    plugins.scanPlugins()
    for plugin in plugins.listPlugins("all"):
        if plugin != DISTRIBUTION:
            plugins.loadPlugin(plugin)
    psyexp = Path(psyexp)
    exp = experiment.Experiment()
    exp.loadFromXML(str(psyexp))
    outfile = Path(outfile) if outfile is not None else psyexp.with_suffix(".py")
    # the file name, not its full path: the script then names no folder of the machine it was compiled on
    outfile.write_text(exp.writeScript(expPath=psyexp.name, target="PsychoPy"), encoding="utf-8")
    return outfile
