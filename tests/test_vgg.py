"""VGG-19: layer names and shapes, weights files in each key layout, normalisations, offline behaviour."""

import hashlib

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

import stst_core
import stst_vgg
from stst_core import BackboneError, WeightsError, create_backbone

EXPECTED_CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512, "relu5_4": 512}


@pytest.fixture(scope="module")
def vgg():
    return create_backbone("vgg19", weights="random")


def test_layer_names_and_shapes_for_a_64px_input(vgg):
    names = list(vgg.layers)
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-1] == "pool5"
    assert len([n for n in names if n.startswith("relu")]) == 16
    shapes = vgg.output_shapes((1, 3, 1, 64, 64))
    for block, size in zip(range(1, 6), (64, 32, 16, 8, 4)):
        assert shapes[f"relu{block}_1"] == (1, EXPECTED_CHANNELS[f"relu{block}_1"], 1, size, size)
        assert shapes[f"pool{block}"][-1] == size // 2
    assert vgg.layers["relu3_1"].axes == "CTHW"


def test_frames_are_processed_independently(vgg):
    clip = torch.rand(2, 3, 3, 32, 32)
    out = vgg(clip, ["relu2_1"])["relu2_1"]
    alone = vgg(clip[:, :, 1:2], ["relu2_1"])["relu2_1"]
    torch.testing.assert_close(out[:, :, 1:2], alone)


def test_conv_outputs_are_not_overwritten_by_relu(vgg):
    out = vgg(torch.rand(1, 3, 1, 16, 16), ["conv1_1", "relu1_1"])
    assert (out["conv1_1"] < 0).any()
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp_min(0))


def _random_state(model_on_meta, seed):
    """A state dict in ``model``'s own key layout: random feature weights, tiny placeholders elsewhere.

    The classifier weights (120M values) play no part in feature extraction; the
    loader must skip them, so placeholders of the right names are enough.
    """
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(value.shape, generator=generator) if key.startswith("features.") else torch.zeros(1)
        for key, value in model_on_meta.state_dict().items()
    }


def _torchvision_state():
    with torch.device("meta"):
        model = torchvision.models.vgg19()
    return _random_state(model, seed=11)


def _timm_state():
    import timm

    return _random_state(timm.create_model("vgg19", pretrained=False, device="meta"), seed=12)


def _named_state():
    names = stst_vgg._layer_names(create_backbone("vgg19", weights="random").features)
    state = _torchvision_state()
    return {f"{names[int(k.split('.')[1])]}.{k.split('.')[2]}": v for k, v in state.items() if k.startswith("features.")}


@pytest.mark.parametrize("layout", ["torchvision", "timm", "named"])
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_state_dict_in_each_layout_loads_back_equal(tmp_path, layout, suffix):
    state = {"torchvision": _torchvision_state, "timm": _timm_state, "named": _named_state}[layout]()
    path = tmp_path / f"vgg{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    net = create_backbone("vgg19", weights=str(path))
    assert net.card.weights == f"file:{path}"
    own = net.features.state_dict()
    for key, value in own.items():
        index, param = key.split(".")
        expected = state.get(f"features.{key}")
        if expected is None:
            expected = state[f"{stst_vgg._layer_names(net.features)[int(index)]}.{param}"]
        torch.testing.assert_close(value, expected, rtol=0, atol=0)


def test_wrong_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "resnet.pth"
    with torch.device("meta"):
        resnet = torchvision.models.resnet18()
    torch.save(_random_state(resnet, seed=0), path)
    with pytest.raises(WeightsError, match=r"resnet.pth does not fit vgg19 \(missing features.0.weight.*Expected keys like 'features.0.weight'"):
        create_backbone("vgg19", weights=str(path))
    state = _torchvision_state()
    state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"does not fit vgg19 \(mis-shaped features.0.weight: \(64, 1, 3, 3\) instead of \(64, 3, 3, 3\)\)"):
        create_backbone("vgg19", weights=str(path))


def test_imagenet_offline_fails_with_a_helpful_message(monkeypatch):
    monkeypatch.setenv("STST_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        create_backbone("vgg19", weights="imagenet")
    message = str(info.value)
    assert "vgg19.tv_in1k.safetensors" in message and str(stst_core.cache_dir()) in message
    assert "weights=<its path>" in message and "weights='random'" in message


def test_imagenet_without_network_names_the_url(monkeypatch):
    # a closed loopback port stands in for an unreachable hub
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(WeightsError, match=r"could not download vgg19.imagenet \(http://127.0.0.1:9/timm/vgg19.tv_in1k"):
        create_backbone("vgg19", weights="imagenet")


def test_imagenet_download_through_the_hub_url(file_server, monkeypatch):
    folder, base, requests = file_server
    state = _timm_state()
    target = folder / "timm" / "vgg19.tv_in1k" / "resolve" / "128d4708565b3a414bcbb9bbad440b2fe37b9f18"
    target.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(target / "model.safetensors"))
    digest = hashlib.sha256((target / "model.safetensors").read_bytes()).hexdigest()
    fake = stst_vgg.IMAGENET.__class__(**{**stst_vgg.IMAGENET.__dict__, "sha256": digest})
    monkeypatch.setattr(stst_vgg, "IMAGENET", fake)
    monkeypatch.setattr(stst_vgg.VGG19, "weights_choices", (stst_vgg.WeightsChoice("imagenet", "test", file=fake),) + stst_vgg.VGG19.weights_choices[1:])
    monkeypatch.setenv("HF_ENDPOINT", base)
    net = create_backbone("vgg19", weights="imagenet")
    assert net.card.weights == "imagenet"
    torch.testing.assert_close(net.features.state_dict()["0.weight"], state["features.0.weight"])
    assert (stst_core.cache_dir() / "vgg19.tv_in1k.safetensors").is_file()
    assert len(requests) == 1


def test_normalisations():
    x = torch.rand(1, 3, 1, 8, 8)
    imagenet = create_backbone("vgg19", weights="random")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(imagenet.normalize(x), (x - mean) / std)
    caffe = create_backbone("vgg19", weights="random", normalization="caffe")
    expected = torch.stack([x[:, 2] * 255 - 103.939, x[:, 1] * 255 - 116.779, x[:, 0] * 255 - 123.68], dim=1)
    torch.testing.assert_close(caffe.normalize(x), expected)
    assert caffe.card.extra["normalization"] == "caffe"


def test_average_pooling_variant():
    net = create_backbone("vgg19", weights="random", pooling="avg")
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.features)
    x = torch.rand(1, 3, 1, 16, 16)
    pooled = net(x, ["relu1_2", "pool1"])
    torch.testing.assert_close(pooled["pool1"][:, :, 0], torch.nn.functional.avg_pool2d(pooled["relu1_2"][:, :, 0], 2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weights": "imagenet21k"}, "unknown weights 'imagenet21k'.*imagenet, random or a path"),
        ({"weights": "random", "pooling": "min"}, "pooling must be one of 'max', 'avg'; got 'min'"),
        ({"weights": "random", "normalization": "bgr"}, "normalization must be one of 'imagenet', 'caffe', 'none'; got 'bgr'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(BackboneError, match=message):
        create_backbone("vgg19", **kwargs)


def test_bad_layer_and_input(vgg):
    with pytest.raises(BackboneError, match="no layer.*relu6_1.*its layers are: conv1_1"):
        vgg(torch.rand(1, 3, 1, 16, 16), ["relu6_1"])
    with pytest.raises(BackboneError, match=r"\(B, C, T, H, W\), got \(3, 16, 16\)"):
        vgg(torch.rand(3, 16, 16))
    with pytest.raises(BackboneError, match="RGB"):
        vgg(torch.rand(1, 1, 1, 16, 16))


def test_no_classifier_unless_asked_for(vgg):
    assert "logits" not in vgg.layers and vgg.card.classes == () and vgg.classifier is None


@pytest.mark.slow
def test_the_classifier_loads_from_torchvisions_layout_and_scores_like_timm(tmp_path):
    net = create_backbone("vgg19", weights="random", classifier=True, seed=2)
    assert net.layers["logits"].axes == "C" and len(net.card.classes) == 1000 and net.card.classes[0] == "tench, Tinca tinca"
    # torchvision's layout: fc6-fc8 as matrices under classifier.0/3/6
    own = net.classifier.state_dict()
    state = {f"features.{k}": v for k, v in net.features.state_dict().items()}
    for timm_name, tv_name in (("pre_logits.fc1", "classifier.0"), ("pre_logits.fc2", "classifier.3"), ("head.fc", "classifier.6")):
        state[f"{tv_name}.weight"] = own[f"{timm_name}.weight"].reshape(own[f"{timm_name}.weight"].shape[0], -1)
        state[f"{tv_name}.bias"] = own[f"{timm_name}.bias"]
    torch.save(state, tmp_path / "vgg19-tv.pth")
    loaded = create_backbone("vgg19", weights=str(tmp_path / "vgg19-tv.pth"), classifier=True)
    clip = torch.rand(2, 3, 2, 64, 64, generator=torch.Generator().manual_seed(0))
    logits = loaded(clip, ["logits"])["logits"]
    torch.testing.assert_close(logits, net(clip, ["logits"])["logits"], rtol=0, atol=0)
    reference = timm.create_model("vgg19", pretrained=False).eval()
    reference.load_state_dict({**{f"features.{k}": v for k, v in net.features.state_dict().items()}, **own})
    with torch.no_grad():
        frames = net.normalize(clip).transpose(1, 2).reshape(4, 3, 64, 64)
        torch.testing.assert_close(logits, reference(frames).reshape(2, 2, 1000).mean(dim=1), rtol=1e-5, atol=1e-5)
    # features only: a clear error when the classifier is asked for
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, tmp_path / "features.pth")
    with pytest.raises(WeightsError, match="has no VGG-19 classifier"):
        create_backbone("vgg19", weights=str(tmp_path / "features.pth"), classifier=True)
