import pytest

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
