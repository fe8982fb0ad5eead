"""Models the toolkit trains: a training loop that resumes exactly, and weights files with a card.

A *learned model* is an ``nn.Module`` that a plugin trains here (PredNet, an
energy-based model of a texture, a small classifier of a toy world) and that
is then used again, most often as a backbone. The contract has two parts:

:func:`fit`
    the training loop: ``loss(model, generator) -> scalar`` once per step,
    an optimiser (and optionally a learning-rate schedule), progress, and a
    checkpoint every ``checkpoint_every`` steps that holds the model's,
    optimiser's and schedule's state, the generator's state and the losses.
    Called again with the same checkpoint path after a kill, it resumes from
    the last checkpoint and ends bit-identical to an uninterrupted run (same
    device), provided ``loss`` draws its randomness from the generator it is
    given.
:func:`save_model` / :func:`load_model`
    weights as safetensors beside a JSON *card* (``<file>.json``): the
    architecture (the backbone name that loads it), its constructor options,
    the sha256 of every training video, the training settings and the
    versions of the toolkit and its dependencies. A backbone that accepts
    weights files loads such a file by path:
    ``create_backbone("prednet", weights="model.safetensors")``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ._errors import ConfigError, STSTError, WeightsError
from ._files import write_text_atomically
from ._store import load_checkpoint, save_checkpoint, toolkit_versions, video_fingerprint
from ._video import Video

CARD_FORMAT = "stst-learned-model-1"


def fit(
    model: torch.nn.Module,
    loss: Callable[[torch.nn.Module, torch.Generator], torch.Tensor],
    *,
    steps: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 100,
    settings: Mapping[str, Any] | None = None,
    progress: bool = True,
    description: str = "train",
) -> list[float]:
    """Train ``model`` for ``steps`` steps of ``loss``; returns the loss of every step.

    Parameters
    ----------
    loss
        ``loss(model, generator)``: one step's scalar loss (draw batches,
        crops and flips from ``generator``, the run's only source of
        randomness).
    optimizer, scheduler
        Built by the caller over ``model.parameters()``; the scheduler (any
        ``torch.optim.lr_scheduler``) steps once per step.
    checkpoint
        A file (``.safetensors``) to checkpoint to every ``checkpoint_every``
        steps and at the end; an existing one is resumed. None: no checkpoint.
    settings
        What defines the run (JSON values: data hashes, options, learning
        rate…). A checkpoint made with other settings is refused rather than
        resumed.

    Raises
    ------
    STSTError
        When the loss becomes NaN or infinite (naming the step; the last
        checkpoint is kept), or a checkpoint belongs to another run.
    """
    if steps < 1 or checkpoint_every < 1:
        raise ConfigError(f"steps and checkpoint_every must be at least 1, got {steps} and {checkpoint_every}")
    generator = torch.Generator().manual_seed(seed)
    identity = json.loads(json.dumps({"seed": seed, "steps": steps, **dict(settings or {})}, sort_keys=True, default=str))
    losses: list[float] = []
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(Path(checkpoint))
        if state.get("identity") != identity:
            raise STSTError(f"{checkpoint} is the checkpoint of another training run ({state.get('identity')} ≠ {identity}); remove it or choose another path")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["rng"])
        losses = [float(v) for v in state["losses"]]
    model.train()

    def save():
        if checkpoint is None:
            return
        state = {
            "identity": identity,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": generator.get_state(),
            "losses": torch.tensor(losses, dtype=torch.float64),
        }
        if scheduler is not None:
            state["scheduler"] = scheduler.state_dict()
        save_checkpoint(Path(checkpoint), state)

    pending = []  # losses on the device, copied to the host at checkpoints
    with tqdm(total=steps, initial=len(losses), disable=not progress, desc=description, unit="step", dynamic_ncols=True) as bar:
        for step in range(len(losses), steps):
            value = loss(model, generator)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            pending.append(value.detach())
            bar.update(1)
            if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
                values = torch.stack(pending).double().cpu().tolist()
                bad = [i for i, v in enumerate(values) if not torch.isfinite(torch.tensor(v))]
                if bad:
                    raise STSTError(
                        f"{description}: the loss became {values[bad[0]]} at step {len(losses) + bad[0]}; the last checkpoint is kept. Lower the learning rate"
                    )
                losses += values
                pending = []
                bar.set_postfix_str(f"loss={losses[-1]:.4g}", refresh=False)
                save()
    model.eval()
    return losses


def data_fingerprints(videos: Sequence[Video]) -> list[dict[str, Any]]:
    """Source, shape, fps and sha256 of each training video, for a model's card."""
    return [video_fingerprint(video) for video in videos]


def card_path(weights: str | Path) -> Path:
    """Where the card of a weights file lives: ``model.safetensors`` → ``model.safetensors.json``."""
    weights = Path(weights)
    return weights.with_name(weights.name + ".json")


def save_model(
    model: torch.nn.Module,
    path: str | Path,
    *,
    architecture: str,
    options: Mapping[str, Any],
    data: Sequence[Video] | Sequence[Mapping[str, Any]] = (),
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights to ``path`` (safetensors) and its card to ``path + ".json"``.

    ``architecture`` is the registered backbone that loads the file,
    ``options`` its constructor options (JSON), ``data`` the training videos
    (or their fingerprints), ``training`` the training settings and results.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ConfigError(f"{path}: a learned model is saved as .safetensors (with its card beside it); choose a name ending in .safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    card = {
        "format": CARD_FORMAT,
        "architecture": architecture,
        "options": dict(options),
        "data": [video_fingerprint(v) if isinstance(v, Video) else dict(v) for v in data],
        "training": dict(training or {}),
        "versions": toolkit_versions(),
    }
    text = json.dumps(card, indent=2, sort_keys=True, default=str) + "\n"
    tensors = {name: value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    temporary = path.with_name(f".{path.name}.writing")
    save_file(tensors, str(temporary), metadata={"stst_card": json.dumps(card, sort_keys=True, default=str)})
    write_text_atomically(card_path(path), text)
    temporary.replace(path)
    return path


def load_model(path: str | Path, *, architecture: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict and card of a model written by :func:`save_model` (checked against ``architecture``)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            embedded = (handle.metadata() or {}).get("stst_card")
        state = load_file(str(path))
    except Exception as exc:  # not a safetensors file
        raise WeightsError(f"{path} is not a safetensors model file: {exc}") from exc
    if card_path(path).is_file():
        card = json.loads(card_path(path).read_text())
    elif embedded:
        card = json.loads(embedded)  # the card travels inside the file too
    else:
        raise WeightsError(f"{path} has no card ({card_path(path).name} beside it): it was not written by save_model, so its architecture is unknown")
    if card.get("format") != CARD_FORMAT:
        raise WeightsError(f"{card_path(path)} is not a learned-model card (format {card.get('format')!r})")
    if architecture is not None and card["architecture"] != architecture:
        raise WeightsError(
            f"{path} holds a {card['architecture']!r} model, not a {architecture!r} one; load it with create_backbone({card['architecture']!r}, weights=...)"
        )
    return state, card
