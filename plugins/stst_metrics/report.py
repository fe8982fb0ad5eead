"""The report card: what generated videos keep of their target, in one figure.

Top: a few frames of the target and of every generated video, side by side.
Bottom: the luma power spectrum by spatial frequency, by temporal frequency
and by direction of motion (:mod:`stst_metrics.spectrum`), the optical-flow
speed and direction histograms (:mod:`stst_metrics.flow`) and the temporal
autocorrelation curves (:mod:`stst_metrics.autocorrelation`). The target is
drawn in black in every panel.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# a Figure without pyplot needs no backend: no display, no global backend switch, nothing to close
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from stst_core import Video, pick_frames, save_figure

from .autocorrelation import autocorrelation_curve
from .flow import SPEED_EDGES, flow_statistics
from .spectrum import binned_power


def _bin_centres(edges: np.ndarray) -> np.ndarray:
    """Geometric centres of octave bins (the lowest, which reaches 0, half an octave below its top)."""
    lower = np.where(edges[:-1] > 0, edges[:-1], edges[1:] / 2)
    return np.sqrt(lower * edges[1:])


def report_card(
    target: Video, stimuli: Sequence[tuple[str, Video]], path: str | Path | None = None, *, frames: int = 4, title: str | None = None
) -> Figure | Path:
    """The report card of ``stimuli`` (label, video) against ``target``.

    Returns the :class:`~matplotlib.figure.Figure`, or with ``path`` the
    path of the PNG written there.
    """
    videos = [("target", target), *stimuli]
    colours = ["black"] + [f"C{i}" for i in range(len(stimuli))]
    indices = pick_frames(min(v.num_frames for _, v in videos), frames)
    aspect = target.height / target.width
    width = 12.0
    frame_height = width / len(indices) * aspect * 0.85
    header = 0.3 + (0.35 if title else 0.0)  # inches above the frames: their headings, and the title
    top_height = frame_height * len(videos) + header
    fig = Figure(figsize=(width, top_height + 6.4))
    top, bottom = fig.subfigures(2, 1, height_ratios=[top_height, 6.4])

    axes = top.subplots(len(videos), len(indices), squeeze=False)
    for row, ((label, video), colour) in enumerate(zip(videos, colours)):
        pixels = video.to_uint8()
        for column, index in enumerate(indices):
            ax = axes[row][column]
            ax.imshow(pixels[index].squeeze(), cmap="gray" if video.channels == 1 else None, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"frame {index}", fontsize=8)
            if column == 0:
                # horizontal, wrapped, left of the row: long file names stay readable and off the next row
                ax.text(-0.06, 0.5, textwrap.fill(label, 16), transform=ax.transAxes, ha="right", va="center", fontsize=8, color=colour)

    panels = bottom.subplots(2, 3)
    (spatial, temporal, direction), (speed, flow_direction, autocorrelation) = panels
    flows = [flow_statistics(video) for _, video in videos] if min(v.num_frames for _, v in videos) >= 2 else None
    for (label, video), colour in zip(videos, colours):
        style = {"color": colour, "label": label, "marker": "o", "markersize": 3, "linewidth": 1.6 if label == "target" else 1.0}
        power = binned_power(video)
        _plot(spatial, _bin_centres(power["spatial_edges"]), power["spatial"], style)
        t_edges = power["temporal_edges"]
        _plot(temporal, np.concatenate([[0.0], (t_edges[:-1] + t_edges[1:]) / 2]), power["temporal"], style)
        _plot(direction, power["direction_centres"], power["direction"], style)
        lag = min(16, min(v.num_frames for _, v in videos) - 1)
        if lag >= 1:
            autocorrelation.plot(np.arange(lag + 1), autocorrelation_curve(video, lag), **style)
    if flows is not None:
        for (label, _), colour, stats in zip(videos, colours, flows):
            style = {"color": colour, "label": label, "marker": "o", "markersize": 3, "linewidth": 1.6 if label == "target" else 1.0}
            speed.plot(np.arange(len(stats.speed_histogram)), stats.speed_histogram, **style)
            flow_direction.plot(stats.direction_centres, stats.direction_histogram, **style)

    spatial.set(xscale="log", yscale="log", xlabel="spatial frequency (cycles/px)", ylabel="mean power", title="power by spatial frequency")
    spatial.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks of a short log axis overlap
    temporal.set(yscale="log", xlabel="temporal frequency (cycles/frame; 0 = static)", ylabel="mean power", title="power by temporal frequency")
    direction.set(yscale="log", xlabel="direction of motion (°, 0 = right, 90 = down)", ylabel="mean power", title="power by direction of motion")
    labels = [f"{a:g}–{b:g}" for a, b in itertools.pairwise(SPEED_EDGES)]
    speed.set_xticks(np.arange(len(labels)), [label.replace("–inf", "+") for label in labels], fontsize=7)
    speed.set(xlabel="speed (px/frame)", ylabel="share of pixels", title="optical flow: speed")
    flow_direction.set(xlabel="direction (°, 0 = right, 90 = down)", ylabel="share of motion", title="optical flow: direction")
    autocorrelation.set(xlabel="lag (frames)", ylabel="correlation", title="temporal autocorrelation")
    autocorrelation.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (direction, flow_direction):
        ax.set_xticks(np.arange(0, 360, 90))
    for ax in panels.ravel():
        ax.title.set_fontsize(9)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
        ax.tick_params(labelsize=7)
    spatial.legend(fontsize=7)
    if title:
        top.suptitle(title, fontsize=11, y=1 - 0.08 / top_height, va="top")
    top.subplots_adjust(left=0.14, right=0.98, bottom=0.02, top=1 - header / top_height, wspace=0.04, hspace=0.08)
    bottom.subplots_adjust(left=0.07, right=0.98, bottom=0.09, top=0.93, wspace=0.3, hspace=0.55)
    return save_figure(fig, path, dpi=100)


def _plot(ax, x, y, style: dict) -> None:
    """A line through the finite points only: a short clip leaves some frequency bins empty (NaN)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    finite = np.isfinite(y)
    ax.plot(x[finite], y[finite], **style)
