"""Pictures of stimuli and runs: contact sheets and loss curves.

The helpers draw on :class:`matplotlib.figure.Figure` objects made directly,
not through pyplot: they need no display and no backend, leave the backend a
notebook or a script has chosen alone, and keep no figure open. Without a
path they return the figure (a notebook shows it; ``fig.savefig(...)``
writes it); with one they write the PNG and return the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from ._files import atomic_output
from ._store import StimulusStore
from ._video import Video


def pick_frames(num_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over a clip (all of them if it is shorter)."""
    if num_frames <= count:
        return list(range(num_frames))
    return sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, count)})


def contact_sheet(rows: Sequence[tuple[str, Video]], path: str | Path | None = None, *, columns: int = 8, title: str | None = None) -> Figure | Path:
    """Frames of several videos side by side: one row per video (e.g. the target above the generated stimulus).

    Parameters
    ----------
    rows : sequence of (str, Video)
        A label and a video per row; frames are picked evenly over the
        shortest video (:func:`pick_frames`) and numbered on top.
    path : str or os.PathLike, optional
        Where to write the PNG.
    columns : int
        Most frames per row.
    title : str, optional
        A heading above the rows.

    Returns
    -------
    matplotlib.figure.Figure or pathlib.Path
        The figure, or with ``path`` the path written.

    Examples
    --------
    >>> video = Video.from_array(np.random.rand(8, 32, 48, 3), fps=30)
    >>> contact_sheet([("noise", video)], columns=4).axes[0].get_title()
    'frame 0'
    """
    num_frames = min(video.num_frames for _, video in rows)
    indices = pick_frames(num_frames, columns)
    height, width = rows[0][1].height, rows[0][1].width
    scale = 1.6 / max(height, width) * 1.2
    fig = Figure(figsize=(max(2.0, width * scale) * len(indices), max(2.0, height * scale) * len(rows) + 0.4))
    axes = fig.subplots(len(rows), len(indices), squeeze=False)
    for r, (label, video) in enumerate(rows):
        frames = video.to_uint8()
        for c, index in enumerate(indices):
            ax = axes[r][c]
            ax.imshow(frames[index].squeeze(), cmap="gray" if video.channels == 1 else None, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {index}", fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def loss_curves(store: StimulusStore, path: str | Path | None = None) -> Figure | Path:
    """Per-term loss over all optimiser steps of a run (log scale).

    A frame-by-frame history ``(transition, step, term)`` is drawn transition
    after transition, burn-in shaded and octaves marked; a single
    optimisation's ``(step, term)`` over its steps.

    Parameters
    ----------
    store : StimulusStore
        A store with a loss history.
    path : str or os.PathLike, optional
        Where to write the PNG.

    Returns
    -------
    matplotlib.figure.Figure or pathlib.Path
        The figure, or with ``path`` the path written.
    """
    loss = store.loss_history()
    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    if "transition" in loss.dims:
        values = loss.transpose("transition", "step", "term").values
        transitions, steps, _ = values.shape
        x = np.arange(transitions * steps) / steps  # in transitions
        series = values.reshape(transitions * steps, -1)
    else:
        series = loss.transpose("step", "term").values
        x = np.arange(len(series))
    for t, term in enumerate(loss.term.values):
        if np.isfinite(series[:, t]).any() and np.nanmax(series[:, t]) > 0:
            ax.plot(x, series[:, t], label=str(term), linewidth=0.8)
    ax.set_yscale("log")
    if "transition" in loss.dims:
        kept = loss.transition.values >= 0
        first_kept = int(np.argmax(kept)) if kept.any() else transitions
        if first_kept:
            ax.axvspan(0, first_kept, color="0.9", label="burn-in (not kept)")
        if "step_octave" in loss.coords:
            for transition in range(transitions):
                for start in np.flatnonzero(np.diff(loss.step_octave.values)) + 1:
                    ax.axvline(transition + start / steps, color="0.8", linewidth=0.4)
        labels = loss.transition.values
        ticks = np.arange(transitions) + 0.5
        ax.set_xticks(ticks[:: max(1, transitions // 12)])
        ax.set_xticklabels([str(v) for v in labels[:: max(1, transitions // 12)]])
        ax.set_xlabel("frame (each transition: its octaves, coarse to fine)")
    else:
        ax.set_xlabel("step")
    ax.set_ylabel("loss (unweighted)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"{store.method}: loss per optimiser step", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def save_figure(fig: Figure, path: str | Path | None, *, dpi: int = 110) -> Figure | Path:
    """``fig`` itself, or with a ``path`` the image written there, whole or not at all, and that path.

    The plot helpers' common ending: a Figure draws into files without any
    matplotlib backend, and the file appears under its name only once it is
    complete (:func:`atomic_output`), so a full disk leaves no truncated PNG.
    """
    if path is None:
        return fig
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return path
