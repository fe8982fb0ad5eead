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

from ._plugins import plugin_host, register_plugin, unregister_plugin

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
    from ._store import StimulusStore

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
    from ._store import StimulusStore

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


def commit_spans(writes: Sequence[str]) -> list[range]:
    """Positions (1-based) of the writes of each commit in a run's list of writes, then of what follows the last one.

    A commit ends with the removal of the previous checkpoint; what follows the
    last commit is the finished run's own writes (its video or evaluation, and
    the status).
    """
    spans, start = [], 1
    for position, name in enumerate(writes, start=1):
        if name == "remove old checkpoint":
            spans.append(range(start, position + 1))
            start = position + 1
    spans.append(range(start, len(writes) + 1))
    return spans


def check_resume_after_every_write(make_synthesizer: Callable[[], Any], folder: str | Path, *, kills: Sequence[int] | None = None) -> list[str]:
    """A kill after each write of a commit, then a resume, ends bit-identical to an uninterrupted run.

    ``make_synthesizer()`` builds a fresh synthesizer (same targets, config,
    seed and device each time). The uninterrupted run lists the writes; then,
    for each write ``k`` of its second commit (the first, when there is one)
    and each write after its last commit (or for the positions ``kills``
    given), a run is killed just after write ``k`` and resumed by a new
    synthesizer, and every array of its store is compared with the
    uninterrupted run's. Returns the names of the writes.
    """
    from ._store import StimulusStore

    folder = Path(folder)
    reference = folder / "uninterrupted.zarr"
    with recorded_writes() as writes:
        make_synthesizer().synthesize(reference, progress=False)
    if kills is None:
        spans = commit_spans(writes)
        commits, finish = spans[:-1], spans[-1]
        kills = [*(commits[1] if len(commits) > 1 else commits[0] if commits else []), *finish]
    for k in kills:
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


# -- conformance suites: what every backbone, metric and synthesizer must do -------------


def small_clip(net, *, batch: int = 1, seed: int = 0):
    """The smallest clip a backbone takes comfortably: one frame more than its window, at least 16 px."""
    import torch

    size = max(int(getattr(net, "min_size", 1) or 1), 16)
    frames = max(int(getattr(net, "min_frames", 1) or 1), net.temporal_window + 1)
    return torch.rand(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


def check_backbone(name: str, *, weights: str | None = "random", clip=None, layers: Sequence[str] | None = None, round_trip: bool = True, **options) -> None:
    """The backbone contract, checked on ``create_backbone(name, weights=weights, **options)``.

    Frozen (no trainable parameter) and in eval mode even after ``.train()``;
    two constructions with one seed give bit-identical outputs, as do two
    calls; every layer has the declared number of axes and channels, a batch
    axis of the input's size and finite values; a sample's output does not
    depend on the rest of its batch (eval mode for real); a gradient reaches
    the input (from the first, the last and four layers between); the card
    names its weights and input normalisation; and (``round_trip``, for a
    backbone that :attr:`~stst_core.Backbone.accepts_weight_files`) its state
    dict, saved with ``torch.save``, builds under another seed a backbone with
    the same outputs. Pass ``round_trip=False`` for a backbone whose files are
    not bare state dicts (a trained model with its architecture card).
    Raises ``AssertionError`` naming the
    backbone and what broke. ``clip`` (``(B, 3, T, H, W)``, B ≥ 2) and
    ``layers`` (default: all) make the check affordable for networks that
    take only large clips.
    """
    import tempfile

    import torch

    from . import create_backbone

    make = lambda: create_backbone(name, weights=weights, seed=3, **options)  # noqa: E731
    net, twin = make(), make()
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert not trainable, f"{name}: trainable parameters {trainable[:5]}; a backbone must be frozen (requires_grad=False)"
    net.train()
    training = [n or "(the backbone)" for n, m in net.named_modules() if m.training]
    assert not training, f"{name}: in training mode after .train(): {training[:5]}; a backbone stays in eval mode"
    assert net.card.weights, f"{name}: its card names no weights (BackboneCard.weights); pass weights= to Backbone.__init__"
    assert net.card.input_normalization, f"{name}: its card does not say how the input is normalised (BackboneCard.input_normalization)"
    clip = small_clip(net, batch=2) if clip is None else clip
    layers = list(layers or net.layers)
    out, again, other = net(clip, layers), net(clip, layers), twin(clip, layers)
    for layer in layers:
        spec = net.layers[layer]
        value = out[layer]
        assert value.dim() == len(spec.axes) + 1, f"{name}.{layer}: declared axes {spec.axes!r} but shape {tuple(value.shape)}"
        assert value.shape[0] == clip.shape[0], f"{name}.{layer}: batch of {clip.shape[0]} in, {value.shape[0]} out"
        if spec.channels is not None and "C" in spec.axes:
            axis = spec.axes.index("C") + 1
            assert value.shape[axis] == spec.channels, f"{name}.{layer}: declares {spec.channels} channels, has {value.shape[axis]}"
        assert torch.isfinite(value).all(), f"{name}.{layer}: non-finite values on a random clip"
        assert torch.equal(value, again[layer]), f"{name}.{layer}: two calls on one input differ"
        assert torch.equal(value, other[layer]), f"{name}.{layer}: two constructions with one seed differ"
    if round_trip and net.accepts_weight_files:
        del twin
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "state_dict.pt"
            torch.save(net.state_dict(), path)
            loaded = create_backbone(name, weights=str(path), seed=4, **options)
            assert loaded.card.weights == f"file:{path}", f"{name}: built from {path}, its card says weights {loaded.card.weights!r}"
            from_file = loaded(clip, layers)
        for layer in layers:
            assert torch.equal(from_file[layer], out[layer]), f"{name}.{layer}: a backbone built from its own saved state dict computes other values"
    alone = net(clip[:1], layers)
    for layer, value in out.items():
        torch.testing.assert_close(
            alone[layer], value[:1], rtol=1e-4, atol=1e-5, msg=lambda m, layer=layer: f"{name}.{layer}: a sample's output depends on its batch ({m})"
        )
    # the gradient reaches the input from the first, the last and a few layers between (one backward each)
    names = layers
    probed = sorted({names[round(i * (len(names) - 1) / 5)] for i in range(6)}, key=names.index)
    x = clip[:1].clone().requires_grad_(True)
    outputs = net(x, probed)
    for layer in probed:
        value = outputs[layer]
        grad = None
        if value.requires_grad:
            (grad,) = torch.autograd.grad(value.float().square().mean(), x, allow_unused=True, retain_graph=True)
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, f"{name}.{layer}: no gradient reaches the input"


def check_metric(name: str, *, identical: float | None = 0.0, **options) -> None:
    """The metric contract on small clips of noise, for a metric registered as ``name`` (built with ``options``).

    Checks that it gives ``identical`` (0) for a video and its copy and
    finite numbers otherwise; that it refuses videos of different frame sizes
    with a :class:`~stst_core.VideoError`; that it takes grey videos, alone
    and against an RGB target (finite numbers; ``identical`` for a grey video
    and its copy); and, for a :class:`~stst_core.Metric`, that it has a
    summary and that ``type(metric)(**metric.settings)`` gives the same
    numbers. Pass ``identical=None`` for a metric whose value for identical
    videos is not fixed, or its documented value (``novelty``: 1).
    """
    import math

    import torch

    from . import Metric, Video, VideoError, create_metric
    from ._metrics import flatten

    metric = create_metric(name, **options)
    generator = torch.Generator().manual_seed(0)
    base = torch.rand(3, 1, 32, 32, generator=generator)
    frames = torch.cat([torch.roll(base, 2 * t, dims=3) for t in range(8)], dim=1)  # drifting noise
    video = Video(frames, fps=25.0, source="drifting noise")
    other = Video(torch.rand(3, 8, 32, 32, generator=generator), fps=25.0, source="white noise")
    grey = Video(frames.mean(0, keepdim=True), fps=25.0, source="grey drifting noise")

    def values(generated: Video, target: Video) -> dict[str, float]:
        found = flatten(name, metric(generated, target))
        for key, value in found.items():
            assert math.isfinite(value), f"{key}: {value} is not finite ({generated.source} against {target.source})"
        return found

    different = values(other, video)
    values(grey, video)  # a grey stimulus of a colour target
    for same in (values(video, Video(frames.clone(), fps=25.0, source="its copy")), values(grey, Video(grey.frames.clone(), fps=25.0, source="its copy"))):
        if identical is not None:
            for key, value in same.items():
                assert math.isclose(value, identical, abs_tol=1e-6), f"{key}: {value} for identical videos, expected {identical}"
    small = Video(frames[:, :, :16, :16].contiguous(), fps=25.0, source="smaller")
    with pytest.raises(VideoError):
        metric(small, video)
    if isinstance(metric, Metric):
        assert metric.summary, f"metric {name!r}: no summary; the first line of its class docstring is what listings and metrics.json show"
        again = flatten(name, type(metric)(**metric.settings)(other, video))
        assert again == pytest.approx(different, nan_ok=True), f"metric {name!r}: rebuilt from its settings {metric.settings} it gives {again}, not {different}"


def check_synthesizer(
    cls, content, folder: str | Path, *, preset: str | None = None, overrides: Sequence[str] = (), bad_overrides: Sequence[str] = ("no_such_setting=1",)
) -> None:
    """The synthesizer contract on a short run of ``cls`` from the video ``content``.

    A kill after every write of a run, then a resume, ends bit-identical to an
    uninterrupted run (:func:`check_resume_after_every_write`); a complete
    store is left alone (no write at all); a path that is not a stimulus store
    is never touched, not even with ``overwrite=True``; each of
    ``bad_overrides`` fails with :class:`~stst_core.ConfigError` before
    anything is written. A synthesizer with :meth:`layer_terms` records a
    finite ``layer_loss`` along ``term_layer``, labelled ``term/layer``.
    """
    from . import ConfigError, STSTError

    folder = Path(folder)
    config = cls.resolve(preset, overrides=list(overrides))
    make = lambda: cls({"content": content}, config, seed=1)  # noqa: E731
    check_resume_after_every_write(make, folder / "kills")
    complete = folder / "kills" / "uninterrupted.zarr"
    with recorded_writes() as writes:
        make().synthesize(complete, progress=False)
    assert writes == [], f"{cls.name}: synthesizing into a complete store wrote {writes}"
    pairs = list(getattr(make(), "layer_terms", tuple)())
    if pairs:
        import numpy as np
        import xarray as xr

        recorded = xr.open_zarr(complete)
        assert list(recorded.term_layer.values) == [f"{term}/{layer}" for term, layer in pairs], f"{cls.name}: term_layer labels"
        assert recorded.layer_loss.dims[-1] == "term_layer" and np.isfinite(recorded.layer_loss.values).all(), f"{cls.name}: layer_loss"
    precious = folder / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(STSTError, match="not a stimulus store"):
            make().synthesize(precious, progress=False, overwrite=overwrite)
    assert sorted(p.name for p in precious.iterdir()) == ["notes.txt"] and (precious / "notes.txt").read_text() == "keep me"
    for bad in bad_overrides:
        with pytest.raises(ConfigError):
            cls({"content": content}, cls.resolve(preset, overrides=[*overrides, bad]), seed=1).synthesize(folder / "never.zarr", progress=False)
        assert not (folder / "never.zarr").exists(), f"{cls.name}: --set {bad} wrote a store before failing"


# -- the command line ------------------------------------------------------------------


def run_cli(*args: Any, input: str | None = None):
    """Run ``stst ARGS…`` in this process, with every plugin's commands, and return click's ``Result``.

    Arguments may be paths or numbers (they are turned into strings). The
    result has ``exit_code``, ``output`` (stdout and stderr together) and
    ``exception``; a command that crashed keeps its exception there instead
    of raising it, so assert on ``exit_code`` first.

    Examples
    --------
    ::

        from stst_core.testing import run_cli

        def test_my_command(stst_plugin, tmp_path):
            stst_plugin(my_plugin)
            result = run_cli("my-command", tmp_path / "in.mp4", "--frames", 4)
            assert result.exit_code == 0, result.output
    """
    from click.testing import CliRunner

    from .cli import build_cli

    return CliRunner().invoke(build_cli(), [str(a) for a in args], input=input, prog_name="stst")


def assert_cli_error(*args: Any, says: Sequence[str] = ()) -> str:
    """Run ``stst ARGS…`` and check that it fails as a user error should: one line, exit status 1, no traceback.

    ``says``: fragments the message must contain (e.g. the name of the bad
    setting). Returns the message.

    Examples
    --------
    ::

        assert_cli_error("my-command", "missing.mp4", says=["missing.mp4"])
        assert_cli_error("my-command", "in.mp4", "--device", "gpu", says=["gpu"])
    """
    result = run_cli(*args)
    shown = " ".join(map(str, args))
    lines = result.output.strip().splitlines()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        crash = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"stst {shown} crashed (a bug, not a user error; the real CLI prints this traceback):\n{result.output}{crash}")
    assert result.exit_code == 1, f"stst {shown}: exit status {result.exit_code}, not 1:\n{result.output}"
    assert "Traceback" not in result.output, f"stst {shown} printed a traceback:\n{result.output}"
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"stst {shown}: expected one line 'Error: …', got:\n{result.output}"
    for fragment in says:
        assert fragment in lines[0], f"stst {shown}: the message does not say {fragment!r}:\n{lines[0]}"
    return lines[0]
