"""What several metrics share: luma, histogram distances, the type of a count option."""

from __future__ import annotations

from typing import Annotated

import numpy as np

from stst_core import Range, Video

# an option that counts something (bins, directions, levels): an integer of at least 1
Count = Annotated[int, Range(ge=1)]

# ITU-R BT.601 luma, as OpenCV's and Pillow's RGB → grey conversions
LUMA = (0.299, 0.587, 0.114)


def luma(video: Video) -> np.ndarray:
    """Luma ``(T, H, W)`` float64 in [0, 1]: ``0.299 R + 0.587 G + 0.114 B`` (grey videos as they are)."""
    frames = video.frames.detach().cpu().double().numpy()
    if frames.shape[0] == 1:
        return frames[0]
    return np.tensordot(np.asarray(LUMA), frames, axes=(0, 0))


def total_variation_distance(p: np.ndarray, q: np.ndarray) -> float:
    """``½ Σ |p/Σp − q/Σq|`` in [0, 1]: the share of mass that would have to move to turn one histogram into the other.

    A histogram with no mass at all (no motion to take directions from, say)
    is at distance 0 from another empty one and 1 from any other.
    """
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    sp, sq = p.sum(), q.sum()
    if sp <= 0 or sq <= 0:
        return 0.0 if sp <= 0 and sq <= 0 else 1.0
    return float(0.5 * np.abs(p / sp - q / sq).sum())
