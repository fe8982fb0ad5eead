"""The terms of the LEAPS objective (Stergiou & Deligiannis 2023), each a function of activations.

``L(x*, v, y) = CE(x*, y) + L_prim(x*, v) + r · R(x*)``: cross-entropy
towards the class ``y``, the priming loss that pulls the mean embeddings of
the synthesis ``x*`` towards those of a stimulus video ``v``, and the
regularisers, temporal coherence and feature diversity (batch-norm
statistics of a verifier network). Every term comes in the paper's form
and, where the released code does otherwise, in the released code's; the
tutorial's table says which preset uses which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

SIMILARITIES = ("jvs", "l1")
COHERENCES = ("paper", "released")


def jvs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Jaccard vector similarity along the last axis: the extended Jaccard (Tanimoto) coefficient ``a·b / (|a|² + |b|² − a·b)``.

    The paper names the similarity without defining it for real-valued
    vectors; this is the standard extension of the Jaccard index to them
    (Tanimoto): 1 exactly when ``a = b``, below 1 otherwise, at least −1/3,
    and 1 (not undefined) for two zero vectors.

    >>> round(float(jvs(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 2.0]))), 4)  # 6 / (5 + 8 − 6)
    0.8571
    """
    dot = (a * b).sum(-1)
    denominator = a.square().sum(-1) + b.square().sum(-1) - dot
    return torch.where(denominator > 0, dot / denominator.clamp_min(torch.finfo(denominator.dtype).tiny), torch.ones_like(dot))


def mean_embedding(activation: torch.Tensor, axes: str) -> torch.Tensor:
    """``μ(z)``: one vector per sample, the mean of a layer's activation ``(B, *axes)`` over every axis but ``C``."""
    channel = axes.index("C") + 1
    other = [dim for dim in range(1, activation.dim()) if dim != channel]
    return activation.mean(dim=other) if other else activation


def priming_loss(
    synthesis: Mapping[str, torch.Tensor], stimulus: Mapping[str, torch.Tensor], weights: Mapping[str, float], *, similarity: str = "jvs"
) -> torch.Tensor:
    """``L_prim``: how far the mean embeddings ``(B, C)`` of the synthesis are from its stimulus's, over the layers of ``weights``.

    ``"jvs"`` (the paper): ``1/L Σ_l λ_l · (1 − JVS(μ_l(x*), μ_l(v)))``,
    averaged over the batch (each sample against its own stimulus).
    ``"l1"`` (the released code): ``1/L Σ_l λ_l · Σ_{b,c} |μ_l(x*) − μ_l(v)|``,
    summed over the batch and channels as that code does.
    """
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}, got {similarity!r}")
    total = 0.0
    for layer, weight in weights.items():
        a, b = synthesis[layer], stimulus[layer]
        distance = (1 - jvs(a, b)).mean() if similarity == "jvs" else (a - b).abs().sum()
        total = total + weight * distance
    return total / len(weights)


def frames_of(activation: torch.Tensor, axes: str) -> torch.Tensor:
    """A layer's activation as ``(B, T, features)``: one vector per time step."""
    time = axes.index("T") + 1
    return activation.movedim(time, 1).flatten(2)


def coherence(activation: torch.Tensor, axes: str, *, delta: float = 1.0, form: str = "paper") -> torch.Tensor:
    """``R_coh`` of the last layer's activation: smooth from one time step to the next, different across longer gaps.

    ``"paper"``: with ``d(t1, t2)`` the mean absolute difference of the two
    time steps' activations (the L1 norm divided by the number of entries,
    so that ``δ`` does not depend on the layer's size),
    ``mean_{|t1−t2|=1} d + mean_{|t1−t2|>1} max(0, δ − d)``, averaged over
    the batch; 0 for a single time step.

    ``"released"``: the released code's term, per entry and on *signed*
    differences: ``Σ |z_{t+1} − z_t| + Σ_{a, k} h(a, k)`` over the time
    steps ``a, k`` in ``0 … T−2``, where ``h = max(0, 1 − (z_{k+1} − z_a))``
    for ``k < a`` and 1 otherwise, summed over everything and divided by the
    batch size. (That code then *subtracts* it, which the ``released``
    preset's negative ``coherence_weight`` repeats.)
    """
    z = frames_of(activation, axes)
    steps = z.shape[1]
    if form == "paper":
        if steps < 2:
            return z.sum() * 0
        distance = (z[:, :, None] - z[:, None, :]).abs().mean(-1)  # (B, T, T)
        gap = (torch.arange(steps)[:, None] - torch.arange(steps)[None, :]).abs().to(z.device)
        near = distance[:, gap == 1].mean()
        far = F.relu(delta - distance[:, gap > 1]).mean() if steps > 2 else near * 0
        return near + far
    if form == "released":
        smooth = (z[:, 1:] - z[:, :-1]).abs().sum()
        later, earlier = z[:, 1:], z[:, :-1]  # z_{k+1} and z_a for a, k in 0 … T−2
        signed = later[:, None, :, :] - earlier[:, :, None, :]  # (B, a, k, features)
        below = torch.tril(torch.ones(steps - 1, steps - 1, dtype=torch.bool, device=z.device), diagonal=-1)  # k < a
        hinge = F.relu(1 - torch.where(below[None, :, :, None], signed, torch.zeros_like(signed))).sum()
        return (smooth + hinge) / z.shape[0]
    raise ValueError(f"coherence form must be one of {', '.join(COHERENCES)}, got {form!r}")


def batchnorm_weights(count: int, first: float = 10.0) -> list[float]:
    """The weight of each BatchNorm layer's statistics term, in order: ``first``, then ``1 + 10/(s + 1)`` (the released code's).

    >>> [round(w, 2) for w in batchnorm_weights(4)]
    [10.0, 11.0, 6.0, 4.33]
    """
    return [first] + [1 + 10 / (s + 1) for s in range(count - 1)]


class BatchNormStatistics:
    """The feature-diversity regulariser: the batch statistics of what enters each BatchNorm layer of a verifier, against its running statistics.

    Hooks every ``BatchNorm1d/2d/3d`` of ``verifier``; after a forward pass
    of the synthesised batch, :meth:`loss` is
    ``Σ_i w_i (‖σ²_i − σ²_run,i‖₂ + ‖μ_i − μ_run,i‖₂)``, with the batch mean
    and (biased) variance of the layer's input per channel, pooled over the
    batch and every other axis, and ``w`` from :func:`batchnorm_weights`.

    Raises
    ------
    ValueError
        When the verifier has no BatchNorm layer (a LayerNorm network keeps
        no running statistics to match).
    """

    def __init__(self, verifier: nn.Module, *, first_weight: float = 10.0):
        self.layers = [m for m in verifier.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if not self.layers:
            raise ValueError("it has no BatchNorm layer with running statistics")
        self.weights = batchnorm_weights(len(self.layers), first_weight)
        self.terms: list[torch.Tensor | None] = [None] * len(self.layers)
        self.handles = [layer.register_forward_pre_hook(self._hook(index)) for index, layer in enumerate(self.layers)]

    def _hook(self, index: int):
        def record(module, args):
            x = args[0]
            dims = [0, *range(2, x.dim())]
            mean, var = x.mean(dims), x.var(dims, unbiased=False)
            self.terms[index] = torch.linalg.vector_norm(module.running_var - var) + torch.linalg.vector_norm(module.running_mean - mean)

        return record

    def loss(self) -> torch.Tensor:
        """The weighted sum over the layers of the last forward pass."""
        if any(term is None for term in self.terms):
            raise RuntimeError("BatchNormStatistics.loss() before a forward pass through every BatchNorm layer of the verifier")
        total = sum(weight * term for weight, term in zip(self.weights, self.terms))
        self.terms = [None] * len(self.layers)
        return total

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def cross_entropy(logits: torch.Tensor, target: int, *, double_softmax: bool = False) -> torch.Tensor:
    """Cross-entropy of every sample's ``logits`` towards the class ``target``.

    ``double_softmax``: as the released code, whose models output
    probabilities, the cross-entropy of ``softmax(logits)`` taken as logits
    (its gradient is far weaker once the class is likely).
    """
    scores = logits.softmax(-1) if double_softmax else logits
    return F.cross_entropy(scores, torch.full((scores.shape[0],), target, dtype=torch.long, device=scores.device))


def image_prior(normalized: torch.Tensor) -> torch.Tensor:
    """The released code's L2 image prior: the mean over the batch of each sample's L2 norm, in the model's input units."""
    return torch.linalg.vector_norm(normalized.flatten(1), dim=1).mean()


def augment(video: torch.Tensor, *, generator: torch.Generator, jitter: int, flip: float) -> torch.Tensor:
    """The reference's augmentation of each step: one random roll of ``±jitter`` pixels on y and x, and a horizontal flip with probability ``flip``.

    The roll and the flip are the same for every frame and every sample
    (the released code's); drawn from ``generator``, so a resumed run draws
    what the uninterrupted one did.
    """
    dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
    flipped = bool(torch.rand((), generator=generator) < flip)
    video = torch.roll(video, shifts=(dy, dx), dims=(-2, -1)) if jitter else video
    return video.flip(-1) if flipped else video


def weights_of(layers: Sequence[str], weights: Sequence[float] | None) -> dict[str, float]:
    """``{layer: λ}`` from the config's lists (None: 1 each)."""
    if weights is None:
        return dict.fromkeys(layers, 1.0)
    if len(weights) != len(layers):
        raise ValueError(f"priming_weights has {len(weights)} weights for {len(layers)} priming layers ({', '.join(layers)})")
    return dict(zip(layers, map(float, weights)))
