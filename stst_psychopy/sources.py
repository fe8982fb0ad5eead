"""What a :class:`~stst_psychopy.DynamicStim` can play, turned into 8-bit frames.

A stimulus store (the folder a synthesizer writes), a video file, a folder of
frame images, a ``.npy``/``.npz`` array file, an in-memory array
``(T, H, W, C)`` or ``(T, H, W)`` (integers in 0-255, or float in [0, 1]), or a
:class:`stst_core.Video`. Displays show 8 bits per channel, so frames are
quantised to uint8 once, here, rather than on every upload.

The toolkit's core (and with it torch) is imported only when a file has to be
read, so that PsychoPy sessions that merely activate the plugin stay fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import StimulusError, positive_number

__all__ = ["Frames", "load_frames"]


@dataclass
class Frames:
    """Frames ready to become textures.

    Attributes
    ----------
    pixels : numpy.ndarray
        ``(T, H, W, C)`` uint8, ``C`` 3 (RGB) or 4 (RGBA); row 0 is the top.
    fps : float or None
        The frame rate of the source (None for arrays given without one).
    source : str
        Where the frames came from, for logs and error messages.
    """

    pixels: np.ndarray
    fps: float | None
    source: str

    @property
    def n_frames(self) -> int:
        return self.pixels.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels, PsychoPy's order."""
        return self.pixels.shape[2], self.pixels.shape[1]


def load_frames(stimulus, fps: float | None = None) -> Frames:
    """Read or check a stimulus and return its frames as uint8.

    Parameters
    ----------
    stimulus : str, os.PathLike, numpy.ndarray, torch.Tensor, stst_core.Video or Frames
        A stimulus store, a video file, a folder of frames, an array file,
        or frames in memory (see the module documentation).
    fps : float, optional
        Play at this rate instead of the source's; required for in-memory
        arrays, which carry no rate.

    Returns
    -------
    Frames

    Raises
    ------
    StimulusError
        Missing or unreadable file, a store that is not finished, an array of
        the wrong shape, type or range, or no frame rate.
    """
    if stimulus is None or (isinstance(stimulus, str) and stimulus.strip() in ("", "None")):
        raise StimulusError("no stimulus given: pass a stimulus store, a video file or an array (T, H, W, C)")
    if isinstance(stimulus, Frames):
        frames = stimulus
    elif isinstance(stimulus, (str, os.PathLike)):
        frames = _read_path(Path(stimulus))
    elif hasattr(stimulus, "frames") and hasattr(stimulus, "fps") and hasattr(stimulus, "to_uint8"):
        frames = Frames(
            _rgb(stimulus.to_uint8()),
            float(stimulus.fps),
            str(stimulus.source or "video"),
        )
    elif hasattr(stimulus, "__array__") or isinstance(stimulus, (list, tuple)):
        frames = Frames(_check_array(stimulus), None, f"array {tuple(np.shape(stimulus))}")
    else:
        raise StimulusError(f"cannot play a {type(stimulus).__name__}: pass a stimulus store, a video file, a folder of frames or an array (T, H, W, C)")
    if fps is not None:
        frames = Frames(frames.pixels, positive_number(f"{frames.source}: fps", fps), frames.source)
    if frames.fps is None:
        raise StimulusError(f"{frames.source} carries no frame rate: pass fps= (frames per second)")
    return frames


def _read_path(path: Path) -> Frames:
    if not path.exists():
        raise StimulusError(f"{path}: no such file or folder (relative paths start from {Path.cwd()})")
    from stst_core import StimulusStore, STSTError, is_store, read_video

    if path.is_dir() and (path / "zarr.json").is_file():
        if not is_store(path):
            raise StimulusError(f"{path} is a Zarr group but not a stimulus store (no attribute stst_store='stimulus')")
        store = StimulusStore(path)
        if not store.complete:
            attrs = store.attrs
            raise StimulusError(
                f"{path}: the stimulus store is {store.status!r}, not complete "
                f"({store.units_done} of {store.units_total} {store.unit}s done"
                + (f": {attrs['message']}" if attrs.get("message") else "")
                + "); run the same `stst synth` command again to finish it"
            )
        video = store.video()
    else:
        try:
            video = read_video(path)
        except STSTError as exc:
            raise StimulusError(str(exc)) from exc
    return Frames(_rgb(video.to_uint8()), float(video.fps), str(path))


def _check_array(array) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    shape = tuple(array.shape)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
        hint = ""
        if array.ndim == 4 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3, 4):
            hint = "; this looks like (C, T, H, W): pass array.transpose(1, 2, 3, 0)"
        raise StimulusError(
            f"frames must be an array of shape (T, H, W, C) with C = 1 (grey), 3 (RGB) or 4 (RGBA), or (T, H, W) for grey, got shape {shape}{hint}"
        )
    if min(array.shape[:3]) < 1:
        raise StimulusError(f"frames must not be empty, got shape {shape}")
    if array.dtype == np.uint8:
        pixels = array
    elif np.issubdtype(array.dtype, np.integer):
        # other integer types (nested lists of ints, e.g. a serialised stimulus) mean 0-255 too
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise StimulusError(f"integer frames must lie in 0-255, got values from {low} to {high} (for [0, 1] values use a float dtype)")
        pixels = array.astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise StimulusError("frames hold NaN or infinite values (an unfinished stimulus?)")
        low, high = float(array.min()), float(array.max())
        if low < -1e-6 or high > 1 + 1e-6:
            raise StimulusError(f"float frames must lie in [0, 1], got values from {low:.4g} to {high:.4g} (for 0-255 values use dtype uint8)")
        pixels = np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
    else:
        raise StimulusError(f"frames must be integers in 0-255 (uint8) or float in [0, 1], got dtype {array.dtype}")
    return _rgb(pixels)


def _rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.shape[-1] == 1:  # grey: replicated, so every frame takes the same (RGB) texture path
        pixels = np.repeat(pixels, 3, axis=-1)
    return np.ascontiguousarray(pixels)
