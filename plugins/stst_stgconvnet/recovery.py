"""Recovering occluded videos: the error the STGConvNet paper reports, and two baselines to compare with.

Xie, Zhu & Wu (CVPR 2017, Table 1) measure recovery as the mean absolute
difference between the recovered and the true video over the occluded entries
only (the visible ones are given, so counting them would only dilute the
error), "on the 0-255 scale"; they do not publish the normalisation.
:func:`recovery_error` takes the videos as read, ``255 · x`` for ``x`` in
[0, 1], with no per-frame stretch (the dynamic generator of the same group
stretches each frame to [-1, 1] first, which inflates a low-contrast
frame's error).

The baselines need no learning, and show what a recovery must beat:

- :func:`temporal_interpolation` fills each occluded pixel from the same pixel
  in the nearest visible frames before and after it (linearly in time), which
  is hard to beat where the scene moves little;
- :func:`telea_inpaint` fills each frame in space with OpenCV's fast marching
  inpainting (Telea 2004), which is the usual image-inpainting baseline but
  cannot use the other frames.

Videos are float tensors ``(C, T, H, W)`` in [0, 1] (a
:class:`stst_core.Video` is accepted too); masks are boolean ``(T, H, W)``,
True where a pixel is occluded in every channel (see
:mod:`stst_stgconvnet.masks`). The baselines never read the occluded entries
of their input, so these may hold anything, and they return the visible
entries exactly as given.
"""

from __future__ import annotations

import numpy as np
import torch

from stst_core import ConfigError, Video

__all__ = ["recovery_error", "telea_inpaint", "temporal_interpolation"]


def recovery_error(recovered: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """The paper's recovery error: mean absolute error over the occluded entries, on the 0-255 scale.

    Parameters
    ----------
    recovered, truth : torch.Tensor or Video
        Videos ``(C, T, H, W)`` with values in [0, 1].
    mask : torch.Tensor
        Boolean ``(T, H, W)``, True where occluded; each occluded pixel counts
        once per channel.

    Returns
    -------
    float
        ``255 * mean(|recovered - truth|)`` over every channel of every
        occluded pixel.

    Raises
    ------
    ConfigError
        If the two videos or the mask do not have matching shapes, or the
        mask occludes nothing (the error would be an average of nothing).

    Examples
    --------
    >>> truth = torch.zeros(1, 2, 1, 1)
    >>> recovery_error(truth + 0.1, truth, torch.tensor([True, True]).view(2, 1, 1))
    25.5
    """
    recovered, truth = _frames(recovered, "the recovered video"), _frames(truth, "the true video")
    if recovered.shape != truth.shape:
        raise ConfigError(f"the recovered video is {_shape(recovered)} but the true video {_shape(truth)} (C, T, H, W); they must have the same shape")
    mask = _check_mask(mask, truth)
    if not bool(mask.any()):
        raise ConfigError("the mask occludes no pixel: the recovery error (an average over the occluded entries) is undefined")
    # float64: a mean over millions of entries in float32 would lose digits the paper's two decimals need
    difference = (recovered.double() - truth.double()).abs()
    return float(255 * difference[:, mask].mean())


def temporal_interpolation(video: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each occluded pixel interpolated linearly in time between its nearest visible frames.

    For each pixel position on its own (all channels together), an occluded
    frame ``t`` between visible frames ``a < t < b`` of that pixel gets
    ``v[a] + (t - a) / (b - a) * (v[b] - v[a])``. Where the pixel is visible
    on one side only (at the start or end of the video), that nearest visible
    value is held. A pixel occluded in every frame has nothing in time to go
    by: it gets the mean, per channel, of the visible pixels of its own frame,
    or, where that frame is wholly occluded too, the mean of all visible
    entries of the video.

    Parameters
    ----------
    video : torch.Tensor or Video
        ``(C, T, H, W)``; occluded entries are never read.
    mask : torch.Tensor
        Boolean ``(T, H, W)``, True where occluded.

    Returns
    -------
    torch.Tensor
        ``(C, T, H, W)`` in the video's dtype; visible entries are the input's.

    Raises
    ------
    ConfigError
        If the mask does not fit the video or occludes every entry.
    """
    frames = _frames(video, "the video")
    mask = _check_mask(mask, frames)
    visible = ~mask
    if not bool(visible.any()):
        raise ConfigError("the mask occludes every pixel of every frame: there is nothing to interpolate from")
    channels, count, height, width = frames.shape

    # the index of each pixel's last visible frame at or before t (-1: none) and first at or after t (count: none);
    # one pass forward and one backward over frames, vectorised over pixels
    device = frames.device
    before = torch.empty((count, height, width), dtype=torch.long, device=device)
    after = torch.empty((count, height, width), dtype=torch.long, device=device)
    last = torch.full((height, width), -1, dtype=torch.long, device=device)
    for t in range(count):
        last = torch.where(visible[t], t, last)
        before[t] = last
    last = torch.full((height, width), count, dtype=torch.long, device=device)
    for t in reversed(range(count)):
        last = torch.where(visible[t], t, last)
        after[t] = last
    has_before, has_after = before >= 0, after < count

    def at(index: torch.Tensor) -> torch.Tensor:
        # the clamped indices of sides that do not exist point at arbitrary (maybe occluded) entries; torch.where drops them below
        return frames.gather(1, index.clamp(0, count - 1)[None].expand(channels, -1, -1, -1))

    value_before, value_after = at(before), at(after)
    time = torch.arange(count, device=device).view(count, 1, 1)
    # a gap of at least 1 where both sides exist; the clamp only spares the other positions a division by zero
    weight = ((time - before) / (after - before).clamp(min=1)).to(frames.dtype)
    between = value_before + weight * (value_after - value_before)
    filled = torch.where(has_before & has_after, between, torch.where(has_before, value_before, value_after))

    never = ~(has_before | has_after)  # occluded in every frame
    if bool(never.any()):
        # zeros, not frames * visible: occluded entries may hold NaN, and NaN * 0 is NaN
        shown = torch.where(visible, frames, torch.zeros((), dtype=frames.dtype))
        counts = visible.sum(dim=(1, 2))
        overall = shown.double().sum(dim=(1, 2, 3)) / visible.sum()
        per_frame = shown.double().sum(dim=(2, 3)) / counts.clamp(min=1)
        per_frame = torch.where(counts > 0, per_frame, overall[:, None]).to(frames.dtype)  # (C, T)
        filled = torch.where(never, per_frame[:, :, None, None], filled)
    return torch.where(mask, filled, frames)


def telea_inpaint(video: torch.Tensor, mask: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """Each frame inpainted in space with OpenCV's Telea method.

    Each frame goes through ``cv2.inpaint(frame, mask, radius,
    cv2.INPAINT_TELEA)`` as 8-bit (``H x W x 3``; a frame of another channel
    count goes channel by channel), and the inpainted values are taken on its
    occluded pixels only: the visible entries are the input's own float
    values, untouched by the 8-bit round trip. A frame with no visible pixel
    gives spatial inpainting nothing to start from; such frames are filled
    by :func:`temporal_interpolation` instead (so a missing-frames mask makes
    this the same as temporal interpolation).

    Parameters
    ----------
    video : torch.Tensor or Video
        ``(C, T, H, W)`` in [0, 1]; occluded entries are never read.
    mask : torch.Tensor
        Boolean ``(T, H, W)``, True where occluded.
    radius : int
        The neighbourhood each inpainted pixel is computed from, in pixels.

    Returns
    -------
    torch.Tensor
        ``(C, T, H, W)`` in the video's dtype and device.

    Raises
    ------
    ConfigError
        If the mask does not fit the video or occludes every entry, or the
        radius is not positive.
    """
    import cv2

    frames = _frames(video, "the video")
    mask = _check_mask(mask, frames)
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise ConfigError(f"the inpainting radius is a whole number of pixels, at least 1, not {radius!r}")
    if bool(mask.all()):
        raise ConfigError("the mask occludes every pixel of every frame: there is nothing to inpaint from")
    result = frames.clone()
    blind = mask.flatten(1).all(dim=1)  # frames without a visible pixel
    if bool(blind.any()):
        result[:, blind] = temporal_interpolation(frames, mask)[:, blind]
    # occluded entries may hold NaN, which uint8 conversion would turn into arbitrary values next to the hole: zero them
    hidden = torch.where(mask, torch.zeros((), dtype=frames.dtype), frames)
    pixels = (hidden.detach().cpu().double().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()  # (T, H, W, C)
    holes = mask.cpu().numpy().astype(np.uint8)
    for t, no_view in enumerate(blind.tolist()):
        if no_view or not holes[t].any():
            continue
        if pixels.shape[3] in (1, 3):
            painted = cv2.inpaint(np.ascontiguousarray(pixels[t]), holes[t], radius, cv2.INPAINT_TELEA).reshape(pixels.shape[1:])
        else:
            painted = np.stack(
                [cv2.inpaint(np.ascontiguousarray(pixels[t, ..., c]), holes[t], radius, cv2.INPAINT_TELEA) for c in range(pixels.shape[3])], axis=-1
            )
        inpainted = torch.from_numpy(painted).permute(2, 0, 1).to(device=frames.device, dtype=frames.dtype) / 255
        result[:, t] = torch.where(mask[t], inpainted, frames[:, t])
    return result


def _frames(video: torch.Tensor | Video, what: str) -> torch.Tensor:
    frames = video.frames if isinstance(video, Video) else video
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or not frames.is_floating_point():
        raise ConfigError(f"{what} should be a float tensor (C, T, H, W) or a Video, got {_shape(frames)}")
    return frames


def _check_mask(mask: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ConfigError(f"the mask should be a boolean tensor (T, H, W), True where occluded, got {_shape(mask)}")
    if tuple(mask.shape) != tuple(frames.shape[1:]):
        raise ConfigError(f"the mask is {_shape(mask)} (T, H, W) but the video {_shape(frames)} (C, T, H, W): the mask must be the video's (T, H, W)")
    return mask.to(frames.device)


def _shape(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"{'x'.join(map(str, value.shape)) or 'a scalar'} ({str(value.dtype).removeprefix('torch.')})"
    return type(value).__name__
