"""The conformance suites of stst_core.testing over every registered backbone, metric and synthesizer.

A plugin that registers one of these is checked here without a test of its
own; the suites also fail on deliberately broken ones (the last tests).
"""

import pytest
import torch

import stst_core
from stst_core import Backbone, BackboneCard, LayerSpec, Video, WeightsChoice, get_registry, hookimpl
from stst_core.testing import check_backbone, check_metric, check_synthesizer, registered_plugin

# families are checked on one small member; backbones whose only weights need a
# download are checked with random weights (the contract does not depend on them)
FAMILY_MEMBERS = {"timm:*": "timm:test_resnet"}
# metrics whose value for identical videos is not 0, as they document
IDENTICAL = {"novelty": 1.0}
# a setting each method must refuse before writing anything
BAD_SETTINGS = {
    "stst": ["color_bins=0", "octaves.0.steps=0"],
    "two-stream": ["steps=0", "lr=-1"],
    "stps": ["iterations=0"],
    "leaps": ["samples=0", "target_class=99999", "prime_layers=['nosuch']"],
}
SLOW_BACKBONES = {"mvit_v1_b", "mvit_v2_s", "swin3d_b", "swin3d_s", "s3d", "timesformer"}
# backbones whose weights files are not bare state dicts: a trained PredNet or toy classifier is a model file with its card
NOT_STATE_DICT_FILES = {"prednet", "toy-classifier", "toy-judge"}
# MViT takes exactly 16 frames of 224×224: checked on that clip, up to its second block
LARGE_CLIPS = {name: dict(clip=torch.rand(2, 3, 16, 224, 224), layers=["conv_proj", "blocks.0", "blocks.1"]) for name in ("mvit_v1_b", "mvit_v2_s")}


def backbones():
    return [pytest.param(FAMILY_MEMBERS.get(n, n), marks=[pytest.mark.slow] if n in SLOW_BACKBONES else []) for n in stst_core.list_backbones()]


@pytest.mark.parametrize("name", backbones())
def test_backbone(name):
    weights = "random" if "random" in stst_core.backbone_class(name).weights_tags() else None
    check_backbone(name, weights=weights, round_trip=name not in NOT_STATE_DICT_FILES, **LARGE_CLIPS.get(name, {}))


@pytest.mark.parametrize("name", stst_core.list_metrics())
def test_metric(name):
    check_metric(name, identical=IDENTICAL.get(name, 0.0))


def drifting_clip(frames=3, size=24):
    base = torch.rand(3, 1, size, size * 2, generator=torch.Generator().manual_seed(5))
    clip = torch.cat([torch.roll(base, 2 * t, dims=3)[..., :size] for t in range(frames)], dim=1)
    return Video((clip * torch.tensor([1.0, 0.8, 0.6]).view(3, 1, 1, 1)).contiguous(), fps=25, source="drifting noise")


@pytest.mark.parametrize("name", stst_core.list_synthesizers())
def test_synthesizer(name, tmp_path):
    cls = get_registry("synthesizers").get(name).factory
    check_synthesizer(
        cls, drifting_clip(), tmp_path, preset=cls.quick_preset, overrides=cls.quick_overrides, bad_overrides=BAD_SETTINGS.get(name, ["no_such_setting=1"])
    )


# -- the suites catch broken plugins -----------------------------------------------------


class _Broken(Backbone):
    """A one-layer backbone that breaks the contract in the way ``flaw`` says."""

    weights_choices = (WeightsChoice("random", "PyTorch's initialisation under the seed"),)

    def __init__(self, weights=None, flaw="trainable"):
        super().__init__(BackboneCard(name=f"broken-{flaw}"), [LayerSpec("conv", "CTHW", 4)], ["conv"], weights=weights)
        self.conv = torch.nn.Conv3d(3, 4, 1)
        self.flaw = flaw
        if flaw != "ignores-its-file":
            self.load_weights()

    def compute(self, video, layers):
        out = self.conv(video)
        if self.flaw == "random":
            out = out + 1e-3 * torch.rand_like(out)  # not deterministic
        if self.flaw == "channels":
            out = out[:, :3]
        if self.flaw == "batch":
            out = out - out.mean(dim=0, keepdim=True)  # batch statistics: a sample's output depends on the others
        if self.flaw == "detached":
            out = out.detach()
        return {"conv": out}


class _BrokenPlugin:
    @hookimpl
    def stst_register_backbones(self, register):
        register("broken", _Broken)


@pytest.mark.parametrize(
    "flaw, message",
    [
        ("random", "two calls on one input differ"),
        ("channels", "declares 4 channels, has 3"),
        ("batch", "depends on its batch"),
        ("detached", "no gradient reaches the input"),
        ("ignores-its-file", "built from its own saved state dict computes other values"),
    ],
)
def test_a_broken_backbone_fails_the_suite(flaw, message):
    with registered_plugin(_BrokenPlugin(), name="broken-under-test"):
        with pytest.raises(AssertionError, match=message):
            check_backbone("broken", flaw=flaw)


def test_a_trainable_backbone_fails_the_suite(monkeypatch):
    # create_backbone freezes what it builds; a plugin that unfreezes itself afterwards is caught
    from stst_core import _backbone

    monkeypatch.setattr(_backbone.Backbone, "requires_grad_", lambda self, flag=True: self)
    with registered_plugin(_BrokenPlugin(), name="broken-under-test"):
        with pytest.raises(AssertionError, match="trainable parameters"):
            check_backbone("broken", flaw="none")


def test_a_metric_that_is_not_zero_on_identical_videos_fails_the_suite():
    class _Plugin:
        @hookimpl
        def stst_register_metrics(self, register):
            register("always-one", lambda generated, target: 1.0)

    with registered_plugin(_Plugin(), name="bad-metric-under-test"):
        with pytest.raises(AssertionError, match="for identical videos, expected 0"):
            check_metric("always-one")


def test_a_metric_without_a_summary_or_that_forgets_its_settings_fails_the_suite():
    from stst_core import Metric

    class Silent(Metric):
        name = "silent"

        def compare(self, generated, target):
            return float((generated.frames.mean() - target.frames.mean()).abs())

    class Forgetful(Silent):
        """A level difference in percent; it overwrites its option, so its settings do not rebuild it."""

        name = "forgetful"
        scale: float = 1.0

        def __post_init__(self):
            super().__post_init__()
            self.scale = self.scale * 100  # the bug: keep derived values in attributes of their own

        def compare(self, generated, target):
            return self.scale * super().compare(generated, target)

    class _Plugin:
        @hookimpl
        def stst_register_metrics(self, register):
            register("silent", Silent)
            register("forgetful", Forgetful)

    with registered_plugin(_Plugin(), name="metrics-under-test"):
        with pytest.raises(AssertionError, match="no summary"):
            check_metric("silent")
        with pytest.raises(AssertionError, match="rebuilt from its settings"):
            check_metric("forgetful")
