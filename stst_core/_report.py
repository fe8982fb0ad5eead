"""Pictures of stimuli and runs: contact sheets and loss curves (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: works on machines without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ._store import StimulusStore  # noqa: E402
from ._video import Video  # noqa: E402


def pick_frames(num_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over a clip (all of them if it is shorter)."""
    if num_frames <= count:
        return list(range(num_frames))
    return sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, count)})


def contact_sheet(rows: Sequence[tuple[str, Video]], path: str | Path, *, columns: int = 8, title: str | None = None) -> Path:
    """One row of frames per video (e.g. the target above the generated stimulus), frame numbers on top."""
    num_frames = min(video.num_frames for _, video in rows)
    indices = pick_frames(num_frames, columns)
    height, width = rows[0][1].height, rows[0][1].width
    scale = 1.6 / max(height, width) * 1.2
    fig, axes = plt.subplots(
        len(rows), len(indices), figsize=(max(2.0, width * scale) * len(indices), max(2.0, height * scale) * len(rows) + 0.4), squeeze=False
    )
    for r, (label, video) in enumerate(rows):
        frames = video.to_uint8()
        for c, index in enumerate(indices):
            ax = axes[r][c]
            ax.imshow(frames[index], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {index}", fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curves(store: StimulusStore, path: str | Path) -> Path:
    """Per-term loss over all optimiser steps of a run (log scale).

    A frame-by-frame history ``(transition, step, term)`` is drawn transition
    after transition, burn-in shaded and octaves marked; a single
    optimisation's ``(step, term)`` over its steps.
    """
    loss = store.loss_history()
    fig, ax = plt.subplots(figsize=(9, 4))
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
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
