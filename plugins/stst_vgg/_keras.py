"""Keras' VGG-19 weights (``keras.applications.VGG19``) read from their HDF5 file into the backbone's layer names.

A Keras weights file lists its layers in the root attribute ``layer_names``;
each layer is a group whose attribute ``weight_names`` lists its datasets in
order. The names of the datasets changed between Keras releases
(``block1_conv1_W_1:0`` in the 2016 files, ``block1_conv1/kernel:0`` later),
so a convolution's tensors are told apart by their shapes: the 4-D one is the
kernel, in TensorFlow's ``(kh, kw, in, out)`` order, and the 1-D one the bias.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from stst_core import WeightsError

# VGG-19's convolutions per block and their output channels
BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))
# the name of the file keras.applications.VGG19(include_top=False) downloads
KERAS_NOTOP = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_SUFFIXES = (".h5", ".hdf5")


def conv_shapes() -> dict[str, tuple[tuple[int, int, int, int], tuple[int]]]:
    """Keras' name of each convolution (``block1_conv1``) and the shapes of its kernel (TensorFlow order) and bias."""
    shapes, channels_in = {}, 3
    for block, (convs, channels) in enumerate(BLOCKS, start=1):
        for index in range(1, convs + 1):
            shapes[f"block{block}_conv{index}"] = ((3, 3, channels_in, channels), (channels,))
            channels_in = channels
    return shapes


def is_keras_file(path: Path) -> bool:
    """Whether ``path`` is to be read as Keras weights: named ``.h5``/``.hdf5``, or an HDF5 file by its signature."""
    return path.suffix.lower() in KERAS_SUFFIXES or (path.is_file() and h5py.is_hdf5(path))


def read_keras_vgg19(path: str | Path) -> dict[str, torch.Tensor]:
    """The convolutions of a Keras VGG-19 weights file as a state dict named by layer (``conv1_1.weight`` …, torch's order).

    Keras' ``block{b}_conv{i}`` becomes ``conv{b}_{i}``; kernels go from
    ``(kh, kw, in, out)`` to ``(out, in, kh, kw)``. Other layers (the input,
    the poolings, and the classifier ``fc1``, ``fc2`` and ``predictions`` of a
    with-top file) are ignored.

    Raises
    ------
    WeightsError
        For a file that is not a Keras weights file, or not VGG-19's: the
        message lists every missing layer and every tensor of the wrong shape.
    """
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise WeightsError(f"could not read {path} as an HDF5 file ({exc}); give Keras' VGG-19 weights file, e.g. {KERAS_NOTOP}") from exc
    with handle:
        # a whole saved model (model.save) keeps the weights under model_weights
        root = handle["model_weights"] if "model_weights" in handle and "layer_names" not in handle.attrs else handle
        if "layer_names" not in root.attrs:
            raise WeightsError(
                f"{path} is an HDF5 file but not Keras weights (no 'layer_names' attribute at its root); "
                f"give the file keras.applications.VGG19 downloads ({KERAS_NOTOP}) or one saved by model.save_weights"
            )
        layers = {_text(name) for name in root.attrs["layer_names"]}
        missing, wrong, state = [], [], {}
        for keras_name, (kernel_shape, bias_shape) in conv_shapes().items():
            if keras_name not in layers or keras_name not in root:
                missing.append(keras_name)
                continue
            group = root[keras_name]
            tensors = [np.asarray(group[_text(name)]) for name in group.attrs.get("weight_names", [])]
            kernels = [t for t in tensors if t.ndim == 4]
            biases = [t for t in tensors if t.ndim == 1]
            if len(kernels) != 1 or len(biases) != 1:
                found = ", ".join(str(t.shape) for t in tensors) or "no weights"
                wrong.append(f"{keras_name}: {found} instead of a kernel {kernel_shape} and a bias {bias_shape}")
                continue
            kernel, bias = kernels[0], biases[0]
            if kernel.shape != kernel_shape or bias.shape != bias_shape:
                wrong.append(f"{keras_name}: kernel {kernel.shape}, bias {bias.shape} instead of {kernel_shape}, {bias_shape}")
                continue
            name = "conv" + keras_name.removeprefix("block").replace("_conv", "_")
            state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            state[f"{name}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    if missing or wrong:
        problems = ([f"missing layers {', '.join(missing)}"] if missing else []) + ([f"wrong shapes: {'; '.join(wrong)}"] if wrong else [])
        raise WeightsError(
            f"{path} is not Keras' VGG-19 ({'; '.join(problems)}). Expected the layers block1_conv1 … block5_conv4 "
            f"with kernels (3, 3, in, out) and biases (out,), as in {KERAS_NOTOP} (the with-top file works too)."
        )
    return state


def _text(value: bytes | str) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)
