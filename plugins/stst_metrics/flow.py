"""Optical-flow statistics (OpenCV's Farnebäck dense flow on luma): speeds, directions, smoothness.

For each pair of consecutive frames, Farnebäck's polynomial-expansion flow
(``cv2.calcOpticalFlowFarneback``, 8-bit luma, a pyramid of up to 3 levels
of halving, 15-px windows) gives a displacement ``(u, v)`` in pixels/frame at
every pixel, ``v`` positive downward. Over all pixels of all pairs:

``speed histogram``
    the share of pixels per speed bin ``√(u² + v²)``, bin edges 0, 0.25, 0.5,
    1, 2, 4, 8, ∞ px/frame;
``direction histogram``
    the direction of motion ``atan2(v, u)`` (0° rightward, 90° downward), in
    ``directions`` bins centred on 0°, 360°/n, …, each pixel weighted by its
    speed, so that still pixels, whose direction is noise, hardly count
    (empty when the mean speed is below 0.001 px/frame: no motion);
``mean speed``
    the mean of ``√(u² + v²)`` in px/frame;
``mean velocity``
    the mean of ``(u, v)`` in px/frame;
``smoothness``
    the mean norm of the flow's spatial derivatives
    ``√(u_x² + u_y² + v_x² + v_y²)`` (per frame: px/frame per px), 0 for a
    rigid translation, large for incoherent motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stst_core import ConfigError, Metric, Video

from .common import Count, luma, total_variation_distance

SPEED_EDGES = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, np.inf])
MIN_MOTION = 1e-3  # px/frame: a mean speed below this is "no motion", and has no directions


def optical_flow(video: Video) -> np.ndarray:
    """Dense flow ``(T−1, H, W, 2)`` of each consecutive frame pair, ``(u, v)`` in px/frame (Farnebäck)."""
    grey = np.clip(np.round(luma(video) * 255), 0, 255).astype(np.uint8)
    # a pyramid whose top level keeps at least ~8 px
    levels = int(max(0, min(3, np.floor(np.log2(min(video.height, video.width) / 8)))))
    flows = [
        cv2.calcOpticalFlowFarneback(grey[t], grey[t + 1], None, pyr_scale=0.5, levels=levels, winsize=15, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)
        for t in range(len(grey) - 1)
    ]
    return np.stack(flows).astype(np.float64)


@dataclass
class FlowStatistics:
    """Summary statistics of a video's optical flow (see :mod:`stst_metrics.flow`)."""

    speed_histogram: np.ndarray  # share of pixels per speed bin, edges SPEED_EDGES
    direction_histogram: np.ndarray  # speed-weighted share per direction bin; all 0 without motion
    direction_centres: np.ndarray  # degrees
    mean_speed: float  # px/frame
    mean_velocity: tuple[float, float]  # (u, v) px/frame, v downward
    smoothness: float  # mean norm of the spatial flow gradient, 1/frame

    speed_edges = SPEED_EDGES


def flow_statistics(video: Video, *, directions: int = 8) -> FlowStatistics:
    """Flow statistics of one video (at least 2 frames)."""
    if video.num_frames < 2:
        raise ConfigError(f"optical flow needs at least 2 frames; {video.source or 'the video'} has {video.num_frames}")
    flow = optical_flow(video)
    u, v = flow[..., 0], flow[..., 1]
    speed = np.hypot(u, v)
    speed_histogram = np.histogram(speed, bins=SPEED_EDGES)[0] / speed.size
    step = 360.0 / directions
    angle = np.degrees(np.arctan2(v, u)) % 360.0
    index = np.round(angle / step).astype(int) % directions
    direction_histogram = np.bincount(index.ravel(), weights=speed.ravel(), minlength=directions)
    total = direction_histogram.sum()
    direction_histogram = direction_histogram / total if total > MIN_MOTION * speed.size else np.zeros(directions)
    gradients = [np.gradient(component, axis=axis) for component in (u, v) for axis in (1, 2)]
    smoothness = float(np.sqrt(sum(g**2 for g in gradients)).mean())
    return FlowStatistics(
        speed_histogram=speed_histogram,
        direction_histogram=direction_histogram,
        direction_centres=np.arange(directions) * step,
        mean_speed=float(speed.mean()),
        mean_velocity=(float(u.mean()), float(v.mean())),
        smoothness=smoothness,
    )


class FlowDistance(Metric):
    """Distances between optical-flow statistics (OpenCV Farnebäck): speed and direction histograms, mean speed, smoothness.

    Returns a dict:

    ``speed_histogram``, ``direction_histogram``
        total-variation distances ``½ Σ |p − q|`` between the histograms, in
        [0, 1] (the share of pixels, or of speed-weighted motion, that falls
        in other bins); a video without motion has an empty direction
        histogram, at distance 0 from another still video and 1 from any
        moving one;
    ``mean_speed``
        ``|mean speed(generated) − mean speed(target)|`` in px/frame;
    ``speed_log2_ratio``
        ``log2((s_g + 0.001) / (s_t + 0.001))`` of the two mean speeds in
        px/frame: 0 at the target's speed, +1 twice as fast, −1 half as fast
        (a ratio of 0.8–1.25 is −0.32…+0.32; the 0.001 px/frame keeps a still
        target's ratio finite);
    ``smoothness``
        ``|smoothness(generated) − smoothness(target)|`` in 1/frame.

    Parameters
    ----------
    directions : int
        Bins of the direction histogram (default 8: every 45°).
    """

    name = "flow"
    min_frames = 2

    directions: Count = 8

    def compare(self, generated: Video, target: Video) -> dict[str, float]:
        a = flow_statistics(generated, directions=self.directions)
        b = flow_statistics(target, directions=self.directions)
        return {
            "speed_histogram": total_variation_distance(a.speed_histogram, b.speed_histogram),
            "direction_histogram": total_variation_distance(a.direction_histogram, b.direction_histogram),
            "mean_speed": abs(a.mean_speed - b.mean_speed),
            "speed_log2_ratio": float(np.log2((a.mean_speed + MIN_MOTION) / (b.mean_speed + MIN_MOTION))),
            "smoothness": abs(a.smoothness - b.smoothness),
        }
