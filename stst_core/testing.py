"""Helpers for testing plugins, for this project and for plugin authors.

Use :func:`registered_plugin` in a test to add a plugin for the duration of a
``with`` block, or the ``stst_plugin`` pytest fixture pattern built on it::

    from stst_core.testing import registered_plugin

    def test_my_loss():
        with registered_plugin(my_plugin_module):
            loss = stst_core.create_loss("my_loss")
            ...
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from .plugins import register_plugin, unregister_plugin


@contextmanager
def registered_plugin(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module or an object with hook implementations) inside a ``with`` block."""
    registered = register_plugin(plugin, name)
    try:
        yield registered
    finally:
        unregister_plugin(registered)
