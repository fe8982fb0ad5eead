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
``keras``
    Keras' ImageNet weights (``keras.applications.VGG19``, the file
    ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, md5-checked): the
    spatial network of the STST reference implementation (Greco & Siegel
    2024). Trained on Caffe-preprocessed input, so normalised as Caffe does:
    ×255, RGB→BGR, minus the BGR mean (103.939, 116.779, 123.68).
``random``
    timm's initialisation under the seed given to :func:`create_backbone`.
a file path
    ``.safetensors`` or a ``torch.save`` state dict, with keys in timm's or
    torchvision's layout (``features.0.weight`` …) or named by layer
    (``conv1_1.weight`` …, as in the Gatys et al. PyTorch port); or a Keras
    VGG-19 weights file (``.h5``, the notop file or the with-top one, whose
    classifier is ignored), normalised as ``keras``. Other Caffe-converted
    weights need ``normalization="caffe"``.

``normalization="auto"`` (the default) normalises as the weights need:
Caffe's for Keras weights, ImageNet's for all others (random ones included);
``"imagenet"``, ``"caffe"`` or ``"none"`` overrides it. The card's
``normalization`` option records the one used.
"""

from __future__ import annotations

from typing import Literal, Sequence

import timm
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
    fold_time,
    hookimpl,
    unfold_time,
)

from ._keras import KERAS_NOTOP, is_keras_file, read_keras_vgg19

IMAGENET = WeightsFile(
    name="vgg19.imagenet",
    filename="vgg19.tv_in1k.safetensors",
    urls=("{hf_endpoint}/timm/vgg19.tv_in1k/resolve/128d4708565b3a414bcbb9bbad440b2fe37b9f18/model.safetensors",),
    sha256="11aea017b543ff59233749d8f1cf544cda749378f5790d2fedab841fb86b7669",
    licence="BSD-3-Clause",
    size_bytes=574_673_361,
)

# keras.applications.VGG19(weights="imagenet", include_top=False): Keras checks it by this md5
KERAS = WeightsFile(
    name="vgg19.keras",
    filename=KERAS_NOTOP,
    urls=(
        f"https://storage.googleapis.com/tensorflow/keras-applications/vgg19/{KERAS_NOTOP}",
        f"https://github.com/fchollet/deep-learning-models/releases/download/v0.1/{KERAS_NOTOP}",
    ),
    sha256=None,
    md5="253f8cb515780f3b799900260a226db6",
    licence="CC-BY-4.0",  # ported by Keras from the Oxford VGG group's release
    size_bytes=80_134_624,
)

# the ``normalization`` option: imagenet for timm/torchvision weights, caffe for Caffe/Keras-converted ones
NORMALIZATIONS = {"imagenet": Normalization.IMAGENET, "caffe": Normalization.CAFFE, "none": Normalization.NONE}
# torchvision's names of fc6, fc7 and fc8 (timm's pre_logits.fc1, pre_logits.fc2, head.fc)
TORCHVISION_CLASSIFIER = {"pre_logits.fc1": "classifier.0", "pre_logits.fc2": "classifier.3", "head.fc": "classifier.6"}


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
    """VGG-19 convolutional layers, frame by frame, with ImageNet (timm's or Keras'), random or file weights."""

    paper = "Simonyan & Zisserman (2015). Very Deep Convolutional Networks for Large-Scale Image Recognition. ICLR. arXiv:1409.1556"
    licence = "architecture: timm (Apache-2.0); imagenet weights: torchvision (BSD-3-Clause); keras weights: Oxford VGG via Keras (CC-BY-4.0)"
    weights_choices = (
        WeightsChoice(
            "imagenet",
            "timm vgg19.tv_in1k: torchvision's ImageNet-1k weights (downloaded once, cached)",
            "BSD-3-Clause",
            IMAGENET,
            hint="torchvision's vgg19-dcbb9e9d.pth state dict works too: pass weights=<its path>.",
        ),
        WeightsChoice(
            "keras",
            "Keras applications' VGG-19 ImageNet weights, the STST reference's spatial network (downloaded once, cached; Caffe normalisation)",
            "CC-BY-4.0",
            KERAS,
            hint=f"Keras' own copy works too: pass weights=~/.keras/models/{KERAS_NOTOP}.",
        ),
        WeightsChoice("random", "timm's random initialisation (He normal, fan-out) under the given seed"),
    )
    default_weights = "imagenet"
    normalization = Normalization.IMAGENET
    weights_help = "Expected keys like 'features.0.weight' (timm/torchvision) or 'conv1_1.weight' (named by layer), or a Keras VGG-19 .h5 file."
    temporal_window = 1
    min_size = 32  # five 2×2 poolings

    def __init__(
        self,
        weights: str | None = None,
        *,
        pooling: Literal["max", "avg"] = "max",
        normalization: Literal["auto", "imagenet", "caffe", "none"] = "auto",  # auto, or a key of NORMALIZATIONS
        classifier: bool = False,
    ):
        if classifier and weights == "keras":  # refused before the download
            raise BackboneError(_KERAS_CLASSIFIER)
        resolved = weights if isinstance(weights, ResolvedWeights) else self.resolve_weights(weights)
        keras = resolved.path is not None and is_keras_file(resolved.path)
        if keras and classifier:
            raise BackboneError(_KERAS_CLASSIFIER)
        if normalization == "auto":
            # Keras' weights were trained on Caffe's BGR input, timm's and torchvision's on ImageNet-normalised RGB
            normalization = "caffe" if keras else "imagenet"

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
                extra={"pooling": pooling, "normalization": normalization, **({"classifier": "True"} if classifier else {})},
                classes=classes,
            ),
            layers=layers,
            default_layers=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
            weights=resolved,
            normalization=NORMALIZATIONS[normalization],
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
        self._names = names
        self.load_weights(read_keras_vgg19(resolved.path) if keras else None)

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

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The features from timm's/torchvision's layout (``features.N.*``), by bare index (``N.*``) or by layer name (``conv1_1.*``);
        the classifier (with ``classifier=True`` only) from timm's layout (``pre_logits.fc1`` …) or torchvision's
        (``classifier.0/3/6``, fc6 as a matrix). Other keys (a classifier nobody asked for) are left out."""
        loaded = {}
        for key in self.features.state_dict():
            index, param = key.split(".")
            for candidate in (f"features.{key}", key, f"{self._names[int(index)]}.{param}"):
                if candidate in state:
                    loaded[f"features.{key}"] = state[candidate]
                    break
        if self.classifier is None:
            return loaded
        own = self.classifier.state_dict()
        for key, value in own.items():
            layer, param = key.rsplit(".", 1)
            for candidate in (key, f"classifier.{key}", f"{TORCHVISION_CLASSIFIER[layer]}.{param}"):
                if candidate in state:
                    tensor = state[candidate]
                    loaded[f"classifier.{key}"] = tensor.reshape(value.shape) if tensor.numel() == value.numel() else tensor
                    break
        missing = [key for key in own if f"classifier.{key}" not in loaded]
        if missing:
            raise WeightsError(
                f"{self.resolved_weights.source} has no VGG-19 classifier (missing {', '.join(missing[:3])}); "
                "build the backbone without classifier=True, or give a file with timm's or torchvision's classifier keys"
            )
        return loaded


_KERAS_CLASSIFIER = (
    "vgg19: Keras weights give the convolutional layers only (the classifier of Keras' with-top file is not read); "
    "build the backbone without classifier=True, or use weights='imagenet' (or torchvision's file) for the classifier"
)


def _initialize_like_timm(modules) -> None:
    """timm's VGG initialisation: He normal (fan-out) for convolutions, N(0, 0.01) for linear layers; zero biases."""
    for module in modules:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


@hookimpl
def stst_register_backbones(register):
    register("vgg19", VGG19)
