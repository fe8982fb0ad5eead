"""Scoring an inversion the paper's way: how often other classifiers see the target class in the synthesised videos, and how they move.

For each sample of a LEAPS store: the top-1 and top-5 verdict of every
judge (a registered classifier with its weights, ideally not the inverted
one), the probability it gives the target class, and weight-free motion
measures: the mean optical-flow velocity and its direction
(:func:`stst_metrics.flow.flow_statistics`), the mean absolute change from
one frame to the next (``frame_change``, lower is smoother in time) and,
when the stimulus is given, the oriented-energy distance to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stst_core import ConfigError, StimulusStore, Video, create_backbone, evaluate_metrics

COMPASS = ("right", "down-right", "down", "down-left", "left", "up-left", "up", "up-right")  # 45° bins from +x, y downward


@dataclass
class Judge:
    """A classifier that scores the samples: a backbone name and its weights."""

    name: str
    weights: str | None = None

    @property
    def label(self) -> str:
        return self.name if self.weights is None else f"{self.name} ({self.weights})"


def target_name(store: StimulusStore) -> tuple[int, str | None]:
    """The class a LEAPS store was synthesised towards: its index in the inverted model, and its name when that model has names."""
    config = store.config
    if "target_class" not in config or "backbone" not in config:
        raise ConfigError(f"{store.path} is not a LEAPS store (its config names no target_class and backbone)")
    net = create_backbone(config["backbone"], config.get("weights"), **config.get("backbone_options", {}))
    wanted, classes = str(config["target_class"]).strip(), net.card.classes
    if wanted.lstrip("-").isdigit():
        index = int(wanted)
        return index, classes[index] if classes else None
    canonical = [" ".join(c.lower().replace("_", " ").split()) for c in classes]
    index = canonical.index(" ".join(wanted.lower().replace("_", " ").split()))
    return index, classes[index]


def direction_of(velocity: tuple[float, float]) -> str:
    """The compass name of a mean flow ``(u, v)`` (v downward), to the nearest 45°."""
    angle = math.degrees(math.atan2(velocity[1], velocity[0])) % 360
    return COMPASS[round(angle / 45) % 8]


def evaluate(store: StimulusStore, judges: Sequence[Judge], *, stimulus: Video | None = None, device: str = "cpu") -> list[dict]:
    """One row per sample of ``store``: every judge's verdict on it and its motion measures."""
    from stst_metrics.flow import flow_statistics

    index, name = target_name(store)
    clips = [store.video(sample=s) for s in range(store.samples)] if store.samples else [store.video()]
    batch = torch.stack([clip.frames for clip in clips]).to(device)  # (S, C, T, H, W)
    rows = [{"store": str(store.path), "sample": s, "target": name or str(index)} for s in range(len(clips))]
    for judge in judges:
        net = create_backbone(judge.name, judge.weights, device=device)
        if "logits" not in net.layers:
            raise ConfigError(f"the judge {judge.name} has no classifier (no 'logits' layer)")
        classes = net.card.classes
        if name is not None and classes:
            if name not in classes:
                raise ConfigError(f"the judge {judge.name} has no class {name!r} (the store's target); its classes: {', '.join(classes[:8])}…")
            judged = classes.index(name)
        else:
            judged = index
        with torch.no_grad():
            probabilities = torch.cat([net(chunk, ["logits"])["logits"].softmax(-1) for chunk in batch.split(8)]).cpu()
        top = probabilities.topk(min(5, probabilities.shape[1]), dim=1).indices
        for row, p, best in zip(rows, probabilities, top):
            row[f"{judge.name}:top1"] = bool(best[0] == judged)
            row[f"{judge.name}:top5"] = bool((best == judged).any())
            row[f"{judge.name}:p"] = float(p[judged])
            row[f"{judge.name}:says"] = classes[int(best[0])] if classes else str(int(best[0]))
    for row, clip in zip(rows, clips):
        flow = flow_statistics(clip)
        row["flow_u"], row["flow_v"] = flow.mean_velocity
        row["flow_direction"] = direction_of(flow.mean_velocity)
        row["frame_change"] = float((clip.frames[:, 1:] - clip.frames[:, :-1]).abs().mean())
        row["warp_error"] = warp_error(clip)
        if stimulus is not None:
            row["oriented_energy"] = float(evaluate_metrics(clip, stimulus, ["oriented_energy"])["oriented_energy.distribution"])
    return rows


def warp_error(video: Video) -> float:
    """Flicker: the mean absolute luma change from one frame to the next that the optical flow does not explain.

    Each frame ``t`` is compared with frame ``t + 1`` sampled where the flow
    (:func:`stst_metrics.flow.optical_flow`) says its pixels went; a texture
    that only moves scores near 0 however fast it moves, one that flickers
    scores its flicker.
    """
    import cv2
    import numpy as np

    from stst_metrics.common import luma
    from stst_metrics.flow import optical_flow

    grey = luma(video).astype(np.float32)
    flow = optical_flow(video).astype(np.float32)
    ys, xs = np.mgrid[0 : video.height, 0 : video.width].astype(np.float32)
    residuals = []
    for t in range(len(grey) - 1):
        moved = cv2.remap(grey[t + 1], xs + flow[t, ..., 0], ys + flow[t, ..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        residuals.append(np.abs(moved - grey[t]).mean())
    return float(np.mean(residuals))


def summary(rows: Sequence[dict], judges: Sequence[Judge]) -> dict[str, float]:
    """Top-1 and top-5 accuracy of every judge over all rows, and the share of samples whose flow goes the target's way."""
    result = {}
    for judge in judges:
        result[f"{judge.name}:top1"] = sum(r[f"{judge.name}:top1"] for r in rows) / len(rows)
        result[f"{judge.name}:top5"] = sum(r[f"{judge.name}:top5"] for r in rows) / len(rows)
    result["frame_change"] = sum(r["frame_change"] for r in rows) / len(rows)
    result["warp_error"] = sum(r["warp_error"] for r in rows) / len(rows)
    if all(r["target"] in COMPASS for r in rows):
        result["flow_towards_target"] = sum(r["flow_direction"] == r["target"] for r in rows) / len(rows)
    return result
