"""Occlusion masks for recovery and inpainting: which entries of a video are hidden, read from a file or generated.

A mask here is a boolean tensor ``(T, H, W)``, True where a pixel is
occluded (all three channels together), as the reference's masks say with 1.

Files: the reference's MATLAB files (variable ``masks``, ``(H, W, T, C)``,
1 = occluded), ``.npy``/``.npz`` arrays ``(T, H, W)`` or ``(T, H, W, C)``
(nonzero = occluded; an ``.npz`` holds one array, or one named ``mask``),
and folders of images (one per frame in name order; bright = occluded).
Generated: ``salt-and-pepper`` (a ``ratio`` of each frame's pixels, drawn
without replacement), ``region`` (one square of ``ratio`` of the frame's area
per frame, at a random position in each) and ``missing-frames`` (a ``ratio``
of the frames, drawn at random, wholly occluded), from a seed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from stst_core import ConfigError, Video

MASK_TYPES = ("salt-and-pepper", "region", "missing-frames")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def read_mask(path: str | Path, shape: tuple[int, int, int], *, start: int = 0, stride: int = 1) -> torch.Tensor:
    """The mask in ``path`` for a video of ``shape`` ``(T, H, W)``, checked to fit.

    A mask with more frames than the video is taken to cover the whole source
    video: its frames ``start, start + stride, ...`` are kept, as the video's
    were. A mask of another frame size is resized to the video's
    (nearest neighbour, each axis on its own): the reference draws its masks on
    frames squashed to a square (``boats_mask128.mat`` for a 320x240 clip).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such mask file or folder")
    if path.is_dir():
        values = _read_image_folder(path)
    elif path.suffix.lower() == ".mat":
        values = _read_mat(path)
    elif path.suffix.lower() in (".npy", ".npz"):
        values = _read_array(path)
    else:
        raise ConfigError(f"{path}: a mask is a .mat, .npy or .npz file or a folder of images, not {path.suffix or 'a file without suffix'}")
    frames, height, width = shape
    if len(values) != frames:
        last = start + (frames - 1) * stride
        if len(values) <= last:
            raise ConfigError(
                f"{path}: the mask has {len(values)} frames but the video {frames}"
                + (f" (frames {start}..{last} of the source)" if start or stride > 1 else "")
                + f"; read fewer frames (--frames {len(values)}) or give a mask of every frame"
            )
        values = values[start : last + 1 : stride]
    mask = torch.from_numpy(np.ascontiguousarray(values))
    if mask.shape[1:] != (height, width):
        mask = torch.nn.functional.interpolate(mask[None].float(), size=(height, width), mode="nearest")[0] > 0.5
    return check_mask(mask, str(path))


def mask_video(mask: torch.Tensor, fps: float, channels: int = 3) -> Video:
    """A mask ``(T, H, W)`` as a video target (1 = occluded in every channel), the form a synthesizer's targets take."""
    return Video(mask[None].expand(channels, *mask.shape).float().contiguous(), fps=fps, source="mask")


def mask_of(video: Video) -> torch.Tensor:
    """The boolean mask ``(T, H, W)`` of a mask video (:func:`mask_video`)."""
    return video.frames.amax(dim=0) > 0.5


def _read_mat(path: Path) -> np.ndarray:
    from scipy.io import loadmat

    try:
        contents = loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises several kinds for a file that is not MATLAB's
        raise ConfigError(f"{path} is not a readable MATLAB file ({exc})") from None
    arrays = {k: v for k, v in contents.items() if not k.startswith("__")}
    if "masks" not in arrays:
        raise ConfigError(f"{path} has no variable 'masks' (the reference's name); it has {', '.join(arrays) or 'none'}")
    values = np.asarray(arrays["masks"])
    if values.ndim == 3:
        values = values[..., None]
    if values.ndim != 4:
        raise ConfigError(f"{path}: 'masks' should be (H, W, T, C), got shape {values.shape}")
    return (values != 0).any(axis=3).transpose(2, 0, 1)  # (H, W, T, C) → (T, H, W)


def _read_array(path: Path) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{path} is not a readable NumPy file ({exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        names = loaded.files
        if len(names) != 1 and "mask" not in names:
            raise ConfigError(f"{path} holds {', '.join(names)}; name the mask's array 'mask' or store only it")
        values = loaded["mask" if "mask" in names else names[0]]
    else:
        values = loaded
    if values.ndim == 4:
        values = (values != 0).any(axis=3)
    if values.ndim != 3:
        raise ConfigError(f"{path}: a mask array is (T, H, W) or (T, H, W, C), got shape {values.shape}")
    return values != 0


def _read_image_folder(path: Path) -> np.ndarray:
    from PIL import Image

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise ConfigError(f"{path}: no mask images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    frames = [np.asarray(Image.open(f).convert("L")) >= 128 for f in files]
    if len({f.shape for f in frames}) > 1:
        raise ConfigError(f"{path}: the mask images differ in size")
    return np.stack(frames)


def generate_mask(kind: str, shape: tuple[int, int, int], *, ratio: float = 0.5, seed: int = 0) -> torch.Tensor:
    """A ``kind`` mask (:data:`MASK_TYPES`) for ``shape`` ``(T, H, W)`` occluding about ``ratio`` of the video, from ``seed``."""
    if kind not in MASK_TYPES:
        raise ConfigError(f"unknown mask type {kind!r}; choose {', '.join(MASK_TYPES)}")
    if not 0 < ratio < 1:
        raise ConfigError(f"the mask ratio must lie strictly between 0 and 1, got {ratio}")
    frames, height, width = shape
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(shape, dtype=torch.bool)
    if kind == "salt-and-pepper":
        count = round(ratio * height * width)
        for t in range(frames):
            mask[t].view(-1)[torch.randperm(height * width, generator=generator)[:count]] = True
    elif kind == "region":
        side = max(1, min(height, width, round(math.sqrt(ratio * height * width))))
        for t in range(frames):
            y = int(torch.randint(0, height - side + 1, (1,), generator=generator))
            x = int(torch.randint(0, width - side + 1, (1,), generator=generator))
            mask[t, y : y + side, x : x + side] = True
    else:
        count = max(1, round(ratio * frames))
        mask[torch.randperm(frames, generator=generator)[:count]] = True
    return check_mask(mask, f"the generated {kind} mask")


def check_mask(mask: torch.Tensor, what: str) -> torch.Tensor:
    """``mask`` if it occludes something and leaves something visible; a clear error otherwise."""
    if not bool(mask.any()):
        raise ConfigError(f"{what} occludes no pixel: there is nothing to recover")
    if bool(mask.all()):
        raise ConfigError(f"{what} occludes every pixel: nothing is left to learn from")
    return mask
