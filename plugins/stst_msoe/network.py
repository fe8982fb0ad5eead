"""The multiscale oriented-energy network (MSOE) of Tesfaldet et al. (2018), in PyTorch.

A faithful port of the reference TensorFlow graph (``dyn_model/MSOEnet.py`` in
antoninogreco/STST), which works on one pair of grey frames:

1. contrast normalisation over the pair: ``(x - mean) / sqrt(var + 1e-12)``;
2. a 5-level Gaussian pyramid (5×5 kernel, σ = 2, stride 2, symmetric padding);
3. at every level, with weights shared across levels: a 2×11×11 convolution to
   32 channels (valid in time, symmetric spatial padding of 5), squaring, a
   5×5 max pool with stride 1, a 1×1 convolution to 64 channels and an L1
   normalisation over channels;
4. every level bilinearly upsampled to full size and concatenated: 320 channels
   (half-pixel centres as TF2's ``tf.image.resize``, or, with
   ``upsampling="tf1_legacy"``, TF1's ``ResizeBilinear`` without them, as the
   frozen graph of Tesfaldet et al.);
5. a flow decoder: 3×3 convolution 320→64, ReLU, 1×1 convolution 64→2.

Because the temporal kernel spans exactly the two frames, the 2×11×11
convolution is computed as a 2-D convolution with the frames as input channels
(same numbers, faster on CPUs).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NUM_SCALES = 5
FILTERS = 32
CHANNELS = 64
KERNEL = 11
UPSAMPLINGS = ("half_pixel", "tf1_legacy")


def symmetric_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two axes by mirroring with the edge repeated (TensorFlow's ``SYMMETRIC``).

    Unlike TensorFlow it also works when ``pad`` exceeds the size, by continuing
    the mirror periodically, so small inputs do not fail at coarse pyramid levels.
    """
    if pad == 0:
        return x
    for axis in (-2, -1):
        size = x.shape[axis]
        index = torch.arange(-pad, size + pad, device=x.device) % (2 * size)
        index = torch.where(index < size, index, 2 * size - 1 - index)
        x = x.index_select(axis, index)
    return x


@functools.lru_cache(maxsize=64)
def bilinear_matrix(size_in: int, size_out: int, upsampling: str = "half_pixel") -> torch.Tensor:
    """``(size_out, size_in)``: each output position's weights on the inputs, for bilinear resizing along one axis.

    ``"half_pixel"``: the source of output ``i`` is ``(i + ½)·s − ½`` with
    ``s = size_in/size_out`` (TF2's ``tf.image.resize``, PyTorch's
    ``align_corners=False``); ``"tf1_legacy"``: ``i·s`` (TF1's
    ``ResizeBilinear(align_corners=False)`` without ``half_pixel_centers``,
    which shifts the image by half an input pixel towards the origin).
    Sources below 0 or beyond the last input are clamped to the edge. As a
    matrix, the resize is a matrix product, whose gradient is deterministic
    on every device (PyTorch's bilinear backward on CUDA is not). Float64
    on the CPU, computed once per size (cached: MSOE meets the same sizes at
    every step); do not modify it in place.
    """
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"upsampling must be one of {', '.join(UPSAMPLINGS)}, got {upsampling!r}")
    position = torch.arange(size_out, dtype=torch.float64)
    scale = size_in / size_out
    source = ((position + 0.5) * scale - 0.5 if upsampling == "half_pixel" else position * scale).clamp(0, size_in - 1)
    lower = source.floor().long()
    upper = (lower + 1).clamp(max=size_in - 1)
    fraction = source - lower
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    rows = torch.arange(size_out)
    matrix.index_put_((rows, lower), 1 - fraction, accumulate=True)
    matrix.index_put_((rows, upper), fraction, accumulate=True)
    return matrix


def upsample(x: torch.Tensor, size: tuple[int, int], upsampling: str = "half_pixel") -> torch.Tensor:
    """Bilinear resize of ``(N, C, h, w)`` to ``size`` as two matrix products (see :func:`bilinear_matrix`)."""
    rows = bilinear_matrix(x.shape[-2], size[0], upsampling).to(device=x.device, dtype=x.dtype)
    columns = bilinear_matrix(x.shape[-1], size[1], upsampling).to(device=x.device, dtype=x.dtype)
    return rows @ x @ columns.T


def contrast_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample standardisation over all non-batch axes (population variance, as ``tf.nn.moments``)."""
    dims = tuple(range(1, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)


def gaussian_kernel(size: int = 5, sigma: float = 2.0) -> torch.Tensor:
    """MATLAB's ``fspecial('gaussian', [size size], sigma)``, as the reference builds it."""
    half = (size - 1) / 2.0
    y, x = np.ogrid[-half : half + 1, -half : half + 1]
    kernel = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return torch.from_numpy(kernel / kernel.sum()).float()


class MSOENet(nn.Module):
    """The MSOE network on frame pairs ``(N, 2, H, W)`` (previous, current), grey, any scale.

    ``forward`` returns the per-level energies (each ``(N, 64, h_s, w_s)``), the
    full-resolution concatenation ``(N, 320, H, W)`` and, when asked, the
    decoded flow ``(N, 2, H, W)``. ``decoder=False`` leaves the flow decoder
    out (weights that have none: the analytic ones); ``upsampling`` is how
    the coarse levels reach full size (:func:`bilinear_matrix`).
    """

    def __init__(self, decoder: bool = True, upsampling: str = "half_pixel") -> None:
        super().__init__()
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {', '.join(UPSAMPLINGS)}, got {upsampling!r}")
        self.upsampling = upsampling
        self.conv1 = nn.Conv2d(2, FILTERS, KERNEL)  # the 2×11×11 spatiotemporal filters
        self.conv2 = nn.Conv2d(FILTERS, CHANNELS, 1)
        self.decoder = decoder
        if decoder:
            self.conv3 = nn.Conv2d(NUM_SCALES * CHANNELS, 64, 3)
            self.conv4 = nn.Conv2d(64, 2, 1)
        self.register_buffer("blur", gaussian_kernel().view(1, 1, 5, 5), persistent=False)

    def oriented_energy(self, pair: torch.Tensor) -> torch.Tensor:
        """One pyramid level: filter, square, pool, combine, L1-normalise."""
        energy = self.conv1(symmetric_pad(pair, KERNEL // 2)).square()
        # a 5×5 max is a 1×5 max of 5×1 maxima: the same values at 2/5 of the work
        energy = F.max_pool2d(F.max_pool2d(energy, (5, 1), stride=1, padding=(2, 0)), (1, 5), stride=1, padding=(0, 2))
        energy = self.conv2(energy)
        return energy / energy.abs().sum(dim=1, keepdim=True).clamp_min(1e-12)

    def downsample(self, pair: torch.Tensor) -> torch.Tensor:
        n, frames, h, w = pair.shape
        blurred = F.conv2d(symmetric_pad(pair.reshape(n * frames, 1, h, w), 2), self.blur, stride=2)
        return blurred.reshape(n, frames, *blurred.shape[-2:])

    def forward(self, pair: torch.Tensor, decode: bool = False) -> dict[str, torch.Tensor]:
        level = contrast_normalize(pair)
        size = level.shape[-2:]
        outputs, upsampled = {}, []
        for scale in range(NUM_SCALES):
            if scale:
                level = self.downsample(level)
            energy = self.oriented_energy(level)
            outputs[f"scale{scale}"] = energy
            upsampled.append(energy if scale == 0 else upsample(energy, tuple(size), self.upsampling))
        outputs["concat"] = torch.cat(upsampled, dim=1)
        if decode:
            if not self.decoder:
                raise ValueError("this MSOENet has no flow decoder (built with decoder=False)")
            hidden = F.relu(self.conv3(symmetric_pad(outputs["concat"], 1)))
            outputs["flow"] = self.conv4(hidden)
        return outputs


REFERENCE_KEYS = frozenset(f"conv{i}_{p}" for i in range(1, 5) for p in "wb")


def reference_state_dict(arrays: dict[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
    """:class:`MSOENet`'s state dict from the reference ``.npz`` layout (TensorFlow ``T, H, W, Cin, Cout``; arrays ``conv1_w`` … ``conv4_b``)."""

    def conv(name: str, spatial_only: bool) -> torch.Tensor:
        w = torch.as_tensor(np.asarray(arrays[name]), dtype=torch.float32)
        w = w.permute(4, 3, 0, 1, 2)  # → (Cout, Cin, T, H, W)
        # frames become input channels for conv1; other layers have T = 1
        return w.squeeze(2) if spatial_only else w[:, 0]

    state = {
        "conv1.weight": conv("conv1_w", spatial_only=False),
        "conv2.weight": conv("conv2_w", spatial_only=True),
        "conv3.weight": conv("conv3_w", spatial_only=True),
        "conv4.weight": conv("conv4_w", spatial_only=True),
    }
    for i in range(1, 5):
        state[f"conv{i}.bias"] = torch.as_tensor(np.asarray(arrays[f"conv{i}_b"]), dtype=torch.float32)
    # the reference decoder gives (dx, -dy): y pointing up. Negating its second
    # output gives (dx, dy) with y down, the image convention of OpenCV's flow.
    state["conv4.weight"][1] *= -1
    state["conv4.bias"][1] *= -1
    return state
