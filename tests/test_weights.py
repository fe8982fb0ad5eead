"""The weights cache: checksummed downloads from a loopback server (full digests, prefixes, the hub's
published sha256), offline mode, safe loading."""

import email.message
import hashlib

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from stst_core import WeightsError, WeightsFile, cache_dir, load_state_dict
from stst_core._weights import cached_path, fetch, is_weights_path, published_sha256
from stst_core.testing import serve_folder


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
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value)


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


# -- checksums other than a full digest: torchvision's prefixes, the hub's published sha256 ---------------


def test_a_sha256_prefix_verifies_like_torchvision(file_server):
    folder, base, _ = file_server
    payload = b"video weights" * 100
    digest = hashlib.sha256(payload).hexdigest()
    (folder / f"r3d-{digest[:8]}.pth").write_bytes(payload)
    spec = WeightsFile("toy.kinetics", f"r3d-{digest[:8]}.pth", (f"{base}/r3d-{digest[:8]}.pth",), digest[:8])
    assert spec.checksum == f"sha256 starting with {digest[:8]}"
    assert fetch(spec, progress=False).read_bytes() == payload


def test_a_wrong_sha256_prefix_is_a_mismatch(file_server):
    folder, base, _ = file_server
    (folder / "toy.bin").write_bytes(b"tampered")
    spec = WeightsFile("toy.weights", "toy.bin", (f"{base}/toy.bin",), "deadbeef")
    with pytest.raises(WeightsError, match="checksum mismatch.*expected a digest starting with deadbeef") as info:
        fetch(spec, progress=False)
    assert "(sha256 starting with deadbeef)" in str(info.value)
    assert cached_path(spec) is None


def hub_file(tmp_path, payload, path="timm/toy/resolve/main/model.safetensors"):
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_bytes(payload)
    return WeightsFile("toy.pretrained", "toy--model.safetensors", ("{hf_endpoint}/" + path,), None)


def test_hub_files_are_verified_against_the_published_sha256(tmp_path, monkeypatch):
    payload = b"hub weights" * 100
    spec = hub_file(tmp_path, payload)
    assert spec.checksum == "the sha256 the server publishes (X-Linked-Etag)"
    with serve_folder(tmp_path) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        assert fetch(spec, progress=False).read_bytes() == payload
        assert fetch(spec, progress=False) == cache_dir() / "toy--model.safetensors"  # cached: no second download
    # the hub answers the resolve URL with a redirect carrying the digest; the file comes from storage
    assert server.requests == ["/timm/toy/resolve/main/model.safetensors", "/storage/timm/toy/resolve/main/model.safetensors"]


def test_a_download_that_differs_from_the_published_sha256_is_refused(tmp_path, monkeypatch):
    spec = hub_file(tmp_path, b"the file")
    with serve_folder(tmp_path) as server:
        server.published_sha256["timm/toy/resolve/main/model.safetensors"] = hashlib.sha256(b"another file").hexdigest()
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        with pytest.raises(WeightsError, match=r"checksum mismatch.*\(published by the server\)"):
            fetch(spec, progress=False)
    assert cached_path(spec) is None and not any(cache_dir().iterdir())


def test_a_server_that_publishes_no_sha256_is_not_trusted(file_server):
    folder, base, _ = file_server
    (folder / "model.safetensors").write_bytes(b"unverifiable")
    spec = WeightsFile("toy.pretrained", "toy.safetensors", (f"{base}/model.safetensors",), None)
    with pytest.raises(WeightsError, match="published no sha256"):
        fetch(spec, progress=False)
    assert cached_path(spec) is None


def test_published_sha256_reads_the_hub_headers():
    digest = hashlib.sha256(b"x").hexdigest()
    md5 = hashlib.md5(b"x").hexdigest()

    def headers(**fields):
        message = email.message.Message()
        for key, value in fields.items():
            message[key.replace("_", "-")] = value
        return message

    assert published_sha256([headers(X_Linked_Etag=f'"{digest}"', ETag='"abc"'), headers(ETag=f'"{md5}"')]) == digest
    assert published_sha256([headers(ETag=f'W/"{digest.upper()}"')]) == digest  # the hub serving the file itself
    assert published_sha256([headers(ETag=f'"{md5}"'), headers(ETag='"1a2b3c"')]) is None  # MD5s and git ids are not digests


@pytest.mark.parametrize("bad", ["b3b3357", "B3B3357E", "not-hex!", "0" * 65])
def test_a_malformed_checksum_is_refused_at_once(bad):
    with pytest.raises(ValueError, match="sha256 must be lower-case hex"):
        WeightsFile("toy.weights", "toy.bin", ("http://127.0.0.1:9/toy.bin",), bad)


def test_offline_message_names_a_prefix_checksum(monkeypatch):
    monkeypatch.setenv("STST_OFFLINE", "1")
    spec = WeightsFile("toy.kinetics", "r3d-b3b3357e.pth", ("http://127.0.0.1:9/r3d.pth",), "b3b3357e")
    with pytest.raises(WeightsError, match=r"put the file at .*r3d-b3b3357e.pth \(sha256 starting with b3b3357e\)"):
        fetch(spec, progress=False)


def test_load_state_dict_unwraps_pyslowfast_checkpoints(tmp_path):
    state = {"model.cls_token": torch.zeros(1, 1, 4)}
    torch.save({"model_state": state, "epoch": 15, "cfg": "TRAIN: ..."}, tmp_path / "ckpt.pyth")
    assert is_weights_path("ckpt.pyth")
    assert set(load_state_dict(tmp_path / "ckpt.pyth")) == {"model.cls_token"}


# -- an md5 from the publisher (Keras' applications give only that) ----------------------------------------


def md5_file(url, md5, sha256=None):
    return WeightsFile("toy.keras", "toy.h5", (url,), sha256, md5=md5)


def test_an_md5_verifies_without_a_published_sha256(file_server):
    folder, base, requests = file_server
    payload = b"keras weights" * 100
    (folder / "toy.h5").write_bytes(payload)  # the loopback server publishes no sha256: the md5 is the check
    spec = md5_file(f"{base}/toy.h5", hashlib.md5(payload).hexdigest())
    assert spec.checksum == f"md5 {hashlib.md5(payload).hexdigest()}"
    assert fetch(spec, progress=False).read_bytes() == payload
    assert fetch(spec, progress=False) == cache_dir() / "toy.h5" and requests == ["/toy.h5"]


def test_a_wrong_md5_is_a_mismatch_naming_both_digests(file_server):
    folder, base, _ = file_server
    (folder / "toy.h5").write_bytes(b"tampered")
    expected = hashlib.md5(b"the real thing").hexdigest()
    with pytest.raises(WeightsError, match=f"checksum mismatch: got md5 {hashlib.md5(b'tampered').hexdigest()}, expected {expected}") as info:
        fetch(md5_file(f"{base}/toy.h5", expected), progress=False)
    assert f"put the file at {cache_dir() / 'toy.h5'} (md5 {expected})" in str(info.value)
    assert not any(cache_dir().iterdir())


def test_an_md5_beside_a_sha256_must_match_too(file_server):
    folder, base, _ = file_server
    payload = b"both"
    (folder / "toy.h5").write_bytes(payload)
    sha256, md5 = hashlib.sha256(payload).hexdigest(), hashlib.md5(payload).hexdigest()
    assert md5_file("x", md5, sha256[:8]).checksum == f"sha256 starting with {sha256[:8]} and md5 {md5}"
    with pytest.raises(WeightsError, match="got md5"):
        fetch(md5_file(f"{base}/toy.h5", "0" * 32, sha256), progress=False)
    with pytest.raises(WeightsError, match="got sha256"):
        fetch(md5_file(f"{base}/toy.h5", md5, "0" * 64), progress=False)
    assert fetch(md5_file(f"{base}/toy.h5", md5, sha256), progress=False).read_bytes() == payload


@pytest.mark.parametrize("bad", ["253f8cb5", "253F8CB515780F3B799900260A226DB6", "0" * 33])
def test_a_malformed_md5_is_refused_at_once(bad):
    with pytest.raises(ValueError, match="md5 must be the full digest in lower-case hex"):
        WeightsFile("toy.keras", "toy.h5", ("http://127.0.0.1:9/toy.h5",), None, md5=bad)


def test_keras_files_are_paths_that_need_their_backbone(tmp_path):
    assert is_weights_path("vgg19_notop.h5") and is_weights_path("model.hdf5")
    (tmp_path / "w.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(WeightsError, match="Keras HDF5 file.*only a backbone that knows its Keras layout reads it"):
        load_state_dict(tmp_path / "w.h5")
