"""Videos in memory and on disk.

A :class:`Video` holds frames as one float32 tensor of shape ``(C, T, H, W)``
with values in [0, 1], together with its frame rate. :func:`read_video` turns
video files, folders of frame images and NumPy arrays into that layout;
:func:`write_video` writes it back out.

Formats
-------
- ``mp4``: H.264 through PyAV; lossy (``crf``, ``pixel_format``), tagged
  BT.709, limited range.
- ``mkv``: FFV1, lossless RGB (8 bits per channel). ``.avi .mov .webm .m4v``
  files are read the same way (their formats are named after the suffix)
  but not written.
- ``gif``: a 256-colour palette per frame, delays in hundredths of a second.
- ``png-dir``: a folder of ``.png``/``.jpg``/``.jpeg`` frames; written as
  ``frame_00000.png``, ... (lossless) with the frame rate in ``meta.json``.
- ``npz``: float32 ``frames`` ``(T, H, W, C)`` and ``fps``; lossless.
- ``npy``: float32 ``(T, H, W, C)``; lossless, without the frame rate.

Colour
------
Frames are RGB as displays show them (sRGB-like, not linear light). H.264
stores YUV: the RGB-to-YUV matrix is BT.709, and the file says so (colour
primaries, transfer and matrix BT.709, limited range), so that players and
:func:`read_video` convert back with the same matrix. Files are read with the
matrix and range they declare; untagged YUV is read as BT.601, limited
range, as FFmpeg does (and as this toolkit wrote mp4 before it tagged them).

Frame rates
-----------
Video files keep the rate of their stream. Folders and arrays carry no
timing of their own beyond ``meta.json`` or an ``fps`` entry in ``.npz``
files, so ``read_video(..., fps=)`` sets their rate and overrides those
entries; it does not apply to video files, whose rate is part of the file.
GIF stores a delay per frame in hundredths of a second, so a GIF plays at
``100 / round(100 / fps)`` frames per second (30 fps becomes 33.3), and at
most 50 (viewers slow shorter delays down to 10 fps).
"""

from __future__ import annotations

import base64
import errno
import html
import io
import itertools
import json
import math
import numbers
import os
import re
import sys
import zipfile
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from av.video.reformatter import ColorRange, Colorspace, Interpolation
from PIL import Image

from stst_core._device import check_memory
from stst_core._errors import VideoError
from stst_core._files import atomic_folder, atomic_output

__all__ = ["Video", "read_video", "write_video", "video_format"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif")
ARRAY_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
WRITABLE_FORMATS = ("mp4", "mkv", "gif", "png-dir", "npz", "npy")
LOSSLESS_FORMATS = ("mkv", "png-dir", "npz", "npy")
PIXEL_FORMATS = ("yuv420p", "yuv444p")
DEFAULT_FPS = 25.0
DEFAULT_CRF = 18

# Why each lossy format cannot keep frames exactly: error messages give the reason.
_LOSSY_BECAUSE = {
    "mp4": "H.264 stores YUV, which cannot hold every 8-bit RGB value",
    "gif": "GIF keeps 256 colours per frame",
}

# AVColorSpace codes of a stream → the matrix swscale converts with. Unspecified
# (2) and unknown codes fall back to BT.601, FFmpeg's own default.
_MATRICES = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,
    6: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
    10: Colorspace.BT2020,
}
# BT.709 codes of AVColorPrimaries, AVColorTransferCharacteristic and AVColorSpace.
_BT709 = 1
_RGB_MATRIX = 0  # AVCOL_SPC_RGB: the planes are R, G and B themselves
# swscale's default YUV→RGB path rounds coarsely and interpolates chroma
# horizontally only, up to 1.3 levels off on average; these flags make it
# match the matrix to within the chroma interpolation (0.3 levels).
_TO_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
# Area averaging for the half-resolution chroma of 4:2:0 halves the round-trip error of bilinear.
_TO_YUV = Interpolation.AREA | Interpolation.ACCURATE_RND

# What a notebook shows of a video (Video._repr_html_): an animated PNG no
# larger than this, so that a long or large clip does not bloat the notebook.
_PREVIEW_SIDE = 256  # longest side, pixels; smaller videos are shown enlarged, not resampled
_PREVIEW_BYTES = 4_000_000  # uncompressed RGB of all frames shown; frames are skipped beyond it
_PREVIEW_MIN_DISPLAY = 192  # displayed size (CSS pixels) of the longer side of small videos

# Only names that write_video itself produces, so that stale frames of an
# earlier, longer video can be told apart from a user's own images.
_FRAME_NAME = re.compile(r"frame_(\d{5,})\.png")
_META_NAME = "meta.json"


@dataclass(repr=False)  # the generated repr would print every value of the tensor
class Video:
    """Frames and frame rate: the toolkit's one in-memory video layout.

    Parameters
    ----------
    frames : torch.Tensor
        Shape ``(C, T, H, W)``, float32, values in [0, 1]; ``C`` is 3 (RGB)
        or 1 (grey). Use :meth:`from_array` to build one from other layouts.
    fps : float
        Frames per second.
    source : str, optional
        Where the frames came from (a path or a description); error
        messages name it.

    Raises
    ------
    VideoError
        If ``frames`` is not a 4-D float32 tensor with 1 or 3 channels and at
        least one frame, or ``fps`` is not a positive number.

    Notes
    -----
    ``repr(video)`` is one line (shape, rate, duration, dtype, device and
    range of values), and a Jupyter notebook shows a video as an animation
    that plays at its frame rate: an animated PNG (lossless) of at most
    256 pixels on the longer side and 4 MB of pixels, skipping frames
    beyond that (the caption says so).

    Examples
    --------
    >>> video = Video(torch.zeros(3, 8, 32, 48), fps=30)
    >>> video.shape, video.duration
    ((3, 8, 32, 48), 0.26666666666666666)
    >>> video.batch().shape
    torch.Size([1, 3, 8, 32, 48])
    >>> video
    Video(3x8x32x48 CxTxHxW, 30 fps, 0.267 s, float32 on cpu, values in [0, 0])
    """

    frames: torch.Tensor
    fps: float
    source: str | None = None

    def __post_init__(self):
        where = self.source or "video"
        if not isinstance(self.frames, torch.Tensor):
            raise VideoError(f"{where}: frames must be a torch.Tensor, not {type(self.frames).__name__}; use Video.from_array for arrays")
        if self.frames.ndim != 4 or self.frames.dtype != torch.float32:
            raise VideoError(
                f"{where}: frames must be a float32 tensor of shape (C, T, H, W), got "
                f"{self.frames.dtype} of shape {tuple(self.frames.shape)}; "
                "use Video.from_array to convert"
            )
        channels, num_frames, height, width = self.frames.shape
        if channels not in (1, 3):
            raise VideoError(f"{where}: frames must have 1 (grey) or 3 (RGB) channels, got {channels}")
        if num_frames < 1:
            raise VideoError(f"{where}: no frames")
        if height < 1 or width < 1:
            raise VideoError(f"{where}: frames are empty ({height}x{width} pixels)")
        self.fps = _check_fps(self.fps, where)

    def __repr__(self) -> str:
        frames = self.frames.detach()
        low, high = (float(v) for v in torch.aminmax(frames))
        source = f", source={self.source!r}" if self.source else ""
        shape = "x".join(str(n) for n in self.shape)
        return f"Video({shape} CxTxHxW, {self.fps:g} fps, {self.duration:.3g} s, {str(frames.dtype).removeprefix('torch.')} on {frames.device}, values in [{low:.3g}, {high:.3g}]{source})"

    def _repr_html_(self) -> str:
        """The video as an animation in a notebook (Jupyter calls this), with its repr as the caption."""
        preview, notes = self._preview()
        data = base64.b64encode(_animated_png(preview)).decode("ascii")
        # small videos are enlarged by a whole factor, pixels kept square and sharp
        zoom = max(1, _PREVIEW_MIN_DISPLAY // max(preview.height, preview.width))
        caption = html.escape(repr(self)) + "".join(f"<br>{html.escape(note)}" for note in notes)
        return (
            f'<figure style="margin: 0"><img src="data:image/png;base64,{data}" width="{preview.width * zoom}" '
            f'height="{preview.height * zoom}" style="image-rendering: pixelated" alt="video">'
            f'<figcaption style="font-family: monospace; font-size: smaller">{caption}</figcaption></figure>'
        )

    def _preview(self) -> tuple[Video, list[str]]:
        """The video shrunk to the preview's limits (:data:`_PREVIEW_SIDE`, :data:`_PREVIEW_BYTES`), and what was changed."""
        notes = []
        scale = min(1.0, _PREVIEW_SIDE / max(self.height, self.width))
        height, width = max(1, round(self.height * scale)), max(1, round(self.width * scale))
        stride = math.ceil(self.num_frames * height * width * 3 / _PREVIEW_BYTES)
        video = self
        if stride > 1:
            video = video.select(stride=stride)
            notes.append(f"1 frame in {stride} shown ({video.num_frames} of {self.num_frames}), at the real speed")
        if scale < 1:
            video = video.resized(_PREVIEW_SIDE)
            notes.append(f"shown at {video.height}x{video.width} pixels")
        return video, notes

    @property
    def channels(self) -> int:
        """Number of colour channels: 3 (RGB) or 1 (grey)."""
        return self.frames.shape[0]

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return self.frames.shape[1]

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return self.frames.shape[2]

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return self.frames.shape[3]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(C, T, H, W)``."""
        return tuple(self.frames.shape)

    @property
    def duration(self) -> float:
        """Playing time in seconds: ``num_frames / fps``."""
        return self.num_frames / self.fps

    def batch(self) -> torch.Tensor:
        """The frames as a batch of one, ``(1, C, T, H, W)``: the layout models take.

        Examples
        --------
        >>> Video(torch.zeros(3, 4, 8, 8), fps=25).batch().shape
        torch.Size([1, 3, 4, 8, 8])
        """
        return self.frames.unsqueeze(0)

    def to_uint8(self) -> np.ndarray:
        """The frames as a NumPy array ``(T, H, W, C)`` of uint8, rounded to nearest.

        Values outside [0, 1] are clipped.

        Examples
        --------
        >>> Video(torch.full((3, 2, 4, 4), 0.5), fps=25).to_uint8()[0, 0, 0]
        array([128, 128, 128], dtype=uint8)
        """
        frames = self.frames.detach().cpu().clamp(0, 1).mul(255).round().to(torch.uint8)
        return frames.permute(1, 2, 3, 0).contiguous().numpy()

    @classmethod
    def from_array(cls, array, fps: float, source: str | None = None) -> Video:
        """Build a video from a NumPy array or tensor in a common layout.

        Parameters
        ----------
        array : numpy.ndarray or torch.Tensor
            ``(T, H, W, C)``, ``(T, H, W)`` (grey) or ``(C, T, H, W)``, with
            ``C`` 1 or 3; uint8 (0-255) or floating point in [0, 1]. The
            channel axis is taken to be the last one when it has 1 or 3
            entries, else the first.
        fps : float
            Frames per second.
        source : str, optional
            Where the array came from, for error messages.

        Returns
        -------
        Video
            Grey stays grey (``C = 1``); values become float32. A contiguous
            float32 ``(C, T, H, W)`` tensor is used as is, without a copy.

        Raises
        ------
        VideoError
            On another shape or dtype, or float values outside [0, 1].

        Examples
        --------
        >>> frames = np.zeros((8, 32, 48, 3), dtype=np.uint8)
        >>> Video.from_array(frames, fps=30).shape
        (3, 8, 32, 48)
        >>> Video.from_array(torch.rand(8, 32, 48), fps=30).shape
        (1, 8, 32, 48)
        """
        where = source or "array"
        if not isinstance(array, torch.Tensor):
            array = np.asarray(array)
            try:
                # torch wraps only writable memory: a memory-mapped file, say, is copied.
                array = torch.from_numpy(array if array.flags.writeable else array.copy())
            except TypeError as exc:
                raise VideoError(f"{where}: not a numeric array ({exc})") from exc
        if array.dtype != torch.uint8 and not array.is_floating_point():
            raise VideoError(f"{where}: frames must be uint8 or float in [0, 1], not {array.dtype}")
        frames = array.unsqueeze(-1) if array.ndim == 3 else array
        if frames.ndim == 4 and frames.shape[-1] in (1, 3):
            frames = frames.permute(3, 0, 1, 2)
        elif frames.ndim != 4 or frames.shape[0] not in (1, 3):
            raise VideoError(
                f"{where}: expected frames of shape (T, H, W, C), (T, H, W) or (C, T, H, W) with C = 1 (grey) or 3 (RGB), got {tuple(array.shape)}"
            )
        # One pass that converts and lays out (C, T, H, W) contiguously.
        frames = frames.to(torch.float32, memory_format=torch.contiguous_format)
        if array.dtype == torch.uint8:
            frames.div_(255)
        elif not bool(((frames >= 0) & (frames <= 1)).all()):
            raise VideoError(f"{where}: float frames must lie in [0, 1] (and not be NaN); divide 0-255 values by 255")
        return cls(frames, fps, source)

    def select(self, start: int = 0, num_frames: int | None = None, stride: int = 1) -> Video:
        """Frames ``start, start + stride, ...``: at most ``num_frames`` of them.

        Parameters
        ----------
        start : int
            Index of the first frame kept.
        num_frames : int, optional
            Most frames kept; fewer when the video ends first. All by default.
        stride : int
            Step between kept frames; the frame rate is divided by it.

        Raises
        ------
        VideoError
            On negative ``start``, ``num_frames`` or ``stride`` below 1, or
            ``start`` past the last frame.

        Examples
        --------
        >>> video = Video(torch.rand(3, 8, 32, 48), fps=30)
        >>> clip = video.select(start=1, num_frames=3, stride=2)
        >>> clip.num_frames, clip.fps
        (3, 15.0)
        """
        where = self.source or "video"
        _check_selection(start, num_frames, stride, where)
        frames = self.frames[:, _frame_slice(self.num_frames, start, num_frames, stride, where)]
        return Video(frames, self.fps / stride, self.source)

    def resized(self, size: int) -> Video:
        """The video scaled so that its longer side is ``size`` pixels.

        The aspect ratio is kept, with both sides rounded to whole pixels (at
        least 1); the filter is bilinear with antialiasing.

        Examples
        --------
        >>> Video(torch.rand(3, 2, 720, 1280), fps=30).resized(128).shape
        (3, 2, 72, 128)
        """
        size = _check_int("size", size, 1, self.source or "video")
        scale = size / max(self.height, self.width)
        shape = (max(1, round(self.height * scale)), max(1, round(self.width * scale)))
        frames = F.interpolate(self.frames.transpose(0, 1), size=shape, mode="bilinear", antialias=True, align_corners=False)
        return Video(frames.transpose(0, 1), self.fps, self.source)

    def center_cropped(self, crop: int | tuple[int, int] | str) -> Video:
        """The central ``crop`` pixels of every frame.

        Parameters
        ----------
        crop : int, (int, int) or "square"
            ``(height, width)``, one number for a square, or ``"square"``:
            the largest central square (its side the shorter side).

        Raises
        ------
        VideoError
            If the crop is larger than the frame.

        Examples
        --------
        >>> Video(torch.rand(3, 2, 32, 48), fps=30).center_cropped(32).shape
        (3, 2, 32, 32)
        >>> Video(torch.rand(3, 2, 240, 320), fps=30).center_cropped("square").shape
        (3, 2, 240, 240)
        """
        where = self.source or "video"
        if _is_square(crop, where):
            crop = min(self.height, self.width)
        height, width = _crop_shape(crop, where)
        if height > self.height or width > self.width:
            raise VideoError(f"{where}: crop {height}x{width} is larger than the {self.height}x{self.width} frame (height x width); crop less, or resize first")
        top, left = (self.height - height) // 2, (self.width - width) // 2
        return Video(self.frames[:, :, top : top + height, left : left + width], self.fps, self.source)


def video_format(path) -> str:
    """The format of a video path: ``"mp4"``, ``"gif"``, ``"png-dir"``, ``"npz"``, ...

    An existing folder, or a path without a suffix that is not a file, is a
    ``"png-dir"`` (a folder of frames); a ``.png``/``.jpg``/``.jpeg`` file is an
    ``"image"`` (a still: a video of one frame); otherwise the suffix decides,
    and the format is its name (``"avi"``, ``"mov"``, ``"npy"``...).

    Raises
    ------
    VideoError
        If the suffix is not one of the supported ones.

    Examples
    --------
    >>> video_format("clips/walk.MP4"), video_format("clips/walk-frames")
    ('mp4', 'png-dir')
    """
    path = Path(path)
    if path.is_dir() or not (path.suffix or path.is_file()):
        return "png-dir"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix not in VIDEO_SUFFIXES + ARRAY_SUFFIXES:
        raise VideoError(
            f"{path}: unknown video format {path.suffix!r}; supported are "
            f"{' '.join(VIDEO_SUFFIXES + ARRAY_SUFFIXES + IMAGE_SUFFIXES)} and folders of "
            f"{'/'.join(IMAGE_SUFFIXES)} frames"
        )
    return suffix[1:]


def read_video(
    path,
    *,
    start: int = 0,
    num_frames: int | None = None,
    stride: int = 1,
    size: int | None = None,
    crop: int | tuple[int, int] | str | None = None,
    fps: float | None = None,
) -> Video:
    """Read a video file, a folder of frames or an array file as RGB.

    The frames are selected (``start``, ``num_frames``, ``stride``), then
    resized (``size``), then cropped (``crop``), in that order; only
    ``crop="square"`` comes before ``size``.

    Parameters
    ----------
    path : str or os.PathLike
        A video file (``.mp4 .avi .mov .mkv .webm .m4v .gif``), a folder of
        ``.png``/``.jpg``/``.jpeg`` frames in natural order (``frame_2``
        before ``frame_10``; other files are ignored), a single image
        (``.png``/``.jpg``/``.jpeg``: a still, read as one frame), a ``.npy``
        array ``(T, H, W, C)`` or ``(T, H, W)``, uint8 or float in [0, 1], or a
        ``.npz`` file holding such an array (under ``frames``, or as its only
        array) and optionally ``fps``.
    start, num_frames, stride : int
        Temporal selection, as in :meth:`Video.select`; only the frames up to
        the last one kept are decoded.
    size : int, optional
        Then scale so that the longer side is ``size`` (:meth:`Video.resized`).
    crop : int, (int, int) or "square", optional
        Then keep the central ``(height, width)``, or ``N`` by ``N``
        (:meth:`Video.center_cropped`), of the resized frames. ``"square"``
        instead keeps the central square of the frames as read (its side the
        shorter side), *before* ``size``: ``crop="square", size=256`` gives
        256×256 frames from any frame shape, as the two-stream reference
        (Tesfaldet et al. 2018) reads its input.
    fps : float, optional
        Frame rate of folders and array files, overriding ``meta.json`` and
        the ``fps`` of ``.npz`` files; default 25 where they have none. Video
        files always keep their own rate.

    Returns
    -------
    Video
        Float32 RGB frames ``(3, T, H, W)`` (grey is replicated); the frame
        rate is divided by ``stride``.

    Raises
    ------
    VideoError
        Naming the path, if it is missing, not a video, unreadable, holds no
        frames (or none from ``start`` on), holds frames of different sizes,
        or if an option is out of range.

    Examples
    --------
    >>> write_video(Video(torch.rand(3, 8, 32, 48), fps=30), "clip.npz")
    PosixPath('clip.npz')
    >>> read_video("clip.npz", num_frames=4, stride=2, size=24).shape
    (3, 4, 16, 24)
    >>> read_video("clip.npz", crop="square", size=24).shape
    (3, 8, 24, 24)
    """
    path = Path(path)
    where = str(path)
    # Options are checked before anything is decoded, so that a mistake costs no time.
    _check_selection(start, num_frames, stride, where)
    if size is not None:
        _check_int("size", size, 1, where)
    square = crop is not None and _is_square(crop, where)
    if crop is not None and not square:
        _crop_shape(crop, where)
    if fps is not None:
        _check_fps(fps, where)
    if not path.exists():
        raise VideoError(f"no such file or folder: {path}")

    fmt = video_format(path)
    if fmt == "png-dir":
        video = _read_frame_folder(path, start, num_frames, stride, fps)
    elif fmt == "image":
        video = _read_image(path, fps).select(start, num_frames, stride)
    elif fmt in ("npy", "npz"):
        video = _read_array_file(path, fps).select(start, num_frames, stride)
    else:
        video = _read_video_file(path, start, num_frames, stride)
    if square:  # before resizing: the square of the frame as read (a view, no copy)
        video = video.center_cropped("square")
    if size is not None:
        height, width = video.height, video.width
        scale = size / max(height, width)
        _check_fits(video.num_frames, (round(height * scale), round(width * scale)), f"{where} at --size {size}")
        video = video.resized(size)
    if crop is not None and not square:
        video = video.center_cropped(crop)
    if video.channels == 1:
        video = Video(video.frames.expand(3, -1, -1, -1).contiguous(), video.fps, video.source)
    return video


def write_video(
    video,
    path,
    *,
    fps: float | None = None,
    format: str | None = None,
    lossless: bool = False,
    crf: float | None = None,
    pixel_format: str | None = None,
) -> Path:
    """Write a video; the format follows from the path unless ``format`` is given.

    Parameters
    ----------
    video : Video, numpy.ndarray or torch.Tensor
        Arrays and tensors are taken as in :meth:`Video.from_array` and need
        ``fps``.
    path : str or os.PathLike
        Where to write; missing parent folders are created. Files are written
        to a temporary sibling first and then renamed, so that a failure
        never leaves a partial file under ``path``.
    fps : float, optional
        Frame rate; overrides that of a :class:`Video`.
    format : {"mp4", "mkv", "gif", "png-dir", "npz", "npy"}, optional
        Default: :func:`video_format` of ``path``.

        - ``mp4``: H.264 at quality ``crf``, colour as ``pixel_format``,
          converted with the BT.709 matrix and tagged BT.709 (primaries,
          transfer, matrix), limited range. The rate is stored as the
          nearest fraction with a denominator up to 1001, so 29.97,
          30000/1001 and 59.94 all survive. ``yuv420p`` needs even sizes:
          an odd height or width is padded by one row or column, repeating
          the edge, so the file is then one pixel taller or wider.
        - ``mkv``: FFV1, lossless: reading it back gives the frames rounded
          to 8 bits, exactly. RGB, tagged BT.709 primaries and transfer,
          full range; any size.
        - ``gif``: one 256-colour palette per frame, looping forever; the
          rate becomes ``100 / round(100 / fps)``, at most 50.
        - ``png-dir``: ``frame_00000.png``, ... and ``meta.json`` (the fps)
          in the folder ``path``; lossless (8 bits). The folder is written
          under a hidden name and then replaces an earlier export whole, so
          it is never half-written; a folder holding anything else is refused.
        - ``npz``: ``frames``, float32 ``(T, H, W, C)``, and ``fps``; lossless.
        - ``npy``: float32 ``(T, H, W, C)``; lossless, without the fps.
    lossless : bool
        Refuse a format that changes the frames (mp4, gif) instead of
        writing it: for when an exact copy matters.
    crf : float, optional
        mp4 only: H.264 constant rate factor, 0 to 51; lower is better and
        larger. Default 18 (visually lossless for most content).
    pixel_format : {"yuv420p", "yuv444p"}, optional
        mp4 only. ``yuv420p`` (the default) keeps colour at half the
        resolution and plays everywhere (browsers, QuickTime, phones,
        hardware decoders); ``yuv444p`` keeps colour at full resolution (with
        ``crf=0`` within 2 levels of 255 of the frames), but Safari,
        Firefox, QuickTime and most hardware decoders cannot play it;
        FFmpeg-based players (VLC, mpv, PsychoPy) can.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    VideoError
        Before anything is written: on an array without ``fps``, an
        unwritable format, ``lossless`` with a lossy format, ``crf`` or
        ``pixel_format`` for a format other than mp4, or values out of range;
        and on an encoder error.

    Examples
    --------
    >>> write_video(torch.rand(8, 32, 48, 3), "out/noise.mp4", fps=29.97)
    PosixPath('out/noise.mp4')
    >>> write_video(torch.rand(8, 33, 47, 3), "out/noise.mkv", fps=30, lossless=True)
    PosixPath('out/noise.mkv')
    """
    path = Path(path)
    if not isinstance(video, Video):
        if fps is None:
            raise VideoError(f"{path}: writing an array needs its frame rate: pass fps=")
        video = Video.from_array(video, fps, str(path))
    elif fps is not None:
        video = replace(video, fps=fps)
    fmt = format or video_format(path)
    if fmt not in WRITABLE_FORMATS:
        raise VideoError(f"{path}: cannot write format {fmt!r}; writable are {', '.join(WRITABLE_FORMATS)}")
    _check_encoding(path, fmt, lossless, crf, pixel_format)

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "mp4":
            _write_h264(video, path, DEFAULT_CRF if crf is None else crf, pixel_format or PIXEL_FORMATS[0])
        elif fmt == "mkv":
            _write_ffv1(video, path)
        elif fmt == "gif":
            _write_gif(video, path)
        elif fmt == "png-dir":
            _write_frame_folder(video, path)
        else:
            frames = video.frames.detach().cpu().permute(1, 2, 3, 0).contiguous().numpy()
            with atomic_output(path, ".part") as tmp, open(tmp, "wb") as file:
                if fmt == "npz":
                    np.savez(file, frames=frames, fps=np.float64(video.fps))
                else:
                    np.save(file, frames)
    except av.FFmpegError as exc:
        if exc.errno in _MACHINE_ERRORS:  # the disk said no, not the encoder: an OSError about the path the user named
            raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from None
        raise VideoError(f"{path}: cannot encode the video ({exc})") from exc
    return path


def round_trip_error(video: Video, path) -> tuple[float, float]:
    """How far the video written at ``path`` is from ``video``: max and mean absolute error in levels of 255.

    ``path`` is read back with :func:`read_video`. Files that hold 8 bits
    (mp4, mkv, gif, PNG frames) are compared with the frames rounded to 8
    bits, the best such a file can hold, so a lossless one gives exactly 0;
    ``.npz`` and ``.npy`` with the float frames themselves. A padding row or
    column (an odd size written as yuv420p) is left out.

    Raises
    ------
    VideoError
        If the file cannot be read, or holds another number of frames or a
        smaller frame.

    Examples
    --------
    >>> video = Video(torch.rand(3, 4, 16, 16), fps=25)
    >>> round_trip_error(video, write_video(video, "out/exact.mkv"))
    (0.0, 0.0)
    """
    back = read_video(path)
    if back.num_frames != video.num_frames or back.height < video.height or back.width < video.width:
        raise VideoError(
            f"{path}: holds {back.num_frames} frames of {back.height}x{back.width}, not the {video.num_frames} of {video.height}x{video.width} written"
        )
    if video_format(path) in ("npz", "npy"):
        error = (back.frames - video.frames.detach().cpu()).abs().mul(255).numpy()
    else:
        written = back.to_uint8()[:, : video.height, : video.width]
        error = np.abs(written.astype(np.int16) - video.to_uint8())  # grey (C = 1) broadcasts over RGB
    return float(error.max()), float(error.mean())


def _check_encoding(path: Path, fmt: str, lossless: bool, crf, pixel_format) -> None:
    """Refuse settings that do not apply to ``fmt``, before anything is written."""
    if lossless and fmt not in LOSSLESS_FORMATS:
        raise VideoError(f"{path}: {fmt} cannot be written losslessly ({_LOSSY_BECAUSE[fmt]}); for an exact copy write .mkv (FFV1), a PNG folder, .npz or .npy")
    for name, value in (("a crf", crf), ("a pixel format", pixel_format)):
        if value is not None and fmt != "mp4":
            kind = "lossless" if fmt in LOSSLESS_FORMATS else "not H.264"
            raise VideoError(f"{path}: {name} applies to H.264 (.mp4) only, and {fmt} is {kind}; leave it out, or write .mp4")
    if crf is not None and (isinstance(crf, bool) or not isinstance(crf, numbers.Real) or not 0 <= crf <= 51):
        raise VideoError(f"{path}: crf must be a number from 0 (best) to 51, got {crf!r}")
    if pixel_format is not None and pixel_format not in PIXEL_FORMATS:
        raise VideoError(f"{path}: pixel_format must be one of {', '.join(PIXEL_FORMATS)}, got {pixel_format!r}")


# the most a frame index, count or stride may be: what Python's slicing of a decoded stream takes
MAX_INDEX = sys.maxsize // 2


def _check_int(name: str, value, minimum: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise VideoError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    if value > MAX_INDEX:
        raise VideoError(f"{where}: {name} must be at most {MAX_INDEX}, got {value!r}")
    return int(value)


def _check_fps(fps, where: str) -> float:
    try:
        rate = float(fps)
    except (TypeError, ValueError):
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise VideoError(f"{where}: fps must be a positive number, got {fps!r}")
    return rate


def _check_selection(start, num_frames, stride, where: str) -> None:
    _check_int("start", start, 0, where)
    if num_frames is not None:
        _check_int("num_frames", num_frames, 1, where)
    _check_int("stride", stride, 1, where)


def _check_start(total: int, start: int, where: str) -> None:
    if total == 0:
        raise VideoError(f"{where}: no frames")
    if start >= total:
        raise VideoError(f"{where}: start={start} is past the end: there are {total} frames (0 to {total - 1})")


def _frame_slice(total: int, start: int, num_frames: int | None, stride: int, where: str) -> slice:
    _check_start(total, start, where)
    return slice(start, None if num_frames is None else start + num_frames * stride, stride)


def _crop_shape(crop, where: str) -> tuple[int, int]:
    try:
        height, width = (crop, crop) if isinstance(crop, numbers.Integral) else crop
    except (TypeError, ValueError):
        raise VideoError(f"{where}: crop must be an integer or (height, width), got {crop!r}") from None
    return _check_int("crop height", height, 1, where), _check_int("crop width", width, 1, where)


def _is_square(crop, where: str) -> bool:
    """Whether ``crop`` is ``"square"``; another string is an error naming the forms a crop takes."""
    if not isinstance(crop, str):
        return False
    if crop.strip().lower() != "square":
        raise VideoError(f"{where}: crop must be an integer, (height, width) or 'square', got {crop!r}")
    return True


def _natural_key(path: Path) -> list:
    # re.split with a group puts the digit runs at the odd positions.
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(re.split(r"(\d+)", path.name))]


def _read_video_file(path: Path, start: int, num_frames: int | None, stride: int) -> Video:
    stop = None if num_frames is None else start + (num_frames - 1) * stride + 1
    frames, index = [], -1
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                kinds = ", ".join(stream.type for stream in container.streams) or "none"
                raise VideoError(f"{path}: no frames: the file has no video stream (streams: {kinds})")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
            # islice ends decoding at the last frame kept, however long the file.
            for index, frame in enumerate(itertools.islice(container.decode(stream), stop)):
                if index >= start and (index - start) % stride == 0:
                    frames.append(_frame_rgb(frame))
                    if len(frames) == 1:  # now the size of a frame is known: can the selection fit?
                        _check_fits(_expected_frames(stream, start, num_frames, stride), frames[0].shape[:2], str(path))
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: cannot read this as a video ({exc}); is it a complete video file?") from exc
    _check_start(index + 1, start, str(path))
    return Video.from_array(np.stack(frames), float(rate) / stride, str(path))


# what FFmpeg reports from the file system rather than from the encoder
_MACHINE_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EIO)


def _expected_frames(stream, start: int, num_frames: int | None, stride: int) -> int:
    """How many frames a selection of a video file will keep, from what its container says (a lower bound if it says nothing)."""
    total = stream.frames or (int(stream.duration * stream.time_base * (stream.average_rate or 0)) if stream.duration and stream.time_base else 0)
    available = max(1, -(-(total - start) // stride)) if total else 1
    return available if num_frames is None else min(num_frames, available)


def _check_fits(frames: int, shape: tuple[int, int], where: str) -> None:
    """The frames of a selection as float32 RGB, with room for one copy (conversion, scaling), must fit in memory."""
    height, width = shape
    check_memory(
        2 * frames * 3 * height * width * 4,
        f"{where}: {frames} frame(s) of {height}x{width}",
        "read fewer frames (--frames, --stride) or smaller ones (--size)",
        VideoError,
    )


def _frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as RGB ``(H, W, 3)`` uint8: YUV converted with the matrix and range the frame declares."""
    layout = frame.format
    if layout.is_rgb or layout.has_palette or len(layout.components) < 3:
        return frame.to_ndarray(format="rgb24")  # RGB, palette or grey: no matrix involved
    full = frame.color_range == ColorRange.JPEG or layout.name.startswith("yuvj")
    return frame.to_ndarray(
        format="rgb24",
        src_colorspace=_MATRICES.get(int(frame.colorspace), Colorspace.ITU601),
        src_color_range=ColorRange.JPEG if full else ColorRange.MPEG,
        interpolation=_TO_RGB,
    )


def _read_frame_folder(path: Path, start: int, num_frames: int | None, stride: int, fps: float | None) -> Video:
    files = sorted(
        (file for file in path.iterdir() if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file()),
        key=_natural_key,
    )
    if not files:
        raise VideoError(f"{path}: no frames: the folder holds no {'/'.join(IMAGE_SUFFIXES)} images")
    chosen = files[_frame_slice(len(files), start, num_frames, stride, str(path))]
    images = []
    for file in chosen:
        try:
            with Image.open(file) as image:
                images.append(np.asarray(image.convert("RGB")))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise VideoError(f"{file}: cannot read this image ({exc})") from exc
        if len(images) == 1:
            _check_fits(len(chosen), images[0].shape[:2], str(path))
        if images[-1].shape != images[0].shape:
            (height, width, _), (height0, width0, _) = images[-1].shape, images[0].shape
            raise VideoError(
                f"{path}: frames differ in size: {file.name} is {height}x{width} but {chosen[0].name} is "
                f"{height0}x{width0} (height x width); resize them to one size"
            )
    rate = fps if fps is not None else _folder_fps(path)
    return Video.from_array(np.stack(images), rate / stride, str(path))


def _read_image(path: Path, fps: float | None) -> Video:
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise VideoError(f"{path}: cannot read this image ({exc})") from exc
    return Video.from_array(pixels[None], fps if fps is not None else DEFAULT_FPS, str(path))


def _folder_fps(path: Path) -> float:
    """The frame rate in a frame folder's ``meta.json`` (``{"fps": 29.97}``), or the default without one."""
    meta = path / _META_NAME
    if not meta.is_file():
        return DEFAULT_FPS
    try:
        fps = json.loads(meta.read_text())["fps"]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise VideoError(f'{meta}: no readable frame rate ({exc!r}); write it as {{"fps": 30}}, delete the file, or pass fps=') from exc
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real):
        raise VideoError(f'{meta}: "fps" must be a number, e.g. {{"fps": 30}}, got {fps!r}; fix or delete the file, or pass fps=')
    return _check_fps(fps, str(meta))


def _read_array_file(path: Path, fps: float | None) -> Video:
    try:
        if path.suffix.lower() == ".npy":
            arrays = {"frames": np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise VideoError(f"{path}: cannot read this array file ({exc})") from exc
    stored_fps = arrays.pop("fps", None)
    if "frames" not in arrays and len(arrays) != 1:
        raise VideoError(f"{path}: cannot tell which array holds the frames (arrays: {', '.join(arrays) or 'none'}); save them under the name 'frames'")
    frames = arrays["frames"] if "frames" in arrays else next(iter(arrays.values()))
    if frames.ndim >= 3:
        _check_fits(frames.shape[0], frames.shape[1:3], str(path))
    if fps is None:
        fps = DEFAULT_FPS if stored_fps is None else stored_fps
    return Video.from_array(frames, fps, str(path))


def _rgb(frames: np.ndarray) -> np.ndarray:
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def _write_h264(video: Video, path: Path, crf: float, pixel_format: str) -> None:
    frames = _rgb(video.to_uint8())
    if pixel_format == "yuv420p":
        # colour at half resolution needs even sizes
        frames = np.pad(frames, ((0, 0), (0, video.height % 2), (0, video.width % 2), (0, 0)), mode="edge")
    rate = Fraction(video.fps).limit_denominator(1001)
    with atomic_output(path, ".part") as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": str(crf)})
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pixel_format
        _tag_colour(stream.codec_context, matrix=_BT709, color_range=ColorRange.MPEG)
        for pixels in frames:
            # converted here, with the matrix the file is tagged with: the encoder's own conversion would use BT.601
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(
                format=pixel_format, dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG, interpolation=_TO_YUV
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _write_ffv1(video: Video, path: Path) -> None:
    # FFV1's 8-bit RGB layout is bgr0; it codes R, G and B losslessly (a reversible colour transform inside).
    rate = Fraction(video.fps).limit_denominator(1001)
    with atomic_output(path, ".part") as tmp, av.open(str(tmp), "w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.height, stream.width = video.height, video.width
        stream.pix_fmt = "bgr0"
        _tag_colour(stream.codec_context, matrix=_RGB_MATRIX, color_range=ColorRange.JPEG)
        for pixels in _rgb(video.to_uint8()):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="bgr0")))
        container.mux(stream.encode())


def _tag_colour(context, *, matrix: int, color_range: ColorRange) -> None:
    """Declare BT.709 primaries and transfer, and the matrix and range, in the stream written."""
    context.color_primaries = _BT709
    context.color_trc = _BT709
    context.colorspace = matrix
    context.color_range = int(color_range)


def _write_gif(video: Video, path: Path) -> None:
    # PyAV rather than PIL, whose GIF writer merges identical consecutive
    # frames and so changes the frame count. Delays are whole hundredths of
    # a second, and viewers play delays under 2 as 10.
    delay = max(2, round(100 / video.fps))
    with atomic_output(path, ".part") as tmp, av.open(str(tmp), "w", format="gif") as container:
        stream = container.add_stream("gif", rate=Fraction(100, delay))
        stream.width, stream.height = video.width, video.height
        stream.pix_fmt = "pal8"
        for index, pixels in enumerate(_rgb(video.to_uint8())):
            frame = av.VideoFrame.from_ndarray(_palette_image(pixels), format="pal8")
            frame.pts = index  # in the stream's time base: one delay
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _palette_image(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB ``pixels`` as indices into their own 256-colour ARGB palette, as PyAV's pal8 takes them."""
    image = Image.fromarray(pixels).quantize(256)
    colours = np.array(image.getpalette(), np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), np.uint8)
    palette[:, 0] = 255
    palette[: len(colours), 1:] = colours
    return np.asarray(image), palette


def _animated_png(video: Video) -> bytes:
    """The video as an animated PNG (lossless, looping) that plays at its frame rate."""
    images = [Image.fromarray(pixels[..., 0] if video.channels == 1 else pixels) for pixels in video.to_uint8()]
    # whole milliseconds per frame, chosen so that the running time stays exact (30 fps: 33, 34, 33, ...)
    ends = np.round(1000 * np.arange(1, video.num_frames + 1) / video.fps)
    durations = np.maximum(np.diff(ends, prepend=0), 1).astype(int).tolist()
    buffer = io.BytesIO()
    images[0].save(buffer, format="PNG", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buffer.getvalue()


def _write_frame_folder(video: Video, folder: Path) -> None:
    if folder.exists():
        if not folder.is_dir():
            raise VideoError(f"{folder}: is a file, but frames are written into a folder; pick another path")
        others = sorted(file.name for file in folder.iterdir() if not (_FRAME_NAME.fullmatch(file.name) or file.name == _META_NAME))
        if others:
            raise VideoError(
                f"{folder}: already holds files that are not an exported video's ({', '.join(others[:3])}); "
                "a frame folder is replaced whole, so write to a new or empty folder"
            )
    with atomic_folder(folder) as building:
        for index, pixels in enumerate(video.to_uint8()):
            Image.fromarray(pixels[..., 0] if video.channels == 1 else pixels).save(building / f"frame_{index:05d}.png", format="PNG")
        (building / _META_NAME).write_text(json.dumps({"fps": video.fps}) + "\n")
