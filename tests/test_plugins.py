"""Plugin discovery through real entry points, failure isolation and the environment switches."""

import sys
import textwrap
import warnings

import pytest
import torch

import stst_core
from stst_core import PluginLoadWarning, get_registry, plugin_infos, reload_plugins
from stst_core._errors import RegistryError
from stst_core.testing import registered_plugin, run_cli


def install_fake_distribution(root, dist_name, plugins: dict[str, str]):
    """Write modules and a ``.dist-info`` with an ``entry_points.txt``: what pip leaves behind.

    ``plugins`` maps entry-point names to module source code; each module is
    named after its entry point.
    """
    dist_info = root / f"{dist_name}-1.2.3.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.2.3\n")
    lines = ["[stst.plugins]"] + [f"{name} = {name}_module" for name in plugins]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in plugins.items():
        (root / f"{name}_module.py").write_text(textwrap.dedent(source))


GOOD = """
    from stst_core import hookimpl

    def shout(s, t):
        "A loss from an installed plugin."
        return (s - t).abs().sum()

    @hookimpl
    def stst_register_losses(register):
        register("shout", shout)
"""
BROKEN_IMPORT = """
    import a_module_that_does_not_exist
"""
BROKEN_HOOK = """
    from stst_core import hookimpl

    @hookimpl
    def stst_register_losses(register):
        register("half_registered", lambda s, t: s.sum())
        raise RuntimeError("the plugin's own bug")
"""
DUPLICATE = """
    from stst_core import hookimpl

    @hookimpl
    def stst_register_losses(register):
        register("gram", lambda s, t: s.sum())
"""
UNKNOWN_HOOK = """
    from stst_core import hookimpl

    @hookimpl
    def stst_register_widgets(register):
        pass
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path that acts as site-packages; the plugin host is rebuilt around each test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("STST_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("STST_NO_PLUGIN_AUTOLOAD", raising=False)
    reload_plugins()
    yield tmp_path
    for name in [m for m in sys.modules if m.endswith("_module")]:
        del sys.modules[name]
    monkeypatch.undo()
    reload_plugins()


def infos_by_name():
    """The plugins in use (a shadowed one has the name of the one kept)."""
    return {info.name: info for info in plugin_infos() if info.status != "shadowed"}


def test_plugin_is_discovered_through_its_entry_point(site):
    install_fake_distribution(site, "stst-shout", {"shout": GOOD})
    reload_plugins()
    assert "shout" in stst_core.list_losses()
    info = infos_by_name()["shout"]
    assert info.status == "loaded"
    assert (info.distribution, info.version) == ("stst-shout", "1.2.3")
    assert info.hooks == ("stst_register_losses",)
    assert "entry point shout = shout_module" in info.origin
    assert info.location == str(site / "shout_module.py")  # which copy was imported
    assert get_registry("losses").get("shout").plugin == "shout"


def test_first_party_plugins_come_through_the_same_group():
    infos = infos_by_name()
    for name in ("vgg", "msoe", "losses", "randomnets", "stst"):
        assert infos[name].status == "loaded"
        assert infos[name].distribution == "stst-toolkit"
        assert infos[name].origin.startswith("entry point")


@pytest.mark.parametrize(
    "source, message",
    [
        (BROKEN_IMPORT, "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"),
        (BROKEN_HOOK, "RuntimeError: the plugin's own bug"),
        (DUPLICATE, "'gram' is registered twice: by losses and by broken"),
        (UNKNOWN_HOOK, "unknown hook.*stst_register_widgets"),
    ],
)
def test_broken_plugin_is_reported_and_skipped(site, source, message):
    backbones_before = stst_core.list_backbones()
    install_fake_distribution(site, "stst-mixed", {"broken": source, "shout": GOOD})
    reload_plugins()
    with pytest.warns(PluginLoadWarning, match=r"'broken' failed and was skipped"):
        losses = stst_core.list_losses()
    infos = infos_by_name()
    assert infos["broken"].status == "failed"
    assert pytest.importorskip("re").search(message, infos["broken"].error)
    # the rest keep working, and nothing the broken plugin registered stays
    assert {"shout", "gram", "mse"} <= set(losses)
    assert "half_registered" not in losses
    assert get_registry("losses").get("gram").plugin == "losses"
    assert stst_core.list_backbones() == backbones_before


def test_block_list_variable(site, monkeypatch):
    install_fake_distribution(site, "stst-shout", {"shout": GOOD})
    monkeypatch.setenv("STST_DISABLE_PLUGINS", "shout, vgg")
    reload_plugins()
    assert "shout" not in stst_core.list_losses()
    assert "vgg19" not in stst_core.list_backbones() and "msoe" in stst_core.list_backbones()
    infos = infos_by_name()
    assert infos["shout"].status == infos["vgg"].status == "disabled"
    assert infos["msoe"].status == "loaded"


def test_no_autoload_loads_nothing_but_the_core(site, monkeypatch):
    install_fake_distribution(site, "stst-shout", {"shout": GOOD})
    monkeypatch.setenv("STST_NO_PLUGIN_AUTOLOAD", "1")
    reload_plugins()
    assert stst_core.list_backbones() == []
    assert stst_core.list_losses() == []
    assert plugin_infos() == []


def test_runtime_registration_helper_adds_and_removes(site):
    class Plugin:
        @stst_core.hookimpl
        def stst_register_losses(self, register):
            register("runtime_loss", lambda s, t: s.sum())

    with registered_plugin(Plugin(), name="runtime"):
        assert "runtime_loss" in stst_core.list_losses()
        assert infos_by_name()["runtime"].origin == "registered at runtime"
        with pytest.raises(RegistryError, match="already registered"):
            stst_core.register_plugin(Plugin(), name="runtime")
    assert "runtime_loss" not in stst_core.list_losses()
    assert "runtime" not in infos_by_name()


def test_a_healthy_toolkit_warns_about_nothing(site):
    reload_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plugin_infos()


def test_a_backbone_that_breaks_its_contract_is_named(site):
    import torch

    from stst_core import Backbone, BackboneCard, LayerSpec, create_backbone

    class Liar(Backbone):
        """Declares two layers, returns one."""

        def __init__(self, weights=None):
            super().__init__(BackboneCard("liar", "random"), [LayerSpec("a"), LayerSpec("b")], ["a", "b"])

        def compute(self, video, layers):
            return {"a": video}

    class Squasher(Backbone):
        """Declares a vector per clip, returns a map."""

        def __init__(self, weights=None):
            super().__init__(BackboneCard("squasher", "random"), [LayerSpec("pool", "C")], ["pool"])

        def compute(self, video, layers):
            return {"pool": video.mean(dim=1, keepdim=True)}

    class NotABackbone:
        def __init__(self, weights=None):
            pass

    class Plugin:
        @stst_core.hookimpl
        def stst_register_backbones(self, register):
            register("liar", Liar)
            register("impostor", NotABackbone)
            register("squasher", Squasher)

    with registered_plugin(Plugin(), name="sloppy"):
        with pytest.raises(stst_core.BackboneError, match=r"'liar' \(plugin 'sloppy'\) declares layer\(s\) \['b'\]"):
            create_backbone("liar")(torch.rand(1, 3, 1, 8, 8))
        with pytest.raises(RegistryError, match="'impostor' from plugin 'sloppy' returned NotABackbone"):
            create_backbone("impostor")
        with pytest.raises(
            stst_core.BackboneError, match=r"'squasher' \(plugin 'sloppy'\) .*pool: declared axes 'C' \(batch first: 2 dims\), got shape \(1, 1, 1, 8, 8\)"
        ):
            create_backbone("squasher")(torch.rand(1, 3, 1, 8, 8))
        # an option the factory does not take (a typo, or left over from another backbone) is named
        with pytest.raises(stst_core.BackboneError, match=r"'liar' \(plugin 'sloppy'\) has no option\(s\) 'levels'; its options: none"):
            create_backbone("liar", levels=3)


# -- one `create` per registry: options checked against the factory's typed signature ------------


def test_every_registry_checks_options_against_the_typed_signature():
    from stst_core import BackboneError, ConfigError, Video, create_backbone, create_loss, create_metric

    # backbones: converted as a config is, and a bad value or key is a BackboneError naming it
    net = create_backbone("random-multiscale", levels="2", channels="8", shared="false")
    assert net.card.extra == {"levels": 2, "channels": 8, "kernel_size": 7, "shared": False}
    with pytest.raises(BackboneError, match=r"^backbone 'random-multiscale': shared must be true or false, got 'maybe'$"):
        create_backbone("random-multiscale", shared="maybe")
    with pytest.raises(BackboneError, match=r"has no option\(s\) 'level'; its options: levels, channels, kernel_size, shared .*Did you mean 'levels'\?"):
        create_backbone("random-multiscale", level=2)
    # losses: Literal choices
    assert create_loss("gram", normalization="chw", reduction="sum").reduction == "sum"
    with pytest.raises(ConfigError, match=r"^loss 'gram': normalization must be one of 'locations', 'chw'; got 'pixels'$"):
        create_loss("gram", normalization="pixels")
    # metrics: Range bounds
    assert create_metric("pixels", bins="16").bins == 16
    with pytest.raises(ConfigError, match=r"^metric 'pixels': bins must be an integer ≥ 2, got 1$"):
        create_metric("pixels", bins=1)
    # synthesizers: a config given as a table is built and checked as a config file is
    clip = Video(torch.rand(3, 2, 8, 8, generator=torch.Generator().manual_seed(0)), fps=25)
    synthesizers = get_registry("synthesizers")
    stps = synthesizers.create("stps", targets={"content": clip}, config={"mapping": "scale"}, seed="3")
    assert stps.seed == 3 and stps.config.mapping == "scale"
    with pytest.raises(ConfigError, match=r"^config key 'config.mapping' must be one of 'clip', 'scale', 'iterate'; got 'fold'$"):
        synthesizers.create("stps", targets={"content": clip}, config={"mapping": "fold"})
    with pytest.raises(
        ConfigError, match=r"synthesizer 'stps' \(plugin 'stps'\) has no option\(s\) 'sead'; its options: targets, config, seed, device\. Did you mean 'seed'\?"
    ):
        synthesizers.create("stps", targets={"content": clip}, sead=1)


def test_a_plugin_loss_that_prepares_must_compare():
    from stst_core import create_loss

    class HalfLoss:
        """Prepares a target but forgot compare()."""

        def prepare(self, target):
            return target

        def __call__(self, synthesised, target):
            return (synthesised - target).square().mean()

    class Plugin:
        @stst_core.hookimpl
        def stst_register_losses(self, register):
            register("half", HalfLoss)

    with registered_plugin(Plugin(), name="half-loss"):
        with pytest.raises(RegistryError, match=r"loss 'half' \(plugin 'half-loss'\) defines prepare\(\) but not compare\(\)"):
            create_loss("half")


IMPOSTOR = """
    from stst_core import hookimpl

    @hookimpl
    def stst_register_losses(register):
        register("impostor", lambda s, t: s.sum())
"""


def test_a_plugin_cannot_take_the_name_of_another(site):
    """A third-party entry point named like a first-party plugin is reported and skipped; the first-party one stays."""
    install_fake_distribution(site, "stst-impostor", {"vgg": IMPOSTOR})
    with pytest.warns(PluginLoadWarning, match=r"'vgg' of stst-impostor has the name of the plugin of stst-toolkit, which is kept"):
        reload_plugins()
        infos = infos_by_name()
    assert get_registry("backbones").get("vgg19").plugin == "vgg"
    assert "impostor" not in stst_core.list_losses()
    assert infos["vgg"].status == "loaded" and infos["vgg"].distribution == "stst-toolkit"
    [shadowed] = [info for info in plugin_infos() if info.status == "shadowed"]
    assert shadowed.name == "vgg" and shadowed.distribution == "stst-impostor" and "rename its entry point" in shadowed.error
    listed = run_cli("plugins", "list").output
    assert "shadowed" in listed and "stst-impostor" in listed


def test_of_two_third_party_plugins_with_one_name_the_first_by_distribution_is_kept(site):
    install_fake_distribution(site, "stst-b-shout", {"shout": IMPOSTOR})
    install_fake_distribution(site / "other", "stst-a-shout", {"shout": GOOD})
    sys.path.insert(0, str(site / "other"))
    try:
        with pytest.warns(PluginLoadWarning, match="'shout' of stst-b-shout has the name of the plugin of stst-a-shout"):
            reload_plugins()
            infos = infos_by_name()
        assert "shout" in stst_core.list_losses() and "impostor" not in stst_core.list_losses()
        assert infos["shout"].distribution == "stst-a-shout"
        assert [(i.name, i.distribution) for i in plugin_infos() if i.status == "shadowed"] == [("shout", "stst-b-shout")]
    finally:
        sys.path.remove(str(site / "other"))
