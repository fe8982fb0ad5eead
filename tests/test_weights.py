"""The weights cache: checksummed downloads from a loopback server, offline mode, safe loading."""

import hashlib

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from stst_core import WeightsError, WeightsFile, cache_dir, load_state_dict
from stst_core.weights import cached_path, fetch, is_weights_path


def weights_file(url, payload, name="toy.weights"):
    return WeightsFile(name=name, filename="toy.bin", urls=(url,), sha256=hashlib.sha256(payload).hexdigest())


def test_download_verifies_and_caches(file_server):
    folder, base, requests = file_server
    payload = b"weights" * 1000
    (folder / "toy.bin").write_bytes(payload)
    spec = weights_file(f"{base}/toy.bin", payload)
    path = fetch(spec, progress=False)
    assert path == cache_dir() / "toy.bin"
    assert path.read_bytes() == payload
    # a second fetch is served from the cache
    assert fetch(spec, progress=False) == path
    assert requests == ["/toy.bin"]


def test_checksum_mismatch_leaves_nothing_behind(file_server):
    folder, base, _ = file_server
    (folder / "toy.bin").write_bytes(b"tampered")
    spec = weights_file(f"{base}/toy.bin", b"the real thing")
    with pytest.raises(WeightsError, match="checksum mismatch") as info:
        fetch(spec, progress=False)
    assert "put the file at" in str(info.value)
    assert cached_path(spec) is None
    assert not any(cache_dir().iterdir())


def test_second_url_is_tried_after_the_first_fails(file_server):
    folder, base, requests = file_server
    payload = b"mirror"
    (folder / "toy.bin").write_bytes(payload)
    spec = WeightsFile("toy.weights", "toy.bin", (f"{base}/missing.bin", f"{base}/toy.bin"), hashlib.sha256(payload).hexdigest())
    assert fetch(spec, progress=False).read_bytes() == payload
    assert requests == ["/missing.bin", "/toy.bin"]


def test_offline_mode_never_touches_the_network(file_server, monkeypatch):
    folder, base, requests = file_server
    (folder / "toy.bin").write_bytes(b"x")
    monkeypatch.setenv("STST_OFFLINE", "1")
    with pytest.raises(WeightsError, match="downloads are off.*put the file at"):
        fetch(weights_file(f"{base}/toy.bin", b"x"), progress=False)
    assert requests == []


def test_hub_endpoint_can_be_redirected(file_server, monkeypatch):
    folder, base, _ = file_server
    (folder / "toy.bin").write_bytes(b"hub")
    monkeypatch.setenv("HF_ENDPOINT", base)
    spec = WeightsFile("toy.weights", "toy.bin", ("{hf_endpoint}/toy.bin",), hashlib.sha256(b"hub").hexdigest())
    assert fetch(spec, progress=False).read_bytes() == b"hub"


def test_a_file_put_in_the_cache_by_hand_is_used(monkeypatch):
    spec = WeightsFile("toy.weights", "toy.bin", ("http://127.0.0.1:9/unreachable",), "0" * 64)
    cache_dir().mkdir(parents=True, exist_ok=True)
    (cache_dir() / "toy.bin").write_bytes(b"by hand")
    assert fetch(spec, progress=False).read_bytes() == b"by hand"


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".npz"])
def test_load_state_dict_formats(tmp_path, suffix):
    state = {"a.weight": torch.randn(3, 4), "b.bias": torch.arange(5.0)}
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    elif suffix == ".pt":
        torch.save({"state_dict": state, "epoch": 3}, path)  # a wrapped checkpoint
    else:
        np.savez(path, **{k: v.numpy() for k, v in state.items()})
    loaded = load_state_dict(path)
    assert set(loaded) == set(state)
    for key in state:
        torch.testing.assert_close(loaded[key], state[key])


def test_load_state_dict_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.ones(1), "payload": object()}, path)
    with pytest.raises(WeightsError, match="could not read weights"):
        load_state_dict(path)


def test_load_state_dict_errors(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_state_dict(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="junk.safetensors"):
        load_state_dict(tmp_path / "junk.safetensors")


@pytest.mark.parametrize("value, expected", [("imagenet", False), ("random", False), ("w.pth", True), ("dir/w", True)])
def test_is_weights_path(value, expected):
    assert is_weights_path(value) is expected
