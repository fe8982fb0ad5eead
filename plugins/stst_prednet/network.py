"""PredNet (Lotter, Kreiman & Cox, ICLR 2017): a predictive-coding network for next-frame prediction.

Each layer l holds representation units R_l (a convolutional LSTM), a
prediction Â_l, a target A_l and error units E_l. At every time step t:

1. top down, for l = L−1 … 0:
   ``R_l(t) = ConvLSTM(E_l(t−1), R_l(t−1), upsample(R_{l+1}(t)))``;
2. bottom up, for l = 0 … L−1:
   ``Â_l(t) = ReLU(conv(R_l(t)))`` (clipped at 1 for l = 0: a frame),
   ``A_0(t) = x_t``, ``A_{l+1}(t) = maxpool(ReLU(conv(E_l(t))))``,
   ``E_l(t) = [ReLU(A_l(t) − Â_l(t)), ReLU(Â_l(t) − A_l(t))]``.

The training loss is the time- and layer-weighted mean of the error units:
``Σ_t λ_t Σ_l λ_l · mean(E_l(t))`` with λ_0 = 0 (nothing to predict at the
first frame) and λ_t = 1 after it; ``L_0`` training weights the pixel layer
alone (λ_l = 1, 0, 0 …), ``L_all`` weights the others 0.1, as the paper.
``Â_0(t)`` is the network's prediction of frame t from frames 0 … t−1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class PredNetConfig:
    """Layer widths (``channels[0]`` is the image's 3) and training-loss layer weights."""

    channels: list[int] = field(default_factory=lambda: [3, 16, 32])
    kernel_size: int = 3
    layer_weights: list[float] = field(default_factory=lambda: [1.0, 0.0, 0.0])

    def __post_init__(self):
        if len(self.channels) < 1 or self.channels[0] != 3:
            raise ValueError(f"channels must start with 3 (RGB); got {self.channels}")
        if len(self.layer_weights) != len(self.channels):
            raise ValueError(f"layer_weights needs one weight per layer ({len(self.channels)}); got {self.layer_weights}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd; got {self.kernel_size}")

    def as_dict(self) -> dict:
        return asdict(self)


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell: the four gates from one convolution of the concatenated inputs."""

    def __init__(self, inputs: int, hidden: int, kernel_size: int):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(inputs + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class PredNet(nn.Module):
    """PredNet over clips ``(B, 3, T, H, W)`` in [0, 1]; H and W divisible by 2^(layers−1)."""

    def __init__(self, config: PredNetConfig | None = None):
        super().__init__()
        self.config = config or PredNetConfig()
        ch, k = self.config.channels, self.config.kernel_size
        layers = len(ch)
        self.cells = nn.ModuleList(ConvLSTMCell(2 * ch[l] + (ch[l + 1] if l + 1 < layers else 0), ch[l], k) for l in range(layers))
        self.predict = nn.ModuleList(nn.Conv2d(ch[l], ch[l], k, padding=k // 2) for l in range(layers))
        self.target = nn.ModuleList(nn.Conv2d(2 * ch[l], ch[l + 1], k, padding=k // 2) for l in range(layers - 1))

    @property
    def levels(self) -> int:
        return len(self.config.channels)

    def check_size(self, height: int, width: int) -> None:
        factor = 2 ** (self.levels - 1)
        if height % factor or width % factor:
            raise ValueError(f"PredNet with {self.levels} layers needs frame sides divisible by {factor}; got {height}x{width}")

    def forward(self, clip: torch.Tensor, keep: tuple[str, ...] = ("prediction",)) -> dict[str, torch.Tensor]:
        """Run over the clip; returns the asked-for sequences, each ``(B, C, T, h, w)``.

        ``keep`` names what to return: ``"prediction"`` (Â_0), ``"errors"``
        (the mean of each layer's error units per step, ``(B, layers, T)``),
        ``"R0"`` … and ``"E0"`` … (representation and error units of a layer).
        """
        batch, _, frames, height, width = clip.shape
        self.check_size(height, width)
        ch = self.config.channels
        sizes = [(height // 2**l, width // 2**l) for l in range(self.levels)]
        zeros = [clip.new_zeros(batch, ch[l], *sizes[l]) for l in range(self.levels)]
        state = [(z, z) for z in zeros]
        errors = [clip.new_zeros(batch, 2 * ch[l], *sizes[l]) for l in range(self.levels)]
        kept: dict[str, list[torch.Tensor]] = {name: [] for name in keep}
        for t in range(frames):
            above = None
            for l in reversed(range(self.levels)):
                inputs = [errors[l]] if above is None else [errors[l], F.interpolate(above, size=sizes[l], mode="nearest")]
                state[l] = self.cells[l](torch.cat(inputs, dim=1), state[l])
                above = state[l][0]
            target = clip[:, :, t]
            step_errors = []
            for l in range(self.levels):
                prediction = F.relu(self.predict[l](state[l][0]))
                if l == 0:
                    prediction = prediction.clamp(max=1.0)  # a frame: SatLU
                    if "prediction" in kept:
                        kept["prediction"].append(prediction)
                errors[l] = torch.cat([F.relu(target - prediction), F.relu(prediction - target)], dim=1)
                step_errors.append(errors[l].mean(dim=(1, 2, 3)))
                if l + 1 < self.levels:
                    target = F.max_pool2d(F.relu(self.target[l](errors[l])), 2)
                for prefix, value in (("R", state[l][0]), ("E", errors[l])):
                    if f"{prefix}{l}" in kept:
                        kept[f"{prefix}{l}"].append(value)
            if "errors" in kept:
                kept["errors"].append(torch.stack(step_errors, dim=1))
        return {name: torch.stack(values, dim=2) for name, values in kept.items()}

    def loss(self, clip: torch.Tensor) -> torch.Tensor:
        """The training loss: layer-weighted error means, the first frame not counted."""
        errors = self(clip, keep=("errors",))["errors"]  # (B, layers, T)
        weights = torch.tensor(self.config.layer_weights, device=clip.device, dtype=clip.dtype)
        return (errors[:, :, 1:] * weights[None, :, None]).sum(dim=1).mean()

    def state_for_saving(self) -> dict:
        """What ``torch.save`` writes: weights and configuration, loadable with ``weights_only=True``."""
        return {"state_dict": self.state_dict(), "config": self.config.as_dict(), "format": "stst-prednet-1"}

    @classmethod
    def from_saved(cls, saved: dict) -> "PredNet":
        if not isinstance(saved, dict) or saved.get("format") != "stst-prednet-1":
            raise ValueError("not a PredNet model saved by `stst prednet train`")
        model = cls(PredNetConfig(**saved["config"]))
        model.load_state_dict(saved["state_dict"])
        return model
