"""Model-based distance: Gram matrices of a registered backbone's layers.

For each layer ``l`` with activations ``F_l`` (channels × locations, every
position in time and space of the whole clip a location) the time-averaged
Gram matrix is ``G_l = F_l F_lᵀ / N_l`` (Tesfaldet et al. 2018), and the
distance is relative::

    d_l = ‖G_l(generated) − G_l(target)‖_F / ‖G_l(target)‖_F

0 for identical statistics; 1 means the difference is as large as the
target's Gram matrix itself. Long clips are run in chunks of frames (with the
backbone's temporal window overlapping), so memory stays bounded.
"""

from __future__ import annotations

from typing import Any

import torch

from stst_core import ConfigError, Metric, Video, create_backbone, resolve_device

from .common import Count

DEFAULT_SEED = 1234  # not 0, the synthesizers' default: a judge should not be the very network a method optimised


class GramDistance(Metric):
    """Relative Gram-matrix distance per layer of any registered backbone (default: a random multiscale network, no download).

    Returns ``{layer: d_l}`` (see :mod:`stst_metrics.gram`).

    Parameters
    ----------
    backbone : str
        A registered backbone (``stst backbones list``); default
        ``random-multiscale`` (random filters, built in code).
    weights : str, optional
        Its weights tag or a file; default the backbone's default. Note that
        some defaults download (``vgg19``: ``imagenet``; ``msoe``:
        ``tesfaldet``): pass ``weights="analytic"`` or ``"random"`` offline.
    layers : list of str, optional
        Layers to compare; default the backbone's default layers.
    seed : int
        Seed of random weights (default 1234).
    options : dict, optional
        Backbone options (``{"levels": 3}``).
    device : str
        Where to run the backbone (default ``cpu``).
    chunk_frames : int
        Frames per forward pass (default 16).
    """

    name = "gram"
    needs_rgb = True  # backbones take RGB: a grey video is given as three equal channels

    backbone: str = "random-multiscale"
    weights: str | None = None
    layers: list[str] | None = None
    seed: int = DEFAULT_SEED
    options: dict[str, Any] | None = None
    device: str = "cpu"
    chunk_frames: Count = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        self.torch_device = resolve_device(self.device)
        self.net = create_backbone(self.backbone, weights=self.weights, device=self.device, seed=self.seed, **dict(self.options or {}))
        self.layers = self.net.resolve_layers(self.layers)  # an unknown layer fails here, naming the known ones

    @property
    def min_frames(self) -> int:
        return self.net.temporal_window

    @torch.no_grad()
    def gram_matrices(self, video: Video) -> dict[str, torch.Tensor]:
        """``{layer: G_l}`` of one video, float64."""
        window = self.net.temporal_window
        if video.num_frames < window:
            raise ConfigError(f"gram: backbone {self.net.card.name!r} looks at {window} frames at once; the video has {video.num_frames}")
        batch = video.batch().to(self.torch_device)
        chunk_frames = max(self.chunk_frames, window)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        per_frame_layers = all(self.net.layers[name].axes.startswith("CT") for name in self.layers)
        step = chunk_frames - (window - 1) if per_frame_layers else video.num_frames
        start = 0
        while True:
            # chunks overlap by window − 1 frames, so that every output step is seen exactly once
            chunk = batch[:, :, start : start + (chunk_frames if per_frame_layers else video.num_frames)]
            acts = self.net(chunk, self.layers)
            for name, act in acts.items():
                flat = act.reshape(act.shape[0], act.shape[1], -1).double()[0]
                sums[name] = sums.get(name, 0) + flat @ flat.T
                counts[name] = counts.get(name, 0) + flat.shape[1]
            start += step
            if start + window > video.num_frames:
                break
        return {name: sums[name] / counts[name] for name in self.layers}

    def compare(self, generated: Video, target: Video) -> dict[str, float]:
        a, b = self.gram_matrices(generated), self.gram_matrices(target)
        out = {}
        for name in self.layers:
            reference = torch.linalg.norm(b[name])
            difference = torch.linalg.norm(a[name] - b[name])
            out[name] = float(difference / reference) if reference > 0 else (0.0 if difference == 0 else float("inf"))
        return out
