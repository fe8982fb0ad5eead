"""MSOE: the multiscale oriented-energy network, the temporal stream of STST and two-stream synthesis.

It looks at every consecutive pair of frames of a clip: a ``(B, 3, T, H, W)``
video gives outputs with ``T - 1`` time steps. Grey is the sum of R, G and B,
as in the reference implementation (the contrast normalisation removes the
scale; ``grey="luma"`` weighs them as Tesfaldet et al. do;
``upsampling="tf1_legacy"`` brings the coarse levels to full size as
Tesfaldet et al.'s frozen TF1 graph does, without half-pixel centres). Layers: ``scale0`` … ``scale4`` (64 channels at each pyramid level's
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

from typing import Literal, Sequence

import torch

from stst_core import (
    Backbone,
    BackboneCard,
    LayerSpec,
    WeightsChoice,
    WeightsFile,
    hookimpl,
)

from .analytic import analytic_state_dict
from .network import CHANNELS, NUM_SCALES, REFERENCE_KEYS, MSOENet, reference_state_dict

TESFALDET = WeightsFile(
    name="msoe.tesfaldet",
    filename="msoe_tesfaldet_weights.npz",
    urls=("https://raw.githubusercontent.com/antoninogreco/STST/b9a8379174516a6dbdb4afdf553f1a926b4a50f8/dyn_model/weights.npz",),
    sha256="99c984d7763650dfd8a5bb3db47c1d7a7872cb2aff13fdfb3f9158516d48b06b",
    licence="Apache-2.0",
    size_bytes=725_000,
)
# STST sums R, G and B; Tesfaldet et al. use tf.image.rgb_to_grayscale (ITU-R 601 luma)
GREY = {"sum": "R + G + B", "luma": "0.299 R + 0.587 G + 0.114 B"}
LUMA = (0.299, 0.587, 0.114)


class MSOE(Backbone):
    """Multiscale oriented-energy network on consecutive frame pairs (Tesfaldet et al. 2018)."""

    paper = "Tesfaldet, Brubaker & Derpanis (2018). Two-Stream Convolutional Networks for Dynamic Texture Synthesis. CVPR. arXiv:1706.06982"
    licence = "Apache-2.0 (STST redistribution of the trained weights)"
    weights_choices = (
        WeightsChoice(
            "tesfaldet",
            "trained on UCF-101 optical flow (Tesfaldet et al.), as shipped with STST",
            "Apache-2.0",
            TESFALDET,
            hint="The STST repository's dyn_model/weights.npz works too: pass weights=<its path>.",
        ),
        WeightsChoice(
            "analytic",
            "oriented spatiotemporal Gaussian-derivative quadrature filters built in code (stst_msoe.analytic); no flow decoder",
            initializer=analytic_state_dict,
        ),
        WeightsChoice("random", "PyTorch's default initialisation under the given seed"),
    )
    default_weights = "tesfaldet"
    weights_help = f"Expected the reference MSOE .npz (arrays {', '.join(sorted(REFERENCE_KEYS))}) or a state dict saved from this backbone or from MSOENet."
    temporal_window = 2

    def __init__(
        self,
        weights: str | None = None,
        *,
        grey: Literal["sum", "luma"] = "sum",  # the keys of GREY
        upsampling: Literal["half_pixel", "tf1_legacy"] = "half_pixel",  # network.UPSAMPLINGS
    ):
        resolved = self.resolve_weights(weights)
        state = resolved.state_dict()
        if state is not None:
            state = self.convert_state_dict(state)
        # weights without a flow decoder (the analytic ones, or a file saved from them) give no flow layer
        has_decoder = state is None or bool({"conv3.weight", "net.conv3.weight"} & set(state))

        layers = [LayerSpec(f"scale{s}", "CTHW", CHANNELS, f"pyramid level {s} (1/{2**s} resolution)") for s in range(NUM_SCALES)]
        layers.append(LayerSpec("concat", "CTHW", NUM_SCALES * CHANNELS, "all levels upsampled to full size"))
        if has_decoder:
            layers.append(LayerSpec("flow", "CTHW", 2, "decoded flow (dx, dy) in px/frame"))
        super().__init__(
            card=BackboneCard(
                name="msoe",
                # grey and contrast normalisation belong to the network (compute), not to a Normalization
                input_normalization=f"grey = {GREY[grey]} of [0,1] RGB, then contrast normalisation per frame pair",
                extra={"grey": grey, **({"upsampling": upsampling} if upsampling != "half_pixel" else {})},
            ),
            layers=layers,
            default_layers=["concat"],
            weights=resolved,
        )
        self.net = MSOENet(decoder=has_decoder, upsampling=upsampling)
        self.load_weights(state, module=self.net)
        self.register_buffer("grey_weights", torch.tensor(LUMA if grey == "luma" else (1.0, 1.0, 1.0)).view(1, 3, 1, 1, 1), persistent=False)

    def compute(self, video: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = video.shape[0]
        grey = (video * self.grey_weights).sum(dim=1)  # (B, T, H, W)
        # every consecutive pair becomes one sample with the two frames as channels
        pairs = grey.unfold(1, 2, 1).permute(0, 1, 4, 2, 3)  # (B, T-1, 2, H, W)
        steps = pairs.shape[1]
        outputs = self.net(pairs.reshape(batch * steps, 2, *pairs.shape[-2:]), decode="flow" in layers)
        return {name: out.reshape(batch, steps, *out.shape[1:]).transpose(1, 2) for name, out in outputs.items() if name in layers}

    def convert_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The reference ``.npz`` layout (TensorFlow axes, ``conv1_w`` …) becomes :class:`MSOENet`'s; other files are taken as they are."""
        return reference_state_dict(state) if REFERENCE_KEYS <= set(state) else state


@hookimpl
def stst_register_backbones(register):
    register("msoe", MSOE)


__all__ = ["MSOE", "MSOENet", "TESFALDET"]
