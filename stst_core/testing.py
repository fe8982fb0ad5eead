"""Helpers for testing plugins, for this project and for plugin authors.

Context managers, usable anywhere:

:func:`registered_plugin`
    registers a plugin module or object for the duration of a ``with`` block.
:func:`temporary_plugins`
    the same for any number of plugins, leaving alone those already loaded
    through their entry points.
:func:`serve_folder`
    serves a folder over HTTP on 127.0.0.1, answering ``resolve`` URLs the way
    the Hugging Face hub does, so that a plugin's download code can be tested
    without the internet.

Pytest fixtures, built on them (enable them with ``pytest_plugins =
["stst_core.testing"]`` in your top-level ``conftest.py``):

``stst_plugin``
    a function that registers plugins for one test; they are removed
    afterwards (:func:`temporary_plugins`).
``stst_weights_cache``
    an empty weights cache folder for one test (``STST_CACHE_DIR``), downloads allowed.
``stst_file_server``
    a :class:`FileServer` serving an empty temporary folder.

Examples
--------
::

    import my_plugin
    from stst_core import create_backbone

    pytest_plugins = ["stst_core.testing"]   # in conftest.py

    def test_my_backbone(stst_plugin):
        stst_plugin(my_plugin)
        net = create_backbone("my-backbone", weights="random")
        ...
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .plugins import plugin_host, register_plugin, unregister_plugin

HUB_STORAGE_PREFIX = "/storage/"  # where the loopback hub redirects resolve URLs to


@contextmanager
def registered_plugin(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module or an object with hook implementations) inside a ``with`` block.

    Parameters
    ----------
    plugin
        A module or an object whose functions or methods carry ``@hookimpl``.
    name
        Its name in ``stst plugins list`` (default: the module's name or the class name).

    Yields
    ------
    str
        The name it was registered under.

    Examples
    --------
    >>> from stst_core import hookimpl, list_losses
    >>> class Plugin:
    ...     @hookimpl
    ...     def stst_register_losses(self, register):
    ...         register("zero", lambda s, t: (s - s).sum())
    >>> with registered_plugin(Plugin(), name="demo"):
    ...     "zero" in list_losses()
    True
    >>> "zero" in list_losses()
    False
    """
    registered = register_plugin(plugin, name)
    try:
        yield registered
    finally:
        unregister_plugin(registered)


@dataclass
class FileServer:
    """A folder served on 127.0.0.1 by :func:`serve_folder`.

    Attributes
    ----------
    folder
        The folder served: ``folder / "a/b.bin"`` is at ``url + "/a/b.bin"``.
    url
        The base URL, ``http://127.0.0.1:<port>``; use it as ``HF_ENDPOINT``
        to stand in for the Hugging Face hub.
    requests
        The path of every GET request, in order (a hub download makes two: the
        ``resolve`` URL and the storage URL it redirects to).
    published_sha256
        Digests to publish instead of the true ones, by path under ``folder``
        (``"timm/m/resolve/main/model.safetensors"``): simulates a corrupted
        download or a tampered file.
    """

    folder: Path
    url: str
    requests: list[str] = field(default_factory=list)
    published_sha256: dict[str, str] = field(default_factory=dict)


class _HubLikeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files; answers ``…/resolve/<revision>/<file>`` like the Hugging Face hub.

    The hub redirects a resolve URL of a large file to its storage server and
    puts the file's sha256 in the ``X-Linked-Etag`` header of that redirect.
    """

    server_state: FileServer

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        state = self.server_state
        state.requests.append(self.path)
        relative = self.path.split("?", 1)[0].lstrip("/")
        target = state.folder / relative
        if "/resolve/" in self.path and target.is_file():
            digest = state.published_sha256.get(relative) or hashlib.sha256(target.read_bytes()).hexdigest()
            self.send_response(302)
            self.send_header("Location", HUB_STORAGE_PREFIX + relative)
            self.send_header("X-Linked-Etag", f'"{digest}"')
            self.send_header("X-Linked-Size", str(target.stat().st_size))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith(HUB_STORAGE_PREFIX):
            self.path = "/" + self.path[len(HUB_STORAGE_PREFIX) :]
        super().do_GET()


@contextmanager
def serve_folder(folder: str | Path) -> Iterator[FileServer]:
    """Serve ``folder`` over HTTP on 127.0.0.1 inside a ``with`` block.

    A path containing ``/resolve/`` (``/timm/resnet18.a1_in1k/resolve/main/model.safetensors``)
    is answered as the Hugging Face hub answers it: a redirect to a storage
    URL, carrying the file's sha256 in ``X-Linked-Etag``. Every other path is
    served as a plain file (404 when missing).

    Parameters
    ----------
    folder
        The folder to serve.

    Yields
    ------
    FileServer
        The folder, base URL, and the requests made so far.

    Examples
    --------
    ::

        with serve_folder(tmp_path) as server:
            monkeypatch.setenv("HF_ENDPOINT", server.url)
            net = create_backbone("timm:resnet18", weights="pretrained")
    """
    state = FileServer(folder=Path(folder), url="")
    handler = type("Handler", (_HubLikeHandler,), {"server_state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def temporary_plugins() -> Iterator[Callable[..., str]]:
    """Register plugins inside a ``with`` block: it yields ``register(plugin, name=None)``, which returns the name.

    Every plugin registered through it is unregistered when the block ends,
    however it ends. A plugin that is already loaded (installed, and found
    through its entry point) is left as it is and its name returned, so a
    plugin's tests run the same whether or not it is installed.

    Examples
    --------
    ::

        with temporary_plugins() as register:
            register(my_plugin)
            net = create_backbone("my-backbone")
    """
    with ExitStack() as stack:

        def register(plugin: Any, name: str | None = None) -> str:
            host = plugin_host()
            host.load_entry_points()
            loaded = host.pm.get_name(plugin)
            return loaded if loaded is not None else stack.enter_context(registered_plugin(plugin, name))

        yield register


# -- pytest fixtures -------------------------------------------------------------------


@pytest.fixture
def stst_plugin() -> Iterator[Callable[..., str]]:
    """Register plugins for one test: call ``stst_plugin(module_or_object, name=None)``; see :func:`temporary_plugins`."""
    with temporary_plugins() as register:
        yield register


@pytest.fixture
def stst_weights_cache(tmp_path_factory, monkeypatch) -> Path:
    """An empty weights cache folder for one test, with downloads allowed."""
    folder = tmp_path_factory.mktemp("stst-cache")
    monkeypatch.setenv("STST_CACHE_DIR", str(folder))
    monkeypatch.delenv("STST_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return folder


@pytest.fixture
def stst_file_server(tmp_path_factory) -> Iterator[FileServer]:
    """A :class:`FileServer` serving an empty temporary folder; put files in ``.folder``."""
    with serve_folder(tmp_path_factory.mktemp("served")) as server:
        yield server
