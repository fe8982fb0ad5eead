from typing import Annotated, Literal

import pytest
import torch

from stst_core import BackboneError, ConfigError, Range
from stst_core._errors import RegistryError
from stst_core._registry import Registry


def loss_a(s, t):
    """Loss A: the first one."""
    return (s - t).abs().mean()


@pytest.fixture
def registry():
    reg = Registry("losses")
    reg.register("l1", loss_a, plugin="first")
    reg.register("vgg_like", loss_a, plugin="first")
    reg.register("Gram", loss_a, plugin="second")
    return reg


def test_lookup_is_case_insensitive_and_keeps_provenance(registry):
    entry = registry.get("GRAM")
    assert entry.name == "gram"
    assert entry.plugin == "second"
    assert entry.summary == "Loss A: the first one."


def test_wildcard_listing(registry):
    assert registry.names() == ["gram", "l1", "vgg_like"]
    assert registry.names("vgg*") == ["vgg_like"]
    assert registry.names("*g*") == ["gram", "vgg_like"]
    assert registry.names("nothing*") == []


def test_duplicate_name_names_both_plugins(registry):
    with pytest.raises(RegistryError, match="registered twice: by first and by third"):
        registry.register("L1", loss_a, plugin="third")


def test_unknown_name_suggests_close_matches(registry):
    with pytest.raises(RegistryError, match=r"unknown loss 'gramm'.*Did you mean 'gram'"):
        registry.get("gramm")


@pytest.mark.parametrize("name, factory", [("", loss_a), ("ok", 42)])
def test_bad_registrations_are_rejected(registry, name, factory):
    with pytest.raises(RegistryError):
        registry.register(name, factory)


def test_remove_plugin(registry):
    registry.remove_plugin("first")
    assert registry.names() == ["gram"]


def test_families_answer_every_name_with_their_prefix():
    reg = Registry("backbones")
    reg.register("timm:*", loss_a, plugin="zoo")
    entry = reg.get("timm:resnet50")
    assert entry.is_family and entry.variant == "resnet50" and entry.plugin == "zoo"
    assert reg.get("TIMM:vit_small_patch16_224").variant == "vit_small_patch16_224"
    assert reg.names("timm*") == ["timm:*"]
    with pytest.raises(RegistryError, match="name a member of the timm: family"):
        reg.get("timm:")
    with pytest.raises(RegistryError, match="unknown backbone 'torch:resnet'"):
        reg.get("torch:resnet")


# -- Registry.create: one validator for the options of every kind -----------------------------


class Factory:
    """A factory with one option of each kind the validator checks."""

    def __init__(
        self,
        weights: str | None = None,
        *,
        levels: Annotated[int, Range(ge=1, le=8)] = 4,
        sigma: Annotated[float, Range(gt=0)] = 1.0,
        shared: bool = True,
        mode: Literal["max", "avg"] = "max",
        layers: list[str] | None = None,
    ):
        self.options = dict(weights=weights, levels=levels, sigma=sigma, shared=shared, mode=mode, layers=layers)


KIND_ERRORS = {"backbones": BackboneError, "losses": ConfigError, "metrics": ConfigError, "synthesizers": ConfigError}


@pytest.fixture(params=sorted(KIND_ERRORS))
def kind(request):
    return request.param


def made(kind, **options):
    reg = Registry(kind)
    reg.register("thing", Factory, plugin="maker")
    return reg.create("thing", **options)


def test_create_converts_as_a_config_does(kind):
    thing = made(kind, levels="3", sigma="0.5", shared="false", mode="avg", layers="a, b")
    assert thing.options == dict(weights=None, levels=3, sigma=0.5, shared=False, mode="avg", layers=["a", "b"])
    assert made(kind, levels=8, sigma=2).options["sigma"] == 2.0 and isinstance(made(kind, sigma=2).options["sigma"], float)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"levels": 0}, r"thing': levels must be an integer from 1 to 8, got 0$"),
        ({"levels": "9"}, r"levels must be an integer from 1 to 8, got 9$"),
        ({"levels": 2.5}, r"levels must be an integer from 1 to 8, got 2.5$"),
        ({"levels": True}, r"levels must be an integer from 1 to 8, got True$"),
        ({"sigma": 0}, r"sigma must be a number > 0, got 0.0$"),
        ({"sigma": "wide"}, r"sigma must be a number > 0, got 'wide'$"),
        ({"shared": "maybe"}, r"shared must be true or false, got 'maybe'$"),
        ({"mode": "min"}, r"mode must be one of 'max', 'avg'; got 'min'$"),
        ({"layers": 3}, r"layers must be a list or None, got 3$"),
    ],
)
def test_a_bad_value_names_the_key_and_what_it_must_be(kind, options, message):
    with pytest.raises(KIND_ERRORS[kind], match=message):
        made(kind, **options)


def test_an_unknown_key_names_the_accepted_ones(kind):
    with pytest.raises(
        KIND_ERRORS[kind],
        match=r"'thing' \(plugin 'maker'\) has no option\(s\) 'level'; its options: .*levels, sigma, shared, mode, layers.*Did you mean 'levels'\?",
    ):
        made(kind, level=2)


def test_a_missing_key_is_named():
    def needs(targets, *, seed: int = 0):
        return targets, seed

    reg = Registry("synthesizers")
    reg.register("method", needs)
    assert reg.create("method", targets="t", seed="2") == ("t", 2)
    with pytest.raises(ConfigError, match="synthesizer 'method' needs the option\\(s\\) 'targets'"):
        reg.create("method", seed=1)


def test_plain_functions_are_losses_and_metrics_themselves():
    for kind in ("losses", "metrics"):
        reg = Registry(kind)
        reg.register("l1", loss_a)
        assert reg.create("l1") is loss_a
        with pytest.raises(ConfigError, match="takes no options, got scale"):
            reg.create("l1", scale=2)

    def net(weights=None, width: int = 2):
        return "net", weights, width

    reg = Registry("backbones")  # a backbone's factory is always called
    reg.register("net", net)
    assert reg.create("net", width="4") == ("net", None, 4)


def test_types_the_validator_does_not_know_pass_unchecked():
    reg = Registry("metrics")

    class OnDevice:
        def __init__(self, device: torch.device = torch.device("cpu"), n: int = 1):
            self.device, self.n = device, n

    reg.register("on-device", OnDevice)
    assert reg.create("on-device", device="cpu", n="2").device == "cpu"


def test_families_receive_their_variant_and_hide_it():
    def zoo(weights=None, *, variant: str, depth: int = 1):
        return variant, depth

    reg = Registry("backbones")
    reg.register("zoo:*", zoo, plugin="zoo")
    assert reg.create("zoo:resnet", depth="3") == ("resnet", 3)
    with pytest.raises(BackboneError, match=r"'zoo:resnet' \(plugin 'zoo'\) has no option\(s\) 'width'; its options: depth \(`stst backbones info zoo:resnet`"):
        reg.create("zoo:resnet", width=2)
    assert reg.options("zoo:resnet") == {"depth": "an integer, default 1"}


def test_options_are_described_in_words():
    reg = Registry("metrics")
    reg.register("thing", Factory)
    assert reg.options("thing") == {
        "weights": "a string or None, default None",
        "levels": "an integer from 1 to 8, default 4",
        "sigma": "a number > 0, default 1.0",
        "shared": "true or false, default True",
        "mode": "one of 'max', 'avg', default 'max'",
        "layers": "a list or None, default None",
    }
