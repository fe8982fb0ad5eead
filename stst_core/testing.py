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
from collections.abc import Callable, Iterator, Sequence
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


# -- fault injection -------------------------------------------------------------------


class SimulatedKill(BaseException):
    """What :func:`kill_after_writes` raises: like SIGKILL, no handler marks the store failed or interrupted."""


@contextmanager
def recorded_writes() -> Iterator[list[str]]:
    """Inside the block, the name of every write any stimulus store makes is appended to the yielded list."""
    from .store import StimulusStore

    names: list[str] = []
    original = StimulusStore._write

    def recording(self, what, action):
        original(self, what, action)
        names.append(what)

    StimulusStore._write = recording
    try:
        yield names
    finally:
        StimulusStore._write = original


@contextmanager
def kill_after_writes(count: int) -> Iterator[None]:
    """The ``count``-th store write inside the block completes, then the process "dies" (:class:`SimulatedKill`)."""
    from .store import StimulusStore

    original = StimulusStore._write
    done = {"n": 0}

    def dying(self, what, action):
        original(self, what, action)
        done["n"] += 1
        if done["n"] == count:
            raise SimulatedKill(f"killed after write {count} ({what})")

    StimulusStore._write = dying
    try:
        yield
    finally:
        StimulusStore._write = original


def store_contents(path: str | Path) -> dict[str, Any]:
    """Every array of a store (the video, histories, evaluations), loaded: what two equal runs must share."""
    import xarray as xr

    with xr.open_zarr(str(path)) as dataset:
        return {name: dataset[name].values for name in dataset.data_vars}


def assert_same_run(path: str | Path, reference: str | Path) -> None:
    """Two stores hold bit-identical arrays (NaN where both have NaN)."""
    import numpy as np

    got, want = store_contents(path), store_contents(reference)
    assert sorted(got) == sorted(want), f"{path} has arrays {sorted(got)}, {reference} has {sorted(want)}"
    for name in want:
        assert got[name].shape == want[name].shape and np.array_equal(got[name], want[name], equal_nan=True), (
            f"{name} of the resumed run differs from the uninterrupted run (largest difference {np.nanmax(np.abs(got[name] - want[name]))})"
        )


def check_resume_after_every_write(make_synthesizer: Callable[[], Any], folder: str | Path, *, kills: Sequence[int] | None = None) -> list[str]:
    """A kill after each write of a run, then a resume, ends bit-identical to an uninterrupted run.

    ``make_synthesizer()`` builds a fresh synthesizer (same targets, config,
    seed and device each time). The uninterrupted run lists the writes; then,
    for each write ``k`` (or the ``kills`` given), a run is killed just after
    write ``k`` and resumed in a new synthesizer, and every array of its store
    is compared with the uninterrupted run's. Returns the names of the writes.
    """
    from .store import StimulusStore

    folder = Path(folder)
    reference = folder / "uninterrupted.zarr"
    with recorded_writes() as writes:
        make_synthesizer().synthesize(reference, progress=False)
    for k in kills if kills is not None else range(1, len(writes) + 1):
        out = folder / f"killed-after-{k}.zarr"
        with kill_after_writes(k), pytest.raises(SimulatedKill):
            make_synthesizer().synthesize(out, progress=False)
        assert not StimulusStore(out).complete or k == len(writes), f"killed after write {k} ({writes[k - 1]}), the store already says complete"
        make_synthesizer().synthesize(out, progress=False)
        assert StimulusStore(out).complete
        try:
            assert_same_run(out, reference)
        except AssertionError as exc:
            raise AssertionError(f"killed after write {k} of {len(writes)} ({writes[k - 1]}), then resumed: {exc}") from None
    return writes


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
