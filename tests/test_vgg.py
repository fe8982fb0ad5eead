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
        ({"weights": "imagenet21k"}, "unknown weights 'imagenet21k'.*imagenet, keras, random or a path"),
        ({"weights": "random", "pooling": "min"}, "pooling must be one of 'max', 'avg'; got 'min'"),
        ({"weights": "random", "normalization": "bgr"}, "normalization must be one of 'auto', 'imagenet', 'caffe', 'none'; got 'bgr'"),
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


# -- Keras' weights (the STST reference's VGG-19): h5 files in both naming conventions, the download ------------

KERAS_LAYERS = ["input_1"] + [
    name for block, convs in enumerate((2, 2, 4, 4, 4), start=1) for name in [*(f"block{block}_conv{i}" for i in range(1, convs + 1)), f"block{block}_pool"]
]


def write_keras_vgg19(path, convention="keras2", *, seed=0, top=False, drop=(), reshape=None, whole_model=False):
    """A VGG-19 weights file as Keras writes it, with random values; returns ``{block1_conv1: (kernel, bias)}`` as written.

    ``convention``: ``"2016"`` names the datasets as the 2016 release does
    (``block1_conv1_W_1:0``), ``"keras2"`` as later Keras (``block1_conv1/kernel:0``).
    ``top`` adds the with-top file's classifier layers (placeholder shapes: they
    are never read); ``drop`` leaves conv layers out and ``reshape`` gives one
    kernel the wrong shape, for the error messages. ``whole_model`` puts the
    weights under ``model_weights``, as ``model.save`` does.
    """
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    written, channels_in = {}, 3
    layers = KERAS_LAYERS + (["flatten", "fc1", "fc2", "predictions"] if top else [])
    with h5py.File(path, "w") as file:
        handle = file.create_group("model_weights") if whole_model else file
        handle.attrs["layer_names"] = [name.encode() for name in layers if name not in drop]
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.0.0" if convention == "keras2" else b"1.1.0"
        for name in layers:
            if name in drop:
                continue
            group = handle.create_group(name)
            if "_conv" not in name and name not in ("fc1", "fc2", "predictions"):
                group.attrs["weight_names"] = []
                continue
            if name.startswith("block"):
                out = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}[int(name[5])]
                kernel_shape = reshape[1] if reshape and reshape[0] == name else (3, 3, channels_in, out)
                kernel = (rng.standard_normal(kernel_shape) * 0.05).astype(np.float32)
                bias = (rng.standard_normal(out) * 0.1).astype(np.float32)
                written[name] = (kernel, bias)
                channels_in = out
            else:
                kernel, bias = np.zeros((4, 2), np.float32), np.zeros(2, np.float32)
            names = [f"{name}_W_1:0", f"{name}_b_1:0"] if convention == "2016" else [f"{name}/kernel:0", f"{name}/bias:0"]
            group.attrs["weight_names"] = [n.encode() for n in names]
            group.create_dataset(names[0], data=kernel)
            group.create_dataset(names[1], data=bias)
    return written


def caffe_by_hand(x):
    """Caffe's preprocessing of [0, 1] RGB, written out: ×255, channels reversed to BGR, minus the BGR mean."""
    bgr = x.flip(1) * 255
    return bgr - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1, 1)


@pytest.mark.parametrize("convention, whole_model", [("2016", False), ("keras2", False), ("keras2", True)])
def test_keras_h5_weights_land_on_their_layers_with_caffe_normalisation(tmp_path, convention, whole_model):
    path = tmp_path / "vgg19_keras.h5"
    written = write_keras_vgg19(path, convention, seed=3, whole_model=whole_model)
    net = create_backbone("vgg19", weights=str(path))
    assert net.card.weights == f"file:{path}"
    assert net.card.extra["normalization"] == "caffe"
    assert net.card.input_normalization == stst_core.Normalization.CAFFE.description
    assert len(written) == 16
    for keras_name, (kernel, bias) in written.items():
        block, index = keras_name.removeprefix("block").split("_conv")
        conv = net.features[net._index[f"conv{block}_{index}"]]
        torch.testing.assert_close(conv.weight, torch.from_numpy(kernel).permute(3, 2, 0, 1), rtol=0, atol=0)
        torch.testing.assert_close(conv.bias, torch.from_numpy(bias), rtol=0, atol=0)


def test_keras_features_equal_conv1_1_by_hand_on_caffe_input(tmp_path):
    path = tmp_path / "vgg19_keras.h5"
    kernel, bias = write_keras_vgg19(path, seed=4)["block1_conv1"]
    net = create_backbone("vgg19", weights=str(path))
    frame = torch.rand(1, 3, 1, 6, 5, generator=torch.Generator().manual_seed(0))
    got = net(frame, ["conv1_1", "relu1_1"])
    # TensorFlow's (kh, kw, in, out) kernel as torch's (out, in, kh, kw); Keras' "same" padding is 1 for 3×3
    expected = torch.nn.functional.conv2d(caffe_by_hand(frame)[:, :, 0], torch.from_numpy(kernel).permute(3, 2, 0, 1), torch.from_numpy(bias), padding=1)
    torch.testing.assert_close(got["conv1_1"][:, :, 0], expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(got["relu1_1"][:, :, 0], expected.clamp_min(0), rtol=1e-5, atol=1e-4)
    # the channels really are reversed: BGR input, so the kernel's first input channel sees blue
    blue = torch.zeros(1, 3, 1, 3, 3)
    blue[:, 2] = 1
    centre = net(blue, ["conv1_1"])["conv1_1"][0, :, 0, 1, 1]
    bgr = torch.tensor([255 - 103.939, -116.779, -123.68])
    torch.testing.assert_close(centre, torch.einsum("hwio,i->o", torch.from_numpy(kernel), bgr) + torch.from_numpy(bias), rtol=1e-5, atol=1e-3)


def test_an_explicit_normalisation_wins_over_the_keras_default(tmp_path):
    path = tmp_path / "vgg19_keras.h5"
    write_keras_vgg19(path)
    net = create_backbone("vgg19", weights=str(path), normalization="imagenet")
    assert net.card.extra["normalization"] == "imagenet"
    assert net.card.input_normalization == stst_core.Normalization.IMAGENET.description
    assert create_backbone("vgg19", weights="random").card.extra["normalization"] == "imagenet"  # "auto" is ImageNet's for other weights


def test_the_with_top_file_loads_its_convolutions_and_refuses_the_classifier(tmp_path):
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels.h5"
    written = write_keras_vgg19(path, "2016", top=True)
    net = create_backbone("vgg19", weights=str(path))
    torch.testing.assert_close(net.features[net._index["conv5_4"]].bias, torch.from_numpy(written["block5_conv4"][1]), rtol=0, atol=0)
    with pytest.raises(BackboneError, match="Keras weights give the convolutional layers only.*without classifier=True"):
        create_backbone("vgg19", weights=str(path), classifier=True)
    with pytest.raises(BackboneError, match="Keras weights give the convolutional layers only"):
        create_backbone("vgg19", weights="keras", classifier=True)  # refused before any download


def test_a_keras_file_that_is_not_vgg19_names_what_is_missing_and_wrong(tmp_path):
    import h5py

    path = tmp_path / "other.h5"
    write_keras_vgg19(path, drop=("block5_conv3", "block5_conv4"), reshape=("block3_conv2", (3, 3, 128, 256)))
    with pytest.raises(WeightsError) as info:
        create_backbone("vgg19", weights=str(path))
    message = str(info.value)
    assert "is not Keras' VGG-19" in message and "missing layers block5_conv3, block5_conv4" in message
    assert "block3_conv2: kernel (3, 3, 128, 256), bias (256,) instead of (3, 3, 256, 256), (256,)" in message
    assert "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    with h5py.File(tmp_path / "plain.h5", "w") as handle:
        handle.create_dataset("x", data=[1.0])
    with pytest.raises(WeightsError, match="not Keras weights \\(no 'layer_names' attribute"):
        create_backbone("vgg19", weights=str(tmp_path / "plain.h5"))
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="could not read .*junk.h5 as an HDF5 file"):
        create_backbone("vgg19", weights=str(tmp_path / "junk.h5"))


def test_the_keras_tag_names_the_published_file_and_its_md5(monkeypatch):
    assert stst_vgg.VGG19.weights_choice("keras").file is stst_vgg.KERAS
    assert stst_vgg.KERAS.filename == "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert stst_vgg.KERAS.urls[0] == "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    monkeypatch.setenv("STST_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        create_backbone("vgg19", weights="keras")
    message = str(info.value)
    assert str(stst_core.cache_dir() / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5") in message
    assert "md5 253f8cb515780f3b799900260a226db6" in message and "~/.keras/models/" in message


@pytest.fixture
def served_keras_vgg19(file_server, monkeypatch):
    """vgg19's ``keras`` weights pointed at a loopback server holding a random Keras-layout file.

    Yields ``(written, md5, use)``: the tensors written, the file's md5, and
    ``use(md5)``, which points the tag at the served file checked by that md5.
    """
    folder, base, requests = file_server
    name = stst_vgg.KERAS.filename
    written = write_keras_vgg19(folder / name, "2016", seed=5)
    md5 = hashlib.md5((folder / name).read_bytes()).hexdigest()

    def use(expected):
        served = stst_core.WeightsFile("vgg19.keras", name, (f"{base}/missing/{name}", f"{base}/{name}"), None, md5=expected)
        real = stst_vgg.VGG19.weights_choice("keras")
        choices = tuple(stst_vgg.WeightsChoice("keras", real.description, file=served) if c.tag == "keras" else c for c in stst_vgg.VGG19.weights_choices)
        monkeypatch.setattr(stst_vgg.VGG19, "weights_choices", choices)
        return requests

    return written, md5, use


def test_keras_weights_download_verified_by_their_md5(served_keras_vgg19):
    written, md5, use = served_keras_vgg19
    requests = use(md5)
    net = create_backbone("vgg19", weights="keras")
    assert net.card.weights == "keras" and net.card.source.endswith("/missing/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert net.card.extra["normalization"] == "caffe"
    torch.testing.assert_close(net.features[0].weight, torch.from_numpy(written["block1_conv1"][0]).permute(3, 2, 0, 1), rtol=0, atol=0)
    cached = stst_core.cache_dir() / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert hashlib.md5(cached.read_bytes()).hexdigest() == md5
    create_backbone("vgg19", weights="keras")  # from the cache: no second download
    assert requests == ["/missing/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"]


def test_keras_weights_whose_md5_differs_are_refused(served_keras_vgg19):
    _, md5, use = served_keras_vgg19
    use("0" * 32)
    with pytest.raises(WeightsError, match=f"checksum mismatch: got md5 {md5}, expected {'0' * 32}"):
        create_backbone("vgg19", weights="keras")
    assert not any(stst_core.cache_dir().iterdir())
