"""timm backbones: any timm image model frame by frame (``timm:*``), and the divided space-time transformer."""

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import stst_core
from stst_core import BackboneError, RegistryError, WeightsError, create_backbone, get_registry
from stst_core.testing import serve_folder
from stst_timm import TimeSformer, TimmFrames
from stst_timm.pretrained import hub_weights_file

CNN, VIT = "timm:test_resnet", "timm:test_vit"  # timm's own tiny test models, with weights on the hub
CLIP = (1, 3, 8, 64, 64)
EXPECTED = {
    CNN: {
        "act1": (1, 32, 8, 32, 32),
        "layer1": (1, 32, 8, 16, 16),
        "layer2": (1, 48, 8, 8, 8),
        "layer3": (1, 192, 8, 4, 4),
        "layer4": (1, 96, 8, 2, 2),
        "pre_logits": (1, 96, 8),
        "logits": (1, 1000),
    },
    # 16-px patches: a 4×4 grid of patch tokens per frame, the class token left out
    VIT: {**{f"blocks.{i}": (1, 64, 8, 4, 4) for i in range(6)}, "pre_logits": (1, 64, 8), "logits": (1, 1000)},
}
# the issue's examples, at 224 px, on the meta device (shapes and names only)
LARGE = {
    "timm:resnet50": {
        "act1": (1, 64, 2, 112, 112),
        "layer1": (1, 256, 2, 56, 56),
        "layer2": (1, 512, 2, 28, 28),
        "layer3": (1, 1024, 2, 14, 14),
        "layer4": (1, 2048, 2, 7, 7),
        "pre_logits": (1, 2048, 2),
        "logits": (1, 1000),
    },
    "timm:vit_small_patch16_224": {**{f"blocks.{i}": (1, 384, 2, 14, 14) for i in range(12)}, "pre_logits": (1, 384, 2), "logits": (1, 1000)},
}
TINY_TIMESFORMER = dict(img_size=64, patch_size=16, num_frames=8, embed_dim=32, depth=2, num_heads=4)


def test_the_timm_family_answers_every_model_name():
    registry = get_registry("backbones")
    assert {"timm:*", "timesformer"} <= set(stst_core.list_backbones())
    entry = registry.get("timm:resnet50.a1_in1k")
    assert (entry.factory, entry.variant, entry.plugin) == (TimmFrames, "resnet50.a1_in1k", "timm")
    assert registry.get("timesformer").factory is TimeSformer
    with pytest.raises(RegistryError, match="name a member of the timm: family"):
        create_backbone("timm:")


@pytest.mark.parametrize("name", [CNN, VIT])
def test_layers_axes_and_shapes_for_a_small_clip(nets, name):
    net = nets(name)
    shapes = net.output_shapes(CLIP)
    assert shapes == EXPECTED[name]
    axes = {"pre_logits": "CT", "logits": "C"}
    assert {layer: spec.axes for layer, spec in net.layers.items()} == {layer: axes.get(layer, "CTHW") for layer in shapes}
    assert all(spec.channels == shapes[layer][1] for layer, spec in net.layers.items())
    assert list(net.default_layers) == [layer for layer in shapes if layer not in axes]


@pytest.mark.parametrize("name", [CNN, VIT])
def test_logits_are_the_frames_classifier_scores_averaged_and_name_imagenets_classes(nets, name):
    net = nets(name)
    clip = torch.rand(2, 3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    logits = net(clip, ["logits"])["logits"]
    assert logits.shape == (2, 1000) and len(net.card.classes) == 1000 and net.card.classes[0] == "tench, Tinca tinca"
    frames = net.normalize(clip).transpose(1, 2).reshape(6, 3, 64, 64)
    with torch.no_grad():
        own = net.model(frames).reshape(2, 3, 1000).mean(dim=1)  # timm's own forward, frame by frame
    torch.testing.assert_close(logits, own, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(LARGE))
def test_the_issue_examples_on_the_meta_device(name):
    with torch.device("meta"):
        net = create_backbone(name, weights="random")
    assert net.output_shapes((1, 3, 2, 224, 224)) == LARGE[name]


def test_pre_logits_is_what_the_classifier_sees(nets):
    net = nets(VIT)
    frame = torch.rand(1, 3, 1, 32, 48)
    ours = net(frame, ["pre_logits"])["pre_logits"][:, :, 0]
    model = net.model
    theirs = model.forward_head(model.forward_features(net.normalize(frame)[:, :, 0]), pre_logits=True)
    torch.testing.assert_close(ours, theirs)
    assert "mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5)" in net.card.input_normalization  # timm's pretrained_cfg


def test_a_saved_state_dict_and_a_timm_state_dict_load(nets, tmp_path):
    net = nets(CNN)
    torch.save(net.state_dict(), tmp_path / "ours.pt")
    model = timm.create_model("test_resnet")  # with its classifier, as timm saves it: the classifier is dropped
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "timm.safetensors"))
    clip = torch.rand(1, 3, 2, 32, 32)
    loaded = create_backbone(CNN, weights=str(tmp_path / "ours.pt"))
    torch.testing.assert_close(loaded(clip, "all")["pre_logits"], net(clip, "all")["pre_logits"], rtol=0, atol=0)
    from_timm = create_backbone(CNN, weights=str(tmp_path / "timm.safetensors"))
    torch.testing.assert_close(from_timm.model.conv1[0].weight, model.conv1[0].weight, rtol=0, atol=0)
    assert from_timm.card.weights == f"file:{tmp_path / 'timm.safetensors'}"


def test_a_file_that_does_not_fit_is_an_error_not_ignored(tmp_path):
    torch.save(timm.create_model("test_vit").state_dict(), tmp_path / "vit.pt")
    with pytest.raises(WeightsError, match=r"vit.pt does not fit timm's test_resnet: .*Missing key"):
        create_backbone(CNN, weights=str(tmp_path / "vit.pt"))


@pytest.mark.parametrize(
    "name, message",
    [
        ("timm:resnet5O", r"timm has no model 'resnet5O'\. Did you mean timm:resnet50"),
        ("timm:resnet18.nope", r"no pretrained tag 'nope' for resnet18; its tags: a1_in1k, .*tv_in1k"),
    ],
)
def test_unknown_models_and_tags(name, message):
    with pytest.raises(BackboneError, match=message):
        create_backbone(name, weights="random")


def test_a_model_that_takes_only_its_trained_size_says_so():
    net = create_backbone("timm:levit_128s", weights="random")
    with pytest.raises(BackboneError, match=r"could not process frames of 64×64 pixels: .*trained on 224×224"):
        net(torch.rand(1, 3, 1, 64, 64))


def test_the_hub_file_follows_the_tag_in_the_name():
    assert hub_weights_file("resnet18.tv_in1k").urls == ("{hf_endpoint}/timm/resnet18.tv_in1k/resolve/main/model.safetensors",)
    default = hub_weights_file("resnet18")
    assert default.filename == "timm--resnet18.a1_in1k--model.safetensors" and default.sha256 is None


def test_pretrained_offline_says_where_to_put_the_file(monkeypatch):
    monkeypatch.setenv("STST_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        create_backbone(CNN)  # pretrained is the default
    message = str(info.value)
    assert str(stst_core.cache_dir() / "timm--test_resnet.r160_in1k--model.safetensors") in message
    assert "weights=<its path>" in message and "weights='random'" in message


def test_pretrained_weights_come_from_the_hub_checked_against_its_sha256(tmp_path, monkeypatch):
    model = timm.create_model("test_resnet")
    hub_path = "timm/test_resnet.r160_in1k/resolve/main/model.safetensors"
    (tmp_path / hub_path).parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / hub_path))
    with serve_folder(tmp_path) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        net = create_backbone(CNN, weights="pretrained")
        torch.testing.assert_close(net.model.layer4[0].conv1.weight, model.layer4[0].conv1.weight, rtol=0, atol=0)
        assert net.card.weights == "pretrained" and net.card.source == f"{hub.url}/{hub_path}"
        create_backbone(CNN, weights="pretrained")  # from the cache
        assert hub.requests == [f"/{hub_path}", f"/storage/{hub_path}"]
        # a download that does not match what the hub publishes is refused
        (stst_core.cache_dir() / "timm--test_resnet.r160_in1k--model.safetensors").unlink()
        hub.published_sha256[hub_path] = "0" * 64
        with pytest.raises(WeightsError, match=r"checksum mismatch.*published by the server"):
            create_backbone(CNN, weights="pretrained")


# -- the divided space-time transformer ------------------------------------------------------------


def _reference_block(block, x, batch, frames, width):
    """One block as facebookresearch/TimeSformer writes it: tokens ordered (h w t), the class token first."""
    height = (x.shape[1] - 1) // frames // width
    dim = x.shape[-1]
    xt = x[:, 1:].reshape(batch * height * width, frames, dim)  # 'b (h w t) m -> (b h w) t m'
    res_temporal = block.temporal_attn(block.temporal_norm1(xt)).reshape(batch, -1, dim)
    xt = x[:, 1:] + block.temporal_fc(res_temporal)
    init_cls = x[:, :1]
    cls = init_cls.repeat(1, frames, 1).reshape(batch * frames, 1, dim)
    xs = xt.reshape(batch, height, width, frames, dim).permute(0, 3, 1, 2, 4).reshape(batch * frames, height * width, dim)
    res_spatial = block.attn(block.norm1(torch.cat((cls, xs), 1)))
    cls = res_spatial[:, 0].reshape(batch, frames, dim).mean(1, True)
    res = res_spatial[:, 1:].reshape(batch, frames, height, width, dim).permute(0, 2, 3, 1, 4).reshape(batch, -1, dim)
    x = torch.cat((init_cls, xt), 1) + torch.cat((cls, res), 1)
    return x + block.mlp(block.norm2(x))


def _reference_forward(net, video):
    """TimeSformer's VisionTransformer.forward_features (divided space-time), on a normalised video."""
    batch, _, frames = video.shape[:3]
    x = net.patch_embed.proj(video.transpose(1, 2).flatten(0, 1))
    width = x.shape[-1]
    x = torch.cat((net.cls_token.expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)), dim=1)
    side = round((net.pos_embed.shape[1] - 1) ** 0.5)
    other = net.pos_embed[0, 1:].unsqueeze(0).transpose(1, 2).reshape(1, -1, side, side)
    other = F.interpolate(other, size=((x.shape[1] - 1) // width, width), mode="nearest").flatten(2).transpose(1, 2)
    x = x + torch.cat((net.pos_embed[:, :1], other), 1)
    cls = x[:batch, 0].unsqueeze(1)
    x = x[:, 1:].reshape(batch, frames, -1, x.shape[-1]).transpose(1, 2).flatten(0, 1)  # '(b t) n m -> (b n) t m'
    x = x + F.interpolate(net.time_embed.transpose(1, 2), size=frames, mode="nearest").transpose(1, 2)
    x = torch.cat((cls, x.reshape(batch, -1, x.shape[-1])), dim=1)  # '(b n) t m -> b (n t) m'
    for block in net.blocks:
        x = _reference_block(block, x, batch, frames, width)
    return net.norm(x), width


def test_timesformer_layers_and_shapes():
    net = create_backbone("timesformer", **TINY_TIMESFORMER)
    shapes = net.output_shapes(CLIP)
    assert shapes == {**{n: (1, 32, 8, 4, 4) for n in ("patch_embed", "blocks.0", "blocks.1", "norm")}, "cls": (1, 32)}
    assert net.default_layers == ("blocks.0", "blocks.1") and net.layers["cls"].axes == "C"
    assert not any(p.requires_grad for p in net.parameters()) and not net.training


def test_timesformer_computes_what_the_original_computes():
    # another clip length and frame size than it was built for: position and time embeddings are interpolated
    net = create_backbone("timesformer", seed=1, **TINY_TIMESFORMER)
    video = torch.rand(2, 3, 3, 48, 80, generator=torch.Generator().manual_seed(0))
    out = net(video, ["norm", "cls"])
    tokens, width = _reference_forward(net, net.normalize(video))
    torch.testing.assert_close(out["cls"], tokens[:, 0], rtol=1e-4, atol=1e-5)
    # (b, (h w t), d) → (b, d, t, h, w)
    expected = tokens[:, 1:].reshape(2, 3, width, 3, -1).permute(0, 4, 3, 1, 2)
    torch.testing.assert_close(out["norm"], expected, rtol=1e-4, atol=1e-5)


def test_timesformer_random_weights_see_frame_order():
    net = create_backbone("timesformer", **TINY_TIMESFORMER)
    assert net.blocks[1].temporal_fc.weight.abs().sum() > 0 and net.time_embed.abs().sum() > 0
    video = torch.rand(1, 3, 4, 32, 32)
    forward, backward = net(video, ["cls"])["cls"], net(video.flip(2), ["cls"])["cls"]
    assert not torch.allclose(forward, backward, atol=1e-4)
    torch.testing.assert_close(net(video, ["cls"])["cls"], forward, rtol=0, atol=0)
    other = create_backbone("timesformer", seed=1, **TINY_TIMESFORMER)
    assert not torch.allclose(other(video, ["cls"])["cls"], forward)


def test_timesformer_loads_its_own_and_official_checkpoints(tmp_path):
    net = create_backbone("timesformer", seed=2, **TINY_TIMESFORMER)
    torch.save(net.state_dict(), tmp_path / "ours.pt")
    official = {f"model.{k}": v for k, v in net.state_dict().items()}
    official.update({"model.head.weight": torch.zeros(400, 32), "model.head.bias": torch.zeros(400)})
    torch.save({"model_state": official, "epoch": 15}, tmp_path / "TimeSformer_divST_8x32_224_K400.pyth")
    video = torch.rand(1, 3, 2, 32, 32)
    for path in (tmp_path / "ours.pt", tmp_path / "TimeSformer_divST_8x32_224_K400.pyth"):
        loaded = create_backbone("timesformer", weights=str(path), **TINY_TIMESFORMER)
        torch.testing.assert_close(loaded(video, ["cls"])["cls"], net(video, ["cls"])["cls"], rtol=0, atol=0)
    with pytest.raises(
        WeightsError, match=r"ours.pt does not fit timesformer \(mis-shaped time_embed: \(1, 8, 32\) instead of \(1, 16, 32\)\). Set the options"
    ):
        create_backbone("timesformer", weights=str(tmp_path / "ours.pt"), **{**TINY_TIMESFORMER, "num_frames": 16})


@pytest.mark.parametrize(
    "options, message",
    [
        ({"embed_dim": 30}, r"embed_dim \(30\) must be a multiple of num_heads \(4\)"),
        ({"img_size": 70}, r"img_size \(70\) must be a multiple of patch_size \(16\)"),
        ({"depth": 0}, "depth must be an integer ≥ 1, got 0"),
    ],
)
def test_timesformer_bad_options(options, message):
    with pytest.raises(BackboneError, match=message):
        create_backbone("timesformer", **{**TINY_TIMESFORMER, **options})
