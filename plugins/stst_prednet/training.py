"""Training PredNet on videos, and measuring its next-frame prediction error.

Training draws random clips of ``frames`` consecutive frames from the videos
(random start, random horizontal flip) and minimises the PredNet loss with
Adam. Evaluation runs each video's clips through a trained model and reports,
per set of videos, the mean squared error of the predicted frames (from the
second frame on) and of the *copy-last-frame* baseline, which predicts frame t
as frame t−1. A ratio below 1 means the model predicts better than copying.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from stst_core import StimulusStore, STSTError, Video, fit, is_store, load_model, read_video, save_figure, save_model

from .network import PredNet, PredNetConfig


def load_clips(paths: Sequence[str | Path], *, size: int, frames: int | None = None) -> list[Video]:
    """Each video (or stimulus store), centre-cropped to a square and resized to ``size``."""
    clips = []
    for path in paths:
        video = StimulusStore(path).video() if is_store(path) else read_video(path)
        side = min(video.height, video.width)
        video = video.center_cropped(side).resized(size)
        if frames is not None and video.num_frames < frames:
            raise STSTError(f"{path} has {video.num_frames} frames; PredNet clips need {frames}")
        clips.append(video)
    if not clips:
        raise STSTError("no videos given")
    return clips


def load_videos(paths: Sequence[str | Path], *, size: int, frames: int | None = None) -> list[torch.Tensor]:
    """Each video (or stimulus store) as ``(3, T, H, W)``, resized and centre-cropped to a square of ``size``."""
    return [video.frames for video in load_clips(paths, size=size, frames=frames)]


@dataclass
class TrainingResult:
    model: PredNet
    losses: list[float]


def train(
    videos: Sequence[torch.Tensor],
    *,
    config: PredNetConfig | None = None,
    frames: int = 8,
    steps: int = 500,
    batch: int = 4,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 100,
) -> TrainingResult:
    """Fit a PredNet to random clips of the videos ``(3, T, H, W)``; with ``checkpoint``, resumable (exactly)."""
    torch.manual_seed(seed)  # the initial weights
    model = PredNet(config).to(device)
    model.check_size(*videos[0].shape[-2:])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # the paper's schedule: the learning rate drops tenfold for the last part of training
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[int(steps * 0.75)], gamma=0.1)

    def loss(model, generator):
        return model.loss(sample_clips(videos, frames, batch, generator).to(device))

    settings = {"config": model.config.as_dict(), "frames": frames, "batch": batch, "lr": lr, "videos": [video.shape for video in videos]}
    losses = fit(
        model,
        loss,
        steps=steps,
        optimizer=optimizer,
        scheduler=scheduler,
        seed=seed,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        settings=settings,
        progress=progress,
        description="train PredNet",
    )
    return TrainingResult(model, losses)


def sample_clips(videos: Sequence[torch.Tensor], frames: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    """A batch ``(B, 3, frames, H, W)`` of random clips, randomly mirrored."""
    clips = []
    for _ in range(batch):
        video = videos[int(torch.randint(len(videos), (1,), generator=generator))]
        start = int(torch.randint(video.shape[1] - frames + 1, (1,), generator=generator))
        clip = video[:, start : start + frames]
        if torch.rand(1, generator=generator) < 0.5:
            clip = clip.flip(-1)
        clips.append(clip)
    return torch.stack(clips)


@torch.no_grad()
def prediction_errors(model: PredNet, video: torch.Tensor, frames: int) -> tuple[float, float]:
    """Mean squared error of the model's predictions and of copying the last frame, over a video's clips."""
    model.eval()
    predicted, copied = [], []
    for start in range(0, video.shape[1] - frames + 1, frames):
        clip = video[None, :, start : start + frames]
        prediction = model(clip)["prediction"]
        predicted.append(float(((prediction[:, :, 1:] - clip[:, :, 1:]) ** 2).mean()))
        copied.append(float(((clip[:, :, :-1] - clip[:, :, 1:]) ** 2).mean()))
    if not predicted:
        raise STSTError(f"a video of {video.shape[1]} frames is shorter than one clip of {frames}")
    return float(np.mean(predicted)), float(np.mean(copied))


def evaluate(model: PredNet, sets: dict[str, Sequence[torch.Tensor]], *, frames: int) -> dict[str, dict]:
    """Per set: mean prediction MSE, mean copy-last-frame MSE, their ratio, and each video's values."""
    report = {}
    for name, videos in sets.items():
        pairs = [prediction_errors(model, video, frames) for video in videos]
        prediction = np.array([p for p, _ in pairs])
        baseline = np.array([c for _, c in pairs])
        ratio = prediction / baseline
        report[name] = {
            "videos": len(pairs),
            "prediction_mse": float(prediction.mean()),
            "copy_last_frame_mse": float(baseline.mean()),
            "ratio": float(ratio.mean()),
            "ratio_sem": float(ratio.std(ddof=1) / math.sqrt(len(ratio))) if len(ratio) > 1 else float("nan"),
            "per_video": [{"prediction_mse": p, "copy_last_frame_mse": c} for p, c in pairs],
        }
    return report


def plot_evaluation(report: dict[str, dict], path: str | Path | None = None):
    """Bars of prediction error against the copy-last-frame baseline, per set.

    Returns the :class:`matplotlib.figure.Figure` (drawn without pyplot: no
    backend is chosen, no figure stays open), or with ``path`` the path of
    the PNG written there.
    """
    from matplotlib.figure import Figure

    names = list(report)
    x = np.arange(len(names))
    fig = Figure(figsize=(8, 3.5))
    left, right = fig.subplots(1, 2)
    left.bar(x - 0.2, [report[n]["prediction_mse"] for n in names], 0.4, label="PredNet")
    left.bar(x + 0.2, [report[n]["copy_last_frame_mse"] for n in names], 0.4, label="copy last frame")
    left.set_xticks(x, names)
    left.set_ylabel("next-frame MSE")
    left.legend(fontsize=8)
    right.bar(x, [report[n]["ratio"] for n in names], yerr=[report[n]["ratio_sem"] for n in names], color="0.5", capsize=4)
    right.axhline(1.0, color="k", linewidth=0.8, linestyle="--")
    right.set_xticks(x, names)
    right.set_ylabel("PredNet / copy-last-frame (±SEM)")
    fig.suptitle("Next-frame prediction", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def save(model: PredNet, path: str | Path, *, data: Sequence[Video] = (), **training) -> Path:
    """Weights as safetensors with a JSON card (architecture ``prednet``, its configuration, the training data's hashes and settings)."""
    return save_model(model, path, architecture="prednet", options=model.config.as_dict(), data=data, training=training)


def training_settings(path: str | Path) -> dict:
    """The training settings recorded with a saved model (``size``, ``frames``, …)."""
    if Path(path).suffix == ".safetensors":
        return load_model(path, architecture="prednet")[1]["training"]
    return {k: v for k, v in torch.load(path, map_location="cpu", weights_only=True).items() if k not in ("state_dict", "config", "format")}


def load(path: str | Path) -> PredNet:
    """A model written by :func:`save` (``.safetensors`` and its card), or by an earlier release (``.pt``)."""
    if Path(path).suffix == ".safetensors":
        state, card = load_model(path, architecture="prednet")
        model = PredNet(PredNetConfig(**card["options"]))
        model.load_state_dict(state)
        return model.eval()
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return PredNet.from_saved(saved).eval()
    except Exception as exc:  # torch.load fails in many ways on a file that is not a model
        raise STSTError(f"cannot load a PredNet model from {path}: {type(exc).__name__}: {exc}") from exc


__all__ = ["evaluate", "load", "load_clips", "load_videos", "training_settings", "plot_evaluation", "prediction_errors", "save", "train"]
