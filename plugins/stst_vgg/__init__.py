"""VGG-19 (Simonyan & Zisserman 2015) through timm, applied frame by frame.

Layers are addressed by their usual names: ``conv1_1`` … ``conv5_4``,
``relu1_1`` … ``relu5_4`` and ``pool1`` … ``pool5``. Each output has axes
``CTHW``: the network sees every frame of the clip on its own.

With ``classifier=True`` the network keeps its classifier (fc6, fc7 and fc8,
as timm's ``pre_logits`` and ``head``), and declares ``fc7`` (``CT``: the
4096 features per frame that the last layer sees) and ``logits`` (``C``: the
1000 ImageNet class scores before the softmax, averaged over the frames); the
card names the classes and the classifier's weights load with the rest (from
timm's layout, or torchvision's ``classifier.0/3/6``). It is off by default:
its 123 million parameters (0.5 GB) are never used by style and texture
losses. Frames other than 224×224 are pooled to fc6's 7×7 input as timm does.

Weights:

``imagenet`` (default)
    timm's ``vgg19.tv_in1k`` (torchvision's ImageNet-1k weights) from the
    Hugging Face hub, cached; normalised with ImageNet mean and std.
``random``
    timm's initialisation under the seed given to :func:`create_backbone`.
a file path
    ``.safetensors`` or a ``torch.save`` state dict, with keys in timm's or
    torchvision's layout (``features.0.weight`` …) or named by layer
    (``conv1_1.weight`` …, as in the Gatys et al. PyTorch port). Caffe-converted
    weights need ``normalization="caffe"``.
"""

from __future__ import annotations

from typing import Sequence

import timm
import torch
from torch import nn

from stst_core import (
    Backbone,
    BackboneCard,
    BackboneError,
    LayerSpec,
    WeightsChoice,
    WeightsError,
    WeightsFile,
    fetch,
    fold_time,
    hookimpl,
    is_weights_path,
    load_state_dict,
    unfold_time,
)

IMAGENET = WeightsFile(
    name="vgg19.imagenet",
    filename="vgg19.tv_in1k.safetensors",
    urls=("{hf_endpoint}/timm/vgg19.tv_in1k/resolve/128d4708565b3a414bcbb9bbad440b2fe37b9f18/model.safetensors",),
    sha256="11aea017b543ff59233749d8f1cf544cda749378f5790d2fedab841fb86b7669",
    licence="BSD-3-Clause",
    size_bytes=574_673_361,
)

# Input normalisations, as (scale, channel order, mean, std) applied to [0, 1] RGB.
NORMALIZATIONS = {
    "imagenet": "ImageNet mean/std on [0,1] RGB (torchvision, timm)",
    "caffe": "×255, RGB→BGR, minus the BGR mean (103.939, 116.779, 123.68) (Caffe, Keras)",
    "none": "none: [0,1] RGB as given",
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _layer_names(features: nn.Sequential) -> list[str]:
    """Name each module of VGG's feature stack: conv{block}_{i}, relu{block}_{i}, pool{block}."""
    names, block, index = [], 1, 0
    for module in features:
        if isinstance(module, nn.Conv2d):
            index += 1
            names.append(f"conv{block}_{index}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{index}")
        else:
            names.append(f"pool{block}")
            block, index = block + 1, 0
    return names


class VGG19(Backbone):
    """VGG-19 convolutional layers, frame by frame, with ImageNet, random or file weights."""

    paper = "Simonyan & Zisserman (2015). Very Deep Convolutional Networks for Large-Scale Image Recognition. ICLR. arXiv:1409.1556"
    licence = "architecture: timm (Apache-2.0); imagenet weights: torchvision (BSD-3-Clause)"
    weights_choices = (
        WeightsChoice("imagenet", "timm vgg19.tv_in1k: torchvision's ImageNet-1k weights (downloaded once, cached)", "BSD-3-Clause", IMAGENET),
        WeightsChoice("random", "timm's random initialisation under the given seed"),
    )
    default_weights = "imagenet"
    temporal_window = 1
    min_size = 32  # five 2×2 poolings

    def __init__(self, weights: str | None = None, *, pooling: str = "max", normalization: str | None = None, classifier: bool = False):
        weights = weights or self.default_weights
        if pooling not in ("max", "avg"):
            raise BackboneError(f"vgg19: pooling must be 'max' or 'avg', got {pooling!r}")
        if normalization is not None and normalization not in NORMALIZATIONS:
            raise BackboneError(f"vgg19: normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")

        # Built on the meta device so that the 120M-parameter classifier, which no
        # layer here uses, is never allocated; only the feature stack is materialised.
        model = timm.create_model("vgg19", pretrained=False, device="meta")
        features = model.features.to_empty(device="cpu")
        _initialize_like_timm(features)
        names = _layer_names(features)
        modules = []
        for module in features:
            if isinstance(module, nn.ReLU):
                module = nn.ReLU(inplace=False)  # in-place ReLU would overwrite the conv outputs we return
            elif isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(kernel_size=2, stride=2)  # Gatys et al.'s texture variant
            modules.append(module)

        if is_weights_path(weights):
            source, tag = str(weights), f"file:{weights}"
            state = load_state_dict(weights)
        else:
            choice = self.weights_choice(weights)
            tag, source, state = choice.tag, "timm default initialisation", None
            if choice.file is not None:
                state = load_state_dict(_fetch_imagenet())
                source = f"timm/vgg19.tv_in1k ({IMAGENET.resolved_urls()[0]})"
        normalization = normalization or "imagenet"

        channels = {}
        for name, module in zip(names, modules):
            if isinstance(module, nn.Conv2d):
                current = module.out_channels
            channels[name] = current
        layers = [LayerSpec(n, "CTHW", channels[n]) for n in names]
        classes: tuple[str, ...] = ()
        if classifier:
            from timm.data import ImageNetInfo

            imagenet = ImageNetInfo("imagenet-1k")
            classes = tuple(imagenet.index_to_description(i) for i in range(1000))
            layers += [
                LayerSpec("fc7", "CT", 4096, "fc7 after its ReLU, per frame: what the last layer sees"),
                LayerSpec("logits", "C", 1000, "fc8: ImageNet class scores before the softmax, averaged over the frames"),
            ]
        super().__init__(
            card=BackboneCard(
                name="vgg19",
                weights=tag,
                source=source,
                licence=self.licence,
                paper=self.paper,
                input_normalization=NORMALIZATIONS[normalization],
                extra={"pooling": pooling, "normalization": normalization, **({"classifier": "True"} if classifier else {})},
                classes=classes,
            ),
            layers=layers,
            default_layers=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
        )
        self.features = nn.Sequential(*modules)
        self.classifier = None
        if classifier:
            # fc6/fc7 as convolutions (timm's ConvMlp) and fc8 after a global average
            self.classifier = nn.ModuleDict({"pre_logits": model.pre_logits, "head": model.head}).to_empty(device="cpu")
            for module in self.classifier.modules():
                if isinstance(module, nn.ReLU):
                    module.inplace = False
            _initialize_like_timm(self.classifier.modules())
        self._index = {name: i for i, name in enumerate(names)}
        self.normalization = normalization
        if state is not None:
            self._load_features(state, names, source)
            if self.classifier is not None:
                self._load_classifier(state, source)
        if normalization == "imagenet":
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), persistent=False)
        elif normalization == "caffe":
            # the mean is given in BGR; it is subtracted after the channels are flipped
            self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1, 1), persistent=False)
            self.register_buffer("std", torch.ones(1, 3, 1, 1, 1), persistent=False)

    def normalize(self, video: torch.Tensor) -> torch.Tensor:
        if self.normalization == "imagenet":
            return (video - self.mean) / self.std
        if self.normalization == "caffe":
            return video.flip(1) * 255.0 - self.mean
        return video

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        head = [name for name in ("fc7", "logits") if name in layers]
        wanted = {self._index[name]: name for name in layers if name in self._index}
        x = fold_time(video)
        outputs = {}
        # stop at the deepest requested layer: later layers cost time and memory for nothing
        for i in range(len(self.features) if head else max(wanted) + 1):
            x = self.features[i](x)
            if i in wanted:
                outputs[wanted[i]] = unfold_time(x, video.shape[0])
        if head:
            batch, frames = video.shape[0], video.shape[2]
            features = self.classifier["pre_logits"](x)  # (B·T, 4096, h, w)
            if "fc7" in head:
                outputs["fc7"] = features.mean(dim=(2, 3)).reshape(batch, frames, -1).transpose(1, 2)
            if "logits" in head:
                outputs["logits"] = self.classifier["head"](features).reshape(batch, frames, -1).mean(dim=1)
        return outputs

    def _load_classifier(self, state: dict[str, torch.Tensor], source: str) -> None:
        """fc6–fc8 from timm's layout (``pre_logits.fc1`` …) or torchvision's (``classifier.0/3/6``, fc6 as a matrix)."""
        torchvision_names = {"pre_logits.fc1": "classifier.0", "pre_logits.fc2": "classifier.3", "head.fc": "classifier.6"}
        own = self.classifier.state_dict()
        loaded = {}
        for key, value in own.items():
            layer, param = key.rsplit(".", 1)
            for candidate in (key, f"classifier.{key}", f"{torchvision_names[layer]}.{param}"):
                if candidate in state:
                    loaded[key] = state[candidate].float().reshape(value.shape) if state[candidate].numel() == value.numel() else state[candidate]
                    break
        missing = [key for key in own if key not in loaded]
        if missing:
            raise WeightsError(
                f"{source} has no VGG-19 classifier (missing {', '.join(missing[:3])}); "
                "build the backbone without classifier=True, or give a file with timm's or torchvision's classifier keys"
            )
        wrong = [f"{k}: {tuple(loaded[k].shape)} instead of {tuple(own[k].shape)}" for k in own if loaded[k].shape != own[k].shape]
        if wrong:
            raise WeightsError(f"{source} has a classifier that does not fit VGG-19's: {'; '.join(wrong[:3])}")
        self.classifier.load_state_dict(loaded)

    def _load_features(self, state: dict[str, torch.Tensor], names: list[str], source: str) -> None:
        """Copy the conv weights from a timm/torchvision (``features.N.*``) or named (``conv1_1.*``) state dict."""
        own = self.features.state_dict()
        loaded = {}
        for key in own:
            index, param = key.split(".")
            for candidate in (f"features.{key}", key, f"{names[int(index)]}.{param}"):
                if candidate in state:
                    loaded[key] = state[candidate]
                    break
        missing = [f"features.{k}" for k in own if k not in loaded]
        if missing:
            raise WeightsError(
                f"{source} is not a VGG-19 state dict: missing {', '.join(missing[:4])}{'…' if len(missing) > 4 else ''}. "
                "Expected keys like 'features.0.weight' (timm/torchvision) or 'conv1_1.weight'."
            )
        wrong = [f"{k}: {tuple(loaded[k].shape)} instead of {tuple(own[k].shape)}" for k in own if loaded[k].shape != own[k].shape]
        if wrong:
            raise WeightsError(f"{source} does not fit VGG-19: {'; '.join(wrong[:3])}")
        self.features.load_state_dict({k: v.float() for k, v in loaded.items()})


def _initialize_like_timm(modules) -> None:
    """timm's VGG initialisation: He normal (fan-out) for convolutions, N(0, 0.01) for linear layers; zero biases."""
    for module in modules:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


def _fetch_imagenet():
    try:
        return fetch(IMAGENET)
    except WeightsError as exc:
        raise WeightsError(
            f"vgg19 weights='imagenet' are unavailable: {exc} "
            "torchvision's vgg19-dcbb9e9d.pth state dict works too: pass weights=<its path>. "
            "For a run without any download use weights='random'."
        ) from None


@hookimpl
def stst_register_backbones(register):
    register("vgg19", VGG19)
