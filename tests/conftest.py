"""Shared fixtures (the reference data folder, an isolated weights cache) and the markers they imply."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


# A test is `slow` when it (or a fixture it uses) starts a process, runs the CLI, or
# runs a synthesizer once per injected kill; `./dev test -m "not slow"` leaves those out.
SLOW_SIGNS = ("subprocess.", "CliRunner", "check_synthesizer(", "check_resume_after_every_write(", "xvfb")
DATA_FIXTURES = {"shared_data_dir", "msoe_weights"}


def _sources(item) -> str:
    functions = [item.function]
    for name in getattr(item, "fixturenames", ()):
        for definition in item._fixtureinfo.name2fixturedefs.get(name, ()):
            functions.append(definition.func)
    texts = []
    for function in functions:
        try:
            texts.append(inspect.getsource(function))
        except (OSError, TypeError):
            pass
    return "\n".join(texts)


def pytest_collection_modifyitems(config, items):
    """Mark what needs the reference data (`shared_data`) and what is slow, from what each test uses."""
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared_data)
        if any(sign in _sources(item) for sign in SLOW_SIGNS):
            item.add_marker(pytest.mark.slow)


def _data_dir() -> Path:
    return Path(os.environ.get("STST_TEST_DATA", REPO_ROOT.parent / "shared" / "data")).expanduser()


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The reference data folder (STST_TEST_DATA, default ../shared/data).

    Skipped when absent (a user's fresh clone), but a failure when
    STST_REQUIRE_TEST_DATA is set, as it is in CI.
    """
    path = _data_dir()
    if not path.is_dir():
        reason = f"reference data folder {path} not found (set STST_TEST_DATA)"
        if os.environ.get("STST_REQUIRE_TEST_DATA"):
            pytest.fail(reason + "; STST_REQUIRE_TEST_DATA is set, so this is an error")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def msoe_weights(shared_data_dir) -> Path:
    path = shared_data_dir / "msoe" / "weights.npz"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the reference data folder")
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty weights cache and no network for downloads."""
    monkeypatch.setenv("STST_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("STST_OFFLINE", raising=False)


@pytest.fixture
def file_server(tmp_path):
    """Serve a folder over HTTP on 127.0.0.1; yields (folder, base_url). Counts requests."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "served"
    folder.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def nets():
    """``nets(name)``: the backbone with random weights (seed 0), built once per test module on first use."""
    from stst_core import create_backbone

    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = create_backbone(name, weights="random")
        return cache[name]

    return get


@pytest.fixture
def served_mc3_18(file_server, monkeypatch):
    """mc3_18's ``kinetics400`` weights pointed at a loopback server that holds a fresh model's state dict under a hash-prefixed name.

    Yields ``(model, path, prefix, requests)``: the model whose weights are
    served, the served file, the prefix of its SHA-256 and the paths requested.
    """
    import hashlib

    import torch
    import torchvision

    import stst_core
    import stst_videomodels

    folder, base, requests = file_server
    model = torchvision.models.get_model("mc3_18")
    torch.save(model.state_dict(), folder / "weights.pth")
    prefix = hashlib.sha256((folder / "weights.pth").read_bytes()).hexdigest()[:8]
    path = (folder / "weights.pth").rename(folder / f"mc3_18-{prefix}.pth")
    real = stst_videomodels.MC318.weights_choices[0]
    served = stst_core.WeightsFile(real.file.name, path.name, (f"{base}/{path.name}",), prefix)
    monkeypatch.setattr(stst_videomodels.MC318, "weights_choices", (stst_core.WeightsChoice("kinetics400", real.description, file=served),))
    yield model, path, prefix, requests
