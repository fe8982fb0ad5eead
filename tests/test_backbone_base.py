"""The Backbone base's weights and normalisation mechanism, on a tiny subclass that only declares them.

``Tiny`` declares three weights tags (a download, an initialiser built in
code, random) and a normalisation; the base resolves, downloads, loads,
normalises and fills in the card. The numbers are checked against values
computed by hand.
"""

import hashlib

import pytest
import torch
from torch import nn

from stst_core import (
    Backbone,
    BackboneCard,
    BackboneError,
    LayerSpec,
    Normalization,
    ResolvedWeights,
    WeightsChoice,
    WeightsError,
    WeightsFile,
    cache_dir,
)


def _ones():
    return {"net.weight": torch.ones(2, 3, 1, 1, 1), "net.bias": torch.zeros(2)}


def _download(url, payload=b"", sha256=None):
    return WeightsFile("tiny.trained", "tiny-trained.pt", (url,), sha256 or hashlib.sha256(payload).hexdigest(), licence="CC0-1.0")


class Tiny(Backbone):
    """A 1×1×1 convolution from 3 to 2 channels."""

    paper = "Nobody (2026). A tiny network."
    licence = "MIT"
    weights_choices = (
        WeightsChoice(
            "trained", "downloaded", "CC0-1.0", _download("http://127.0.0.1:9/tiny.pt", b"x"), hint="Ask a colleague for tiny.pt: pass weights=<its path>."
        ),
        WeightsChoice("ones", "all-one filters built in code", initializer=_ones),
        WeightsChoice("random", "PyTorch's initialisation under the seed"),
    )
    default_weights = "ones"
    normalization = Normalization((0.5, 0.25, 0.125), (0.5, 0.5, 0.25), name="Tiny")

    def __init__(self, weights=None, *, gain: float = 1.0):
        super().__init__(BackboneCard(name="tiny", extra={"gain": gain}), [LayerSpec("out", "CTHW", 2)], ["out"], weights=weights)
        self.net = nn.Conv3d(3, 2, 1)
        self.load_weights(module=self.net)

    def compute(self, video, layers):
        return {"out": self.net(video)}


def test_the_default_tag_and_a_tag_built_in_code():
    net = Tiny()  # default_weights: "ones", from its initializer
    assert net.resolved_weights == ResolvedWeights("ones", "all-one filters built in code", None, Tiny.weights_choices[1])
    assert net.card.weights == "ones" and net.card.source == "all-one filters built in code"
    assert torch.equal(net.net.weight, torch.ones(2, 3, 1, 1, 1)) and torch.equal(net.net.bias, torch.zeros(2))


def test_random_weights_keep_the_seeded_initialisation():
    torch.manual_seed(1)
    a = Tiny("random")
    torch.manual_seed(1)
    b = Tiny("random")
    assert a.resolved_weights.is_random and a.resolved_weights.state_dict() is None
    assert torch.equal(a.net.weight, b.net.weight) and not torch.equal(a.net.weight, torch.ones(2, 3, 1, 1, 1))


def test_the_card_is_filled_in_from_the_declarations():
    card = Tiny("random").card
    assert (card.name, card.licence, card.paper) == ("tiny", "MIT", "Nobody (2026). A tiny network.")
    assert card.input_normalization == "Tiny: mean (0.5, 0.25, 0.125), std (0.5, 0.5, 0.25) on [0,1] RGB"
    assert card.extra == {"gain": 1.0}


def test_a_file_path_loads_a_state_dict_saved_from_the_backbone(tmp_path):
    torch.manual_seed(2)
    saved = Tiny("random")
    assert set(saved.state_dict()) == {"net.weight", "net.bias"}  # the normalisation's buffers are not weights
    path = tmp_path / "tiny.pt"
    torch.save(saved.state_dict(), path)
    net = Tiny(str(path))
    assert net.card.weights == f"file:{path}" and net.card.source == str(path)
    assert net.resolved_weights.is_file and net.resolved_weights.path == path
    assert torch.equal(net.net.weight, saved.net.weight)
    # the inner module's own layout (no "net." prefix) and half precision load too, as float32
    torch.save({k: v.half() for k, v in saved.net.state_dict().items()}, tmp_path / "inner.pt")
    inner = Tiny(str(tmp_path / "inner.pt"))
    assert inner.net.weight.dtype == torch.float32
    torch.testing.assert_close(inner.net.weight, saved.net.weight.half().float(), rtol=0, atol=0)


def test_an_unknown_tag_names_the_known_ones():
    with pytest.raises(BackboneError, match=r"unknown weights 'imagenet' for Tiny; choose trained, ones, random or a path to a weights file"):
        Tiny("imagenet")


def test_a_missing_file_and_a_refused_path(tmp_path, monkeypatch):
    with pytest.raises(WeightsError, match=r"weights file not found: .*nowhere.pt; give the path of an existing file, or choose trained, ones, random"):
        Tiny(str(tmp_path / "nowhere.pt"))
    monkeypatch.setattr(Tiny, "accepts_weight_files", False)
    with pytest.raises(BackboneError, match=r"Tiny takes no weights file \(.*tiny.pt\); choose trained, ones, random$"):
        Tiny(str(tmp_path / "tiny.pt"))


def test_a_declared_tag_wins_over_a_file_of_the_same_name(tmp_path, monkeypatch):
    (tmp_path / "ones").write_bytes(b"not weights")
    monkeypatch.chdir(tmp_path)
    assert Tiny("ones").card.weights == "ones"


def test_a_file_that_does_not_fit_names_its_keys(tmp_path):
    torch.save({"net.weight": torch.ones(2, 4, 1, 1, 1), "net.extra": torch.ones(1)}, tmp_path / "bad.pt")
    with pytest.raises(WeightsError) as info:
        Tiny(str(tmp_path / "bad.pt"))
    assert str(info.value) == (
        f"{tmp_path / 'bad.pt'} does not fit tiny (missing bias; unexpected extra; mis-shaped weight: (2, 4, 1, 1, 1) instead of (2, 3, 1, 1, 1)). "
        "Expected a state dict in this backbone's layout (keys such as 'weight'), from a backbone built with the same options."
    )


def test_a_download_through_a_loopback_server_is_verified_cached_and_named_on_the_card(file_server, monkeypatch):
    folder, base, requests = file_server
    trained = {"weight": torch.full((2, 3, 1, 1, 1), 0.5), "bias": torch.ones(2)}
    torch.save(trained, folder / "tiny.pt")
    served = _download(f"{base}/tiny.pt", (folder / "tiny.pt").read_bytes())
    monkeypatch.setattr(Tiny, "weights_choices", (WeightsChoice("trained", "downloaded", "CC0-1.0", served), *Tiny.weights_choices[1:]))
    net = Tiny("trained")
    assert net.card.weights == "trained" and net.card.source == f"{base}/tiny.pt"
    assert net.resolved_weights.path == cache_dir() / "tiny-trained.pt"
    assert torch.equal(net.net.weight, trained["weight"])
    Tiny("trained")  # from the cache
    assert requests == ["/tiny.pt"]


def test_an_unavailable_download_says_where_to_put_the_file_and_what_needs_none(monkeypatch):
    monkeypatch.setenv("STST_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        Tiny("trained")
    message = str(info.value)
    assert message.startswith("weights='trained' are unavailable: tiny.trained is not in the cache and downloads are off")
    assert f"put the file at {cache_dir() / 'tiny-trained.pt'}" in message
    assert message.endswith("Ask a colleague for tiny.pt: pass weights=<its path>. For a run without any download use weights='ones' or weights='random'.")


# -- normalisation ------------------------------------------------------------------------


def test_the_declared_normalisation_against_hand_computed_values():
    net = Tiny("random")
    video = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1, 1).expand(1, 3, 2, 2, 2)
    # (0.5 − 0.5) / 0.5 = 0, (0.5 − 0.25) / 0.5 = 0.5, (0.5 − 0.125) / 0.25 = 1.5
    torch.testing.assert_close(net.normalize(video)[0, :, 0, 0, 0], torch.tensor([0.0, 0.5, 1.5]), rtol=0, atol=0)
    # forward hands compute the normalised video
    torch.testing.assert_close(net(video)["out"], net.net(net.normalize(video)))


def test_imagenet_and_caffe_against_hand_computed_values():
    pixel = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1, 1)
    imagenet = Normalization.IMAGENET(pixel).flatten()
    expected = torch.tensor([(0.2 - 0.485) / 0.229, (0.4 - 0.456) / 0.224, (0.6 - 0.406) / 0.225])
    torch.testing.assert_close(imagenet, expected)
    # Caffe: ×255, then B, G, R order, minus the BGR mean: (153 − 103.939, 102 − 116.779, 51 − 123.68)
    torch.testing.assert_close(Normalization.CAFFE(pixel).flatten(), torch.tensor([49.061, -14.779, -72.68]), rtol=0, atol=1e-4)
    assert Normalization.NONE(pixel) is pixel  # the identity costs nothing
    assert Normalization.NONE.description == "none: [0,1] RGB"


def test_a_normalisation_chosen_by_an_option_and_moved_with_the_module():
    class Chooser(Tiny):
        def __init__(self, weights=None, *, caffe: bool = False):
            Backbone.__init__(
                self,
                BackboneCard(name="chooser"),
                [LayerSpec("out", "CTHW", 2)],
                ["out"],
                weights=weights,
                normalization=Normalization.CAFFE if caffe else None,
            )
            self.net = nn.Conv3d(3, 2, 1)

    x = torch.rand(1, 3, 1, 2, 2)
    assert Chooser("random").card.input_normalization.startswith("Tiny:")
    caffe = Chooser("random", caffe=True)
    assert caffe.card.input_normalization.startswith("Caffe: ×255, RGB→BGR")
    torch.testing.assert_close(caffe.normalize(x), Normalization.CAFFE(x))
    caffe.to(torch.float64)
    assert caffe.normalization_mean.dtype == torch.float64  # buffers: they follow .to(device, dtype)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mean": (0.5, 0.5)}, "mean and std need 3 values"),
        ({"std": (1.0, 0.0, 1.0)}, "std and scale must be positive"),
        ({"channels": "GRB"}, "channels must be 'RGB' or 'BGR'"),
    ],
)
def test_a_bad_normalisation_is_refused_at_once(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Normalization(**kwargs)


def test_a_card_that_names_its_weights_itself_still_works():
    class Manual(Backbone):
        def __init__(self, weights="random"):
            super().__init__(BackboneCard("manual", weights, source="by hand", input_normalization="none: [0,1] RGB"), [LayerSpec("x")], ["x"])

        def normalize(self, video):
            return video * 2

    net = Manual()
    assert (net.card.weights, net.card.source, net.resolved_weights.tag) == ("random", "by hand", "random")
    with pytest.raises(TypeError, match="not both"):
        Backbone.__init__(Manual.__new__(Manual), BackboneCard("manual", "random"), [LayerSpec("x")], ["x"], weights="random")


def test_a_weights_tag_that_reads_as_a_path_is_refused():
    with pytest.raises(ValueError, match="would read as a path"):
        WeightsChoice("weights.pt", "a file name, not a tag")
    with pytest.raises(ValueError, match="a file or an initializer, not both"):
        WeightsChoice("both", "", file=_download("http://127.0.0.1:9/x"), initializer=_ones)


# -- the plugin guide's worked example ----------------------------------------------------


@pytest.fixture
def edgenet(tmp_path, monkeypatch):
    """The guide's EdgeNet module, as a reader would copy it, registered for the test."""
    import sys
    from pathlib import Path

    from stst_core.testing import registered_plugin

    guide = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    start = guide.index("```python\nimport math\n")
    (tmp_path / "edgenet_plugin.py").write_text(guide[start + len("```python\n") : guide.index("```\n", start + 10)])
    monkeypatch.syspath_prepend(str(tmp_path))
    import edgenet_plugin

    try:
        with registered_plugin(edgenet_plugin, name="edgenet-under-test"):
            yield edgenet_plugin
    finally:
        sys.modules.pop("edgenet_plugin", None)


def test_the_guides_worked_example_does_what_the_guide_says(edgenet, tmp_path, monkeypatch):
    from stst_core import create_backbone
    from stst_core.testing import check_backbone

    net = create_backbone("edgenet")
    assert (net.card.weights, net.card.source) == ("gabor", "eight odd Gabor filters built in code")
    assert net.card.input_normalization == "EdgeNet: mean (0.45, 0.45, 0.45), std (0.225, 0.225, 0.225) on [0,1] RGB"
    torch.testing.assert_close(net.normalize(torch.full((1, 3, 1, 1, 1), 0.675)).flatten(), torch.ones(3))
    check_backbone("edgenet", weights="gabor")
    # the MATLAB export: (H, W, in, out) filters under other names
    state = edgenet.gabor_filters()
    torch.save({"filters": state["conv.weight"].permute(2, 3, 1, 0), "biases": state["conv.bias"]}, tmp_path / "matlab-export.mat.pt")
    exported = create_backbone("edgenet", weights=str(tmp_path / "matlab-export.mat.pt"))
    assert torch.equal(exported.conv.weight, net.conv.weight)
    with pytest.raises(BackboneError, match="unknown weights 'imagenet21k' for EdgeNet; choose lab, gabor, random or a path to a weights file"):
        create_backbone("edgenet", weights="imagenet21k")
    monkeypatch.setenv("STST_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        create_backbone("edgenet", weights="lab")
    message = str(info.value)
    assert f"put the file at {cache_dir() / 'edgenet-lab-v1.safetensors'} (sha256 starting with 5d7b1f0e)" in message
    assert message.endswith("Ask us for the file: pass weights=<its path>. For a run without any download use weights='gabor' or weights='random'.")
