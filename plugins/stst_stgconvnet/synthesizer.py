"""The STGConvNet synthesizer: learn an energy-based model of the input video, sampling it by Langevin dynamics as it learns.

One unit of progress is one learning iteration (the reference's epoch): every
chain takes ``langevin_steps`` Langevin steps, then the weights take one Adam
step along ``mean_syn ∂f/∂w − mean_obs ∂f/∂w``. The chains are persistent
(each iteration goes on from the last) and are the store's ``sample``
dimension; the checkpoint holds the weights, Adam's state and the chains, so a
resumed run is the uninterrupted one.

Store: ``video`` (sample, time, channel, y, x), the chains at the end;
``loss`` (iteration, term) with the mean score of the data and of the chains,
their gap, and the RMS of ``∂f/∂Y`` and of the Langevin updates;
``snapshots`` (snapshot, sample, channel, y, x), each chain's middle frame
every ``snapshot_every`` iterations; and ``model.safetensors`` (with its card)
in the store's folder, the learned weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from stst_core import Array, OptimizedSynthesizer, StimulusStore, save_model

from .config import STGConvNetConfig
from .energy import ARCHITECTURES, EnergyNet, from_model, langevin, learning_loss, to_model

PRESETS = Path(__file__).parent / "presets"
MODEL_FILE = "model.safetensors"  # the learned weights, in the store's folder
TERMS = ("data_score", "sample_score", "score_gap", "gradient_rms", "update_rms")


class STGConvNetSynthesizer(OptimizedSynthesizer):
    """Learns ``p(Y) ∝ exp(f(Y; w)) · N(Y; 0, σ²)`` from the input video and samples it with persistent Langevin chains."""

    name = "stgconvnet"
    unit = "iteration"
    config_class = STGConvNetConfig
    presets: ClassVar[dict[str, Path]] = {"paper": PRESETS / "paper.toml", "fast": PRESETS / "fast.toml"}
    default_preset = "fast"
    quick_preset = "fast"
    quick_overrides = ("iterations=4", "langevin_steps=2", "chains=2", "snapshot_every=2", "checkpoint_every=2")

    @property
    def units_total(self) -> int:
        return int(self.config.iterations)

    @property
    def samples(self) -> int:
        return int(self.config.chains)

    def prepare(self) -> None:
        content = self.targets["content"]
        self.mean = float(content.frames.double().mean()) * 255.0  # one scalar, as the reference
        self.observed = to_model(content.frames[None].to(self.device, torch.float32), self.mean)
        # fails here, before the store is touched, when the clip is too small for the architecture
        self.net = EnergyNet(ARCHITECTURES[self.config.architecture], tuple(content.frames.shape[1:])).to(self.device)

    def terms(self) -> tuple[str, ...]:
        return TERMS

    def histories(self) -> dict[str, Array]:
        content = self.targets["content"]
        snapshots = self.units_total // self.config.snapshot_every
        return {
            "loss": Array(("iteration", "term"), (self.units_total, len(TERMS)), chunks=(self.commit_every, len(TERMS))),
            "snapshots": Array(("snapshot", "sample", "channel", "y", "x"), (snapshots, self.samples, 3, content.height, content.width)),
        }

    def coords(self) -> dict[str, Any]:
        every = self.config.snapshot_every
        return {"iteration": np.arange(self.units_total), "snapshot": np.arange(every, self.units_total + 1, every)}

    # -- the run ---------------------------------------------------------------------

    def start_state(self) -> dict[str, Any]:
        self.net.reset(self.rng, self.config.init_std)
        # the chains start from the reference distribution q = N(0, σ²), as PaddleEBM does (ZZ: N(0, 1), the same at σ = 1)
        chains = torch.randn((self.samples, *self.observed.shape[1:]), generator=self.rng) * self.config.sigma
        return {"net": self.net.state_dict(), "adam": self._adam().state_dict(), "chains": chains}

    def _adam(self) -> torch.optim.Adam:
        return torch.optim.Adam(self.net.parameters(), lr=self.config.lr, betas=(self.config.beta1, 0.999))

    def start(self, state) -> None:
        self.net.load_state_dict({name: value.to(self.device) for name, value in state["net"].items()})
        self.adam = self._adam()
        self.adam.load_state_dict(state["adam"])
        self.chains = state["chains"].to(self.device)

    def advance(self, unit: int):
        cfg = self.config
        self.chains, stats = langevin(self.net, self.chains, steps=cfg.langevin_steps, step_size=cfg.step_size, sigma=cfg.sigma, generator=self.rng)
        self.adam.zero_grad()
        loss, data, samples = learning_loss(self.net, self.observed, self.chains)
        loss.backward()
        self.adam.step()
        self.progress.step(1.0, loss)
        values = torch.stack([data, samples, data - samples, torch.tensor(stats["gradient_rms"]), torch.tensor(stats["update_rms"])])
        rows = [("loss", unit, values)]
        if (unit + 1) % cfg.snapshot_every == 0:
            middle = self.chains.shape[2] // 2
            rows.append(("snapshots", (unit + 1) // cfg.snapshot_every - 1, from_model(self.chains[:, :, middle], self.mean)))
        return rows

    def state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "adam": self.adam.state_dict(), "chains": self.chains}

    def result(self) -> torch.Tensor:
        return from_model(self.chains, self.mean).transpose(1, 2)  # (S, T, C, H, W)

    def finish(self, store: StimulusStore) -> None:
        super().finish(store)
        cfg = self.config
        save_model(
            self.net,
            store.path / MODEL_FILE,
            architecture="stgconvnet",
            options={"architecture": cfg.architecture, "size": list(self.net.size)},
            data=[self.targets["content"]],
            training={"mean": self.mean, **{key: getattr(cfg, key) for key in ("iterations", "chains", "langevin_steps", "step_size", "sigma", "lr", "beta1")}},
        )

    def nan_advice(self, term: str | None = None) -> str:
        return "Lower step_size (the Langevin step) or lr (the weights' step)"
