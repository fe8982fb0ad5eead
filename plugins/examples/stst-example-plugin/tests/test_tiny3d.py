"""Tests of the example plugin, run with `pytest` in this folder (installed or not)."""

import example_stst_plugin
import pytest
import torch

from stst_core import BackboneError, create_backbone, create_loss, list_backbones, list_losses
from stst_core.testing import check_backbone


@pytest.fixture(autouse=True)
def plugin(stst_plugin):
    # registers this checkout's module for the test, unless it is already loaded
    # through its entry point (pip install); either way it is the code under test
    return stst_plugin(example_stst_plugin, name="example")


def test_registered():
    assert "example-tiny3d" in list_backbones()
    assert "example-moments" in list_losses()


def test_layers_and_shapes():
    net = create_backbone("example-tiny3d")
    shapes = net.output_shapes((1, 3, 4, 32, 32), "all")
    assert shapes == {"conv1": (1, 8, 3, 32, 32), "conv2": (1, 16, 3, 16, 16), "pool": (1, 16)}
    assert [spec.axes for spec in net.layers.values()] == ["CTHW", "CTHW", "C"]


def test_the_backbone_contract():
    # the toolkit's conformance suite: frozen, eval mode, seeded determinism, declared axes, gradients
    check_backbone("example-tiny3d")
    check_backbone("example-tiny3d", width=4)


def test_other_seeds_give_other_weights():
    clip = torch.rand(1, 3, 3, 16, 16)
    assert not torch.equal(create_backbone("example-tiny3d", seed=1)(clip)["conv2"], create_backbone("example-tiny3d", seed=2)(clip)["conv2"])


def test_state_dict_round_trip(tmp_path):
    net = create_backbone("example-tiny3d", width=4, seed=5)
    torch.save(net.state_dict(), tmp_path / "tiny3d.pt")
    loaded = create_backbone("example-tiny3d", weights=str(tmp_path / "tiny3d.pt"), width=4)
    clip = torch.rand(1, 3, 2, 16, 16)
    torch.testing.assert_close(loaded(clip, "all")["pool"], net(clip, "all")["pool"], rtol=0, atol=0)
    assert loaded.card.weights == f"file:{tmp_path / 'tiny3d.pt'}"


def test_bad_options_and_inputs():
    with pytest.raises(BackboneError, match="width must be an integer ≥ 1, got 0"):
        create_backbone("example-tiny3d", width=0)
    with pytest.raises(BackboneError, match="unknown weights 'imagenet'"):
        create_backbone("example-tiny3d", weights="imagenet")
    with pytest.raises(BackboneError, match="looks at 2 consecutive frames"):
        create_backbone("example-tiny3d")(torch.rand(1, 3, 1, 16, 16))


def test_moments_loss():
    loss = create_loss("example-moments")
    x = torch.rand(2, 8, 3, 10, 10)
    assert loss(x, x) == 0
    torch.testing.assert_close(loss(x + 0.5, x), torch.tensor(0.25))
    assert loss(2 * x, x) > 0
