"""torchvision video backbones: layers and shapes, frozen eval, weights files and downloads, input checks, STST."""

import json

import pytest
import torch
import torchvision
from click.testing import CliRunner

import stst_core
import stst_videomodels
from stst_core import BackboneError, Video, WeightsError, create_backbone, get_registry
from stst_core.cli import cli
from stst_videomodels.mvit import _tokens_to_map

SMALL = (1, 3, 8, 64, 64)
RESNET = {
    "stem": (1, 64, 8, 32, 32),
    "layer1": (1, 64, 8, 32, 32),
    "layer2": (1, 128, 4, 16, 16),
    "layer3": (1, 256, 2, 8, 8),
    "layer4": (1, 512, 1, 4, 4),
    "avgpool": (1, 512),
}
# output shapes for a (1, 3, 8, 64, 64) clip, computed for real (the transformers: on the meta device, below)
EXPECTED = {
    "r3d_18": RESNET,
    "r2plus1d_18": RESNET,
    # MC3: 3-D convolutions only up to layer1; above, no striding in time
    "mc3_18": {**RESNET, "layer2": (1, 128, 8, 16, 16), "layer3": (1, 256, 8, 8, 8), "layer4": (1, 512, 8, 4, 4)},
    "s3d": {
        "conv_1a": (1, 64, 4, 32, 32),
        "pool_2a": (1, 64, 4, 16, 16),
        "conv_2b": (1, 64, 4, 16, 16),
        "conv_2c": (1, 192, 4, 16, 16),
        "pool_3a": (1, 192, 4, 8, 8),
        "mixed_3b": (1, 256, 4, 8, 8),
        "mixed_3c": (1, 480, 4, 8, 8),
        "pool_4a": (1, 480, 2, 4, 4),
        "mixed_4b": (1, 512, 2, 4, 4),
        "mixed_4c": (1, 512, 2, 4, 4),
        "mixed_4d": (1, 512, 2, 4, 4),
        "mixed_4e": (1, 528, 2, 4, 4),
        "mixed_4f": (1, 832, 2, 4, 4),
        "pool_5a": (1, 832, 1, 2, 2),
        "mixed_5b": (1, 832, 1, 2, 2),
        "mixed_5c": (1, 1024, 1, 2, 2),
    },
    # a transformer at the small size too: 2×4×4 tubelets, any clip size
    "swin3d_t": {
        "patch_embed": (1, 96, 4, 16, 16),
        "stage1": (1, 96, 4, 16, 16),
        "stage2": (1, 192, 4, 8, 8),
        "stage3": (1, 384, 4, 4, 4),
        "stage4": (1, 768, 4, 2, 2),
        "norm": (1, 768, 4, 2, 2),
        "avgpool": (1, 768),
    },
}


def _mvit_shapes():
    grids = [56] + [28] * 2 + [14] * 11 + [7] * 2  # token grid after each of the 16 blocks
    shapes = {"conv_proj": (1, 96, 8, 56, 56)}
    return shapes, grids


def _mvit(widths):
    shapes, grids = _mvit_shapes()
    shapes.update({f"blocks.{i}": (1, w, 8, g, g) for i, (w, g) in enumerate(zip(widths, grids))})
    shapes.update({"norm": (1, 768, 8, 7, 7), "cls": (1, 768)})
    return shapes


def _swin(width):
    return {
        "patch_embed": (1, width, 8, 56, 56),
        "stage1": (1, width, 8, 56, 56),
        "stage2": (1, 2 * width, 8, 28, 28),
        "stage3": (1, 4 * width, 8, 14, 14),
        "stage4": (1, 8 * width, 8, 7, 7),
        "norm": (1, 8 * width, 8, 7, 7),
        "avgpool": (1, 8 * width),
    }


# the large models, at their pretrained clip size (1, 3, 16, 224, 224), on the meta device: shapes only
HEAVY = {
    "mvit_v1_b": _mvit([192] * 2 + [384] * 11 + [768] * 3),
    "mvit_v2_s": _mvit([96] + [192] * 2 + [384] * 11 + [768] * 2),
    "swin3d_t": _swin(96),
    "swin3d_s": _swin(96),
    "swin3d_b": _swin(128),
}
for _shapes in (*EXPECTED.values(), *HEAVY.values()):
    _shapes["logits"] = (1, 400)  # every model keeps its Kinetics-400 classifier
DEFAULT_LAYERS = {
    "r3d_18": ("stem", "layer1", "layer2", "layer3", "layer4"),
    "s3d": ("conv_2c", "mixed_3c", "mixed_4f", "mixed_5c"),
    "swin3d_t": ("stage1", "stage2", "stage3", "stage4"),
    "mvit_v1_b": ("blocks.0", "blocks.2", "blocks.13", "blocks.15"),
    "mvit_v2_s": ("blocks.0", "blocks.2", "blocks.13", "blocks.15"),
}


def tiny_clip(net, batch=1, seed=0):
    """The smallest clip every layer of ``net`` takes, a few pixels larger."""
    size = max(net.min_size, 16)
    return torch.rand(batch, 3, net.temporal_window + 1, size, size, generator=torch.Generator().manual_seed(seed))


def test_every_video_model_is_registered_by_the_plugin():
    registry = get_registry("backbones")
    for cls in stst_videomodels.BACKBONES:
        entry = registry.get(cls.architecture)
        assert entry.factory is cls and entry.plugin == "videomodels"
        assert entry.summary  # `stst backbones list` shows the docstring's first line


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layers_axes_and_shapes_for_a_small_clip(nets, name):
    net = nets(name)
    shapes = net.output_shapes(SMALL)
    assert shapes == EXPECTED[name]
    for layer, spec in net.layers.items():
        assert len(spec.axes) == len(shapes[layer]) - 1, layer
        assert spec.channels == shapes[layer][1], layer
    assert set(net.default_layers) <= set(net.layers)
    if name in DEFAULT_LAYERS:
        assert net.default_layers == DEFAULT_LAYERS[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_layer_is_the_same_alone_or_with_deeper_ones(nets, name):
    # the forward pass stops at the deepest layer asked for, and nothing computed later overwrites an earlier output
    net = nets(name)
    clip = tiny_clip(net)
    together = net(clip, "all")
    names = list(net.layers)
    for layer in dict.fromkeys([names[0], *net.default_layers, names[-1]]):
        torch.testing.assert_close(net(clip, [layer])[layer], together[layer], rtol=0, atol=0, msg=layer)


def test_the_seed_decides_random_weights():
    a = create_backbone("mc3_18", weights="random", seed=3).state_dict()
    b = create_backbone("mc3_18", weights="random", seed=3).state_dict()
    c = create_backbone("mc3_18", weights="random", seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.stem.0.weight"], c["net.stem.0.weight"])


@pytest.mark.parametrize("name", ["mc3_18", "s3d", "swin3d_t"])
def test_a_saved_state_dict_loads_back(nets, tmp_path, name):
    net = nets(name)
    path = tmp_path / f"{name}.pt"
    torch.save(net.state_dict(), path)
    loaded = create_backbone(name, weights=str(path))
    assert loaded.card.weights == f"file:{path}"
    own = loaded.state_dict()
    assert own.keys() == net.state_dict().keys()
    assert all(torch.equal(own[k], v) for k, v in net.state_dict().items())
    clip = tiny_clip(net)
    torch.testing.assert_close(loaded(clip)[net.default_layers[-1]], net(clip)[net.default_layers[-1]], rtol=0, atol=0)


def test_torchvisions_own_state_dict_loads_with_its_classifier(tmp_path):
    model = torchvision.models.get_model("mc3_18", num_classes=7).eval()
    torch.save(model.state_dict(), tmp_path / "mc3_18-0123abcd.pth")
    with pytest.raises(WeightsError, match=r"fc\.weight: \(7, 512\) instead of \(400, 512\).*num_classes=7"):
        create_backbone("mc3_18", weights=str(tmp_path / "mc3_18-0123abcd.pth"))
    net = create_backbone("mc3_18", weights=str(tmp_path / "mc3_18-0123abcd.pth"), num_classes=7)
    torch.testing.assert_close(net.net.fc.weight, model.fc.weight, rtol=0, atol=0)
    assert net.card.classes == tuple(f"class {i}" for i in range(7))
    clip = torch.rand(1, 3, 2, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(clip, ["logits"])["logits"], model(net.normalize(clip)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18", "swin3d_t"])
def test_logits_are_torchvisions_own_scores_and_name_kinetics_classes(nets, name):
    net = nets(name)
    clip = tiny_clip(net, batch=2)
    with torch.no_grad():
        own = net.net(net.normalize(clip))
    torch.testing.assert_close(net(clip, ["logits"])["logits"], own, rtol=0, atol=0)
    assert len(net.card.classes) == 400 and net.card.classes[:2] == ("abseiling", "air drumming")
    assert "logits" not in net.default_layers  # computed only when asked for


@pytest.mark.slow
def test_s3d_logits_at_its_clip_size_equal_torchvisions():
    net = create_backbone("s3d", weights="random")
    clip = torch.rand(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(net(clip, ["logits"])["logits"], net.net(net.normalize(clip)), rtol=1e-5, atol=1e-5)


def test_batch_norm_layers_are_reachable_with_their_running_statistics(nets):
    norms = nets("r3d_18").batch_norm_layers()
    assert len(norms) == 20 and all(hasattr(m, "running_mean") and hasattr(m, "running_var") for m in norms.values())
    assert "net.stem.1" in norms


def test_a_state_dict_of_another_model_is_a_clear_error(tmp_path):
    with torch.device("meta"):
        mc3 = torchvision.models.get_model("mc3_18")
        resnet = torchvision.models.resnet18()
    torch.save({k: torch.zeros(v.shape) for k, v in mc3.state_dict().items()}, tmp_path / "mc3.pth")
    with pytest.raises(
        WeightsError, match=r"does not fit r3d_18 \(mis-shaped layer2\.0\.conv1\.0\.weight: \(128, 64, 1, 3, 3\) instead of \(128, 64, 3, 3, 3\)"
    ):
        create_backbone("r3d_18", weights=str(tmp_path / "mc3.pth"))
    torch.save({k: torch.zeros(v.shape) for k, v in resnet.state_dict().items()}, tmp_path / "resnet18.pth")
    with pytest.raises(
        WeightsError, match=r"does not fit r3d_18 \(missing stem\.0\.weight.*; unexpected conv1\.weight.*\). Expected .*keys such as 'stem\.0\.weight'"
    ):
        create_backbone("r3d_18", weights=str(tmp_path / "resnet18.pth"))


@pytest.mark.parametrize("name, filename, prefix", [("r3d_18", "r3d_18-b3b3357e.pth", "b3b3357e"), ("mvit_v2_s", "mvit_v2_s-ae3be167.pth", "ae3be167")])
def test_kinetics_weights_offline_say_where_to_put_the_file(monkeypatch, name, filename, prefix):
    monkeypatch.setenv("STST_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        create_backbone(name)  # kinetics400 is the default
    message = str(info.value)
    assert f"{filename} (sha256 starting with {prefix})" in message and str(stst_core.cache_dir()) in message
    assert "weights=<its path>" in message and "weights='random'" in message


def test_kinetics_weights_download_verified_by_their_hash_prefix(served_mc3_18):
    model, path, prefix, requests = served_mc3_18
    net = create_backbone("mc3_18", weights="kinetics400")
    torch.testing.assert_close(net.net.stem[0].weight, model.stem[0].weight, rtol=0, atol=0)
    assert net.card.weights == "kinetics400"
    create_backbone("mc3_18", weights="kinetics400")  # the second time from the cache
    assert requests == [f"/mc3_18-{prefix}.pth"]
    # a file whose digest does not start with the prefix of its name is refused
    (stst_core.cache_dir() / f"mc3_18-{prefix}.pth").unlink()
    path.write_bytes(b"tampered")
    with pytest.raises(WeightsError, match=f"checksum mismatch.*starting with {prefix}"):
        create_backbone("mc3_18", weights="kinetics400")


@pytest.mark.parametrize("name", sorted(HEAVY))
def test_large_models_at_their_clip_size_on_the_meta_device(name):
    with torch.device("meta"):
        net = create_backbone(name, weights="random")
    assert net.output_shapes((1, 3, 16, 224, 224)) == HEAVY[name]
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    for layer, spec in net.layers.items():
        assert spec.channels == HEAVY[name][layer][1], layer
    if name in DEFAULT_LAYERS:
        assert net.default_layers == DEFAULT_LAYERS[name]


def test_mvit_for_real_at_its_clip_size_frozen_eval_and_deterministic():
    # MViT takes only 16×224×224 clips; its first block is the cheap part of a real forward pass
    net = create_backbone("mvit_v1_b", weights="random")
    net.train()
    assert not net.training and not net.net.training and not any(p.requires_grad for p in net.parameters())
    clips = torch.rand(2, 3, 16, 224, 224, generator=torch.Generator().manual_seed(0))
    first = net(clips, ["conv_proj", "blocks.0"])
    assert {k: tuple(v.shape) for k, v in first.items()} == {"conv_proj": (2, 96, 8, 56, 56), "blocks.0": (2, 192, 8, 56, 56)}
    torch.testing.assert_close(net(clips, ["blocks.0"])["blocks.0"], first["blocks.0"], rtol=0, atol=0)
    torch.testing.assert_close(net(clips[1:], ["blocks.0"])["blocks.0"], first["blocks.0"][1:], rtol=1e-4, atol=1e-5)


def test_mvit_takes_exactly_its_clip_size():
    with torch.device("meta"):
        net = create_backbone("mvit_v1_b", weights="random")
    assert net.temporal_window == 16
    with pytest.raises(BackboneError, match=r"exactly 16 frames of 224×224 pixels.*got 16 frames of 112×112"):
        net(torch.zeros(1, 3, 16, 112, 112, device="meta"))
    with pytest.raises(BackboneError, match="looks at 16 consecutive frames, got a clip of 8"):
        net(torch.zeros(1, 3, 8, 224, 224, device="meta"))


def test_an_option_torchvision_does_not_take_is_named():
    with pytest.raises(BackboneError, match=r"torchvision's r3d_18 builder does not take the options \['levels'\]"):
        create_backbone("r3d_18", weights="random", levels=3)


def test_s3d_says_what_clip_it_needs(nets):
    net = nets("s3d")
    with pytest.raises(BackboneError, match="looks at 5 consecutive frames, got a clip of 4"):
        net(torch.rand(1, 3, 4, 64, 64))
    with pytest.raises(BackboneError, match=r"at least 17×17 pixels, got 16×16"):
        net(torch.rand(1, 3, 5, 16, 16))


def test_tokens_become_maps_in_time_row_column_order():
    grid = (2, 3, 4)
    position = torch.arange(24.0)  # token index = (t·3 + y)·4 + x
    tokens = torch.cat([torch.full((1, 1, 2), 1000.0), torch.stack([position, -position], dim=1)[None]], dim=1)
    maps = _tokens_to_map(tokens, grid)
    assert maps.shape == (1, 2, 2, 3, 4)
    assert maps[0, 0, 1, 2, 3] == (1 * 3 + 2) * 4 + 3 and maps[0, 1, 1, 2, 3] == -23
    assert (maps != 1000).all()  # the class token is left out


@pytest.mark.parametrize(
    "name, mean, std",
    [
        ("r3d_18", (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
        ("swin3d_t", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ("mvit_v2_s", (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
    ],
)
def test_inputs_are_normalised_as_the_weights_were_trained(name, mean, std, tmp_path):
    with torch.device("meta"):
        skeleton = create_backbone(name, weights="random")
    # weights from a file build the network on the meta device and fill it: no costly random initialisation
    torch.save({k: torch.zeros(v.shape, dtype=v.dtype) for k, v in skeleton.state_dict().items()}, tmp_path / "zeros.pt")
    net = create_backbone(name, weights=str(tmp_path / "zeros.pt"))
    x = torch.rand(1, 3, 1, 4, 4)
    expected = (x - torch.tensor(mean).view(1, 3, 1, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(net.normalize(x), expected)
    assert f"mean {mean}, std {std}" in net.card.input_normalization


def test_backbones_info_lists_layers_with_shapes():
    result = CliRunner().invoke(cli, ["backbones", "info", "r3d_18", "--size", "32", "--frames", "2", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    layers = {layer["name"]: layer for layer in record["layers"]}
    assert layers["layer4"]["shape"] == [1, 512, 1, 2, 2] and layers["avgpool"]["axes"] == "C"
    assert [c["tag"] for c in record["weights_choices"]] == ["kinetics400", "random"]
    assert record["default_weights"] == "kinetics400" and record["temporal_window"] == 1


def test_stst_with_r3d_as_its_temporal_stream(tmp_path):
    from stst_styletransfer.synthesizer import STSTSynthesizer

    generator = torch.Generator().manual_seed(0)
    base = torch.rand(3, 24, 40, generator=generator)
    clip = torch.stack([torch.roll(base, 2 * t, dims=2)[:, :, :24] for t in range(2)], dim=1)  # drifting rightwards
    config = STSTSynthesizer.resolve(
        "offline",
        overrides=[
            "temporal.backbone=r3d_18",
            "temporal.weights=random",
            "temporal.style_layers=['layer1']",
            "temporal.content_layers=[]",
            "spatial.options={levels=2}",
            "spatial.style_layers=['level0','level1']",
            "octaves=[{scale=0, steps=2, lr=0.01}]",
            "burn_in=1",
            "color_transfer='none'",
        ],
    )
    store = STSTSynthesizer({"content": Video(clip, fps=25)}, config, seed=0).synthesize(tmp_path / "out.zarr", progress=False)
    assert store.complete
    assert store.video().frames.shape == (3, 2, 24, 24)
    config = json.loads(store.attrs["config"])
    assert config["temporal"]["backbone"] == "r3d_18" and config["temporal"]["style_layers"] == ["layer1"]
