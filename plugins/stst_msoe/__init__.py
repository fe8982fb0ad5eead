"""MSOE: the multiscale oriented-energy network, the temporal stream of STST and two-stream synthesis.

It looks at every consecutive pair of frames of a clip: a ``(B, 3, T, H, W)``
video gives outputs with ``T - 1`` time steps. Grey is the sum of R, G and B,
as in the reference implementation (the contrast normalisation removes the
scale; ``grey="luma"`` weighs them as Tesfaldet et al. do). Layers: ``scale0`` … ``scale4`` (64 channels at each pyramid level's
own resolution), ``concat`` (320 channels at full resolution: the layer whose
Gram matrices STST matches) and ``flow`` (2 channels, the decoded optical flow
in pixels per frame, ``(dx, dy)`` with x to the right and y down; only with
trained weights).

Weights: ``tesfaldet`` (trained by Tesfaldet et al. on UCF-101 flow, as
redistributed with STST; downloaded once and checksummed, or a local ``.npz``
path), ``analytic`` (Gaussian-derivative quadrature filters built in code, see
:mod:`stst_msoe.analytic`) and ``random``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from stst_core import (
    Backbone,
    BackboneCard,
    BackboneError,
    LayerSpec,
    WeightsChoice,
    WeightsError,
    WeightsFile,
    fetch,
    hookimpl,
    is_weights_path,
    load_state_dict,
)

from .analytic import analytic_state_dict
from .network import CHANNELS, NUM_SCALES, MSOENet

TESFALDET = WeightsFile(
    name="msoe.tesfaldet",
    filename="msoe_tesfaldet_weights.npz",
    urls=("https://raw.githubusercontent.com/antoninogreco/STST/b9a8379174516a6dbdb4afdf553f1a926b4a50f8/dyn_model/weights.npz",),
    sha256="99c984d7763650dfd8a5bb3db47c1d7a7872cb2aff13fdfb3f9158516d48b06b",
    licence="Apache-2.0",
    size_bytes=725_000,
)
REFERENCE_KEYS = {f"conv{i}_{p}" for i in range(1, 5) for p in "wb"}
# STST sums R, G and B; Tesfaldet et al. use tf.image.rgb_to_grayscale (ITU-R 601 luma)
GREY = {"sum": "R + G + B", "luma": "0.299 R + 0.587 G + 0.114 B"}
LUMA = (0.299, 0.587, 0.114)


class MSOE(Backbone):
    """Multiscale oriented-energy network on consecutive frame pairs (Tesfaldet et al. 2018)."""

    paper = "Tesfaldet, Brubaker & Derpanis (2018). Two-Stream Convolutional Networks for Dynamic Texture Synthesis. CVPR. arXiv:1706.06982"
    licence = "Apache-2.0 (STST redistribution of the trained weights)"
    weights_choices = (
        WeightsChoice("tesfaldet", "trained on UCF-101 optical flow (Tesfaldet et al.), as shipped with STST", "Apache-2.0", TESFALDET),
        WeightsChoice("analytic", "oriented spatiotemporal Gaussian-derivative quadrature filters built in code; no flow decoder"),
        WeightsChoice("random", "PyTorch's default initialisation under the given seed"),
    )
    default_weights = "tesfaldet"
    temporal_window = 2

    def __init__(self, weights: str | None = None, *, grey: str = "sum"):
        weights = weights or self.default_weights
        if grey not in GREY:
            raise BackboneError(f"msoe: grey must be one of {', '.join(GREY)}, got {grey!r}")
        net = MSOENet()
        has_decoder = True
        if is_weights_path(weights):
            tag, source = f"file:{weights}", str(weights)
            _load_file(net, weights)
        else:
            choice = self.weights_choice(weights)
            tag = choice.tag
            if choice.file is not None:
                path = fetch(choice.file)
                source = f"{choice.file.resolved_urls()[0]} (cached at {path})"
                _load_file(net, path)
            elif tag == "analytic":
                source = "built in code (stst_msoe.analytic)"
                net.load_state_dict(analytic_state_dict(), strict=False)
                has_decoder = False
            else:
                source = "random initialisation"

        layers = [LayerSpec(f"scale{s}", "CTHW", CHANNELS, f"pyramid level {s} (1/{2**s} resolution)") for s in range(NUM_SCALES)]
        layers.append(LayerSpec("concat", "CTHW", NUM_SCALES * CHANNELS, "all levels upsampled to full size"))
        if has_decoder:
            layers.append(LayerSpec("flow", "CTHW", 2, "decoded flow (dx, dy) in px/frame"))
        super().__init__(
            card=BackboneCard(
                name="msoe",
                weights=tag,
                source=source,
                licence=self.licence,
                paper=self.paper,
                input_normalization=f"grey = {GREY[grey]} of [0,1] RGB, then contrast normalisation per frame pair",
                extra={"grey": grey},
            ),
            layers=layers,
            default_layers=["concat"],
        )
        self.net = net
        self.register_buffer("grey_weights", torch.tensor(LUMA if grey == "luma" else (1.0, 1.0, 1.0)).view(1, 3, 1, 1, 1), persistent=False)

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = video.shape[0]
        grey = (video * self.grey_weights).sum(dim=1)  # (B, T, H, W)
        # every consecutive pair becomes one sample with the two frames as channels
        pairs = grey.unfold(1, 2, 1).permute(0, 1, 4, 2, 3)  # (B, T-1, 2, H, W)
        steps = pairs.shape[1]
        outputs = self.net(pairs.reshape(batch * steps, 2, *pairs.shape[-2:]), decode="flow" in layers)
        return {name: out.reshape(batch, steps, *out.shape[1:]).transpose(1, 2) for name, out in outputs.items() if name in layers}


def _load_file(net: MSOENet, path) -> None:
    """Load the reference ``.npz`` layout, or a state dict saved from :class:`MSOENet`."""
    state = load_state_dict(path)
    if REFERENCE_KEYS <= set(state):
        net.load_reference({k: v.numpy() for k, v in state.items()})
        return
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"{path} is neither the reference MSOE .npz (arrays {', '.join(sorted(REFERENCE_KEYS))}) nor an MSOENet state dict: {exc}") from None


@hookimpl
def stst_register_backbones(register):
    register("msoe", MSOE)


__all__ = ["MSOE", "MSOENet", "TESFALDET"]
