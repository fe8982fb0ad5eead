"""Training the toy world's classifiers, and scoring any classifier on labelled clips."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from stst_core import ConfigError, fit, save_model

from .networks import ARCHITECTURES, run
from .world import DIRECTIONS, read_world


def accuracy(logits: torch.Tensor, targets: torch.Tensor, k: int = 1) -> float:
    """The share of rows whose target is among the ``k`` highest scores."""
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return float((top == targets[:, None]).any(dim=1).float().mean())


def train(
    world: str | Path,
    output: str | Path,
    *,
    architecture: str = "toy-classifier",
    steps: int = 300,
    batch: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, float]:
    """Train ``architecture`` on the world's ``train`` clips, score it on the ``heldout`` ones and save it; returns both accuracies.

    Adam with a cosine decay of ``lr``; each step a batch of ``batch`` clips
    drawn with replacement, each rolled by a random whole number of pixels
    (the textures are periodic, so this only moves where the texture starts).
    A checkpoint beside ``output`` resumes a killed run exactly.
    """
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {architecture!r}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    clips, targets, rows = read_world(world, "train")
    heldout, heldout_targets, _ = read_world(world, "heldout")
    torch.manual_seed(seed)  # the initial weights
    model = ARCHITECTURES[architecture](len(DIRECTIONS)).to(device)
    clips, targets = clips.to(device), targets.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)

    def loss(model, generator):
        pick = torch.randint(len(clips), (batch,), generator=generator)
        dy, dx = (int(v) for v in torch.randint(clips.shape[-1], (2,), generator=generator))
        batch_clips = torch.roll(clips[pick.to(device)], shifts=(dy, dx), dims=(-2, -1))
        return F.cross_entropy(run(model, batch_clips)["logits"], targets[pick.to(device)])

    checkpoint = output.with_name(output.stem + ".checkpoint.safetensors")
    settings = {"architecture": architecture, "batch": batch, "lr": lr, "clips": [row["path"] for row in rows]}
    fit(
        model,
        loss,
        steps=steps,
        optimizer=optimizer,
        scheduler=scheduler,
        seed=seed,
        checkpoint=checkpoint,
        settings=settings,
        progress=progress,
        description=architecture,
    )
    scores = {"train_accuracy": score(model, clips, targets), "heldout_accuracy": score(model, heldout.to(device), heldout_targets.to(device))}
    rows_data = [{"source": str(Path(world) / row["path"]), "label": row["label"]} for row in rows]
    training = {"steps": steps, "batch": batch, "lr": lr, "seed": seed, **scores}
    save_model(model.cpu(), output, architecture=architecture, options={"classes": list(DIRECTIONS)}, data=rows_data, training=training)
    checkpoint.unlink(missing_ok=True)
    return scores


@torch.no_grad()
def score(model, clips: torch.Tensor, targets: torch.Tensor, k: int = 1) -> float:
    """Top-``k`` accuracy of a toy network (in eval mode) on labelled clips."""
    model.eval()
    logits = torch.cat([run(model, chunk)["logits"] for chunk in clips.split(32)])
    return accuracy(logits, targets, k)
