"""An example STST plugin: the ``example-tiny3d`` backbone and the ``example-moments`` loss.

The toolkit imports this module through the ``stst.plugins`` entry point
declared in ``pyproject.toml`` and calls the hooks below; each hook calls
``register`` once per thing it contributes.
"""

from stst_core import hookimpl

from .backbone import Tiny3D
from .losses import moments

__all__ = ["Tiny3D", "moments"]


@hookimpl
def stst_register_backbones(register):
    register("example-tiny3d", Tiny3D)


@hookimpl
def stst_register_losses(register):
    register("example-moments", moments)
