"""The STGConvNet synthesizer: learn an energy-based model of the input video, sampling it by Langevin dynamics as it learns.

One unit of progress is one learning iteration (the reference's epoch): every
chain takes ``langevin_steps`` Langevin steps, then the weights take one Adam
step along ``mean_syn ∂f/∂w − mean_obs ∂f/∂w``. The chains are persistent
(each iteration goes on from the last); the checkpoint holds the weights,
Adam's state and the chains, so a resumed run is the uninterrupted one.

Recovery (a ``mask`` target, 1 = occluded, or a generated ``mask_type``): the
observed video is itself a persistent chain whose visible entries are clamped
to the input, so each iteration its occluded entries take the same Langevin
steps under the current model, and the model learns from the video so
completed (the paper's recovery and background inpainting).

Store: ``video`` (sample, time, channel, y, x), the chains at the end (in
recovery: ``video`` (time, channel, y, x) is the recovered video, the chains
are ``chains`` and the mask ``mask`` (time, y, x)); ``loss`` (iteration, term)
with the mean score of the data and of the chains, their gap, the RMS of
``∂f/∂Y`` and of the Langevin updates (and ``recovery_error`` when the truth is
known); ``snapshots`` (snapshot, sample, channel, y, x), each chain's middle
frame every ``snapshot_every`` iterations; and ``model.safetensors`` (with its
card) in the store's folder, the learned weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from stst_core import Array, ConfigError, OptimizedSynthesizer, StimulusStore, Video, load_model, save_model

from .config import STGConvNetConfig
from .energy import ARCHITECTURES, EnergyNet, from_model, langevin, learning_loss, to_model
from .masks import generate_mask, mask_of, mask_video, read_mask
from .recovery import recovery_error

PRESETS = Path(__file__).parent / "presets"
MODEL_FILE = "model.safetensors"  # the learned weights, in the store's folder
TERMS = ("data_score", "sample_score", "score_gap", "gradient_rms", "update_rms")
RECOVERY_TERM = "recovery_error"  # mean |recovered − truth| over the occluded entries, 0..255 (recovery.recovery_error)


class STGConvNetSynthesizer(OptimizedSynthesizer):
    """Learns ``p(Y) ∝ exp(f(Y; w)) · N(Y; 0, σ²)`` from the input video and samples it with persistent Langevin chains."""

    name = "stgconvnet"
    unit = "iteration"
    config_class = STGConvNetConfig
    presets: ClassVar[dict[str, Path]] = {name: PRESETS / f"{name}.toml" for name in ("paper", "fast", "recovery")}
    default_preset = "fast"
    target_roles = ("mask", "truth")  # recovery: what is occluded (1), and the unoccluded video when it is known
    target_help: ClassVar[dict[str, str]] = {
        "mask": "Occlusion mask to recover INPUT from (1 = occluded): a .mat file as the reference's, .npy/.npz (T, H, W[, C]), or a folder of images.",
        "truth": "The unoccluded video, to score a recovery (with a generated mask_type: INPUT).",
    }
    many_inputs = True  # one model of several videos, with `chains` chains for each
    setting_options: ClassVar[dict[str, str]] = {
        "model": "Sample new chains from this learned model (a store of an earlier run, or its model.safetensors) without learning"
    }
    quick_preset = "fast"
    quick_overrides = ("iterations=4", "langevin_steps=2", "chains=2", "snapshot_every=2", "checkpoint_every=2")

    @classmethod
    def read_target(cls, role, path, *, content, read, start, stride) -> Video:
        if role != "mask":
            return read(path)
        return mask_video(read_mask(path, tuple(content.frames.shape[1:]), start=start, stride=stride), content.fps, content.channels)

    @property
    def units_total(self) -> int:
        return int(self.config.iterations)

    @property
    def samples(self) -> int | None:
        return None if self.recovering else int(self.config.chains) * len(self.inputs)

    @property
    def recovering(self) -> bool:
        return "mask" in self.targets or self.config.mask_type is not None

    def prepare(self) -> None:
        content = self.targets["content"]
        for index, video in enumerate(self.inputs[1:], 1):
            if video.shape != content.shape:
                raise ConfigError(
                    f"input {index + 1} ({video.source}) is {_shape(video)} but the first ({content.source}) {_shape(content)}; "
                    "one model learns from videos of one size: read them with the same --frames, --size and --crop"
                )
        if self.recovering and len(self.inputs) > 1:
            raise ConfigError(f"a recovery fills in one video; got {len(self.inputs)} inputs")
        frames = torch.stack([video.frames for video in self.inputs]).to(self.device, torch.float32)
        self.mask = self._mask()
        self.truth = self._truth()
        if self.mask is not None:
            self.visible = ~self.mask[None, None].to(self.device).expand_as(frames)
            self.mean = float(frames[self.visible].double().mean()) * 255.0  # what is seen is all there is
        else:
            self.mean = float(frames.double().mean()) * 255.0  # one scalar over every video, as the reference
        self.learned = self._learned_model()
        if self.learned is not None:
            self.mean = float(self.learned[1]["training"]["mean"])  # the model's units are its training video's
        self.observed = to_model(frames, self.mean)
        # fails here, before the store is touched, when the clip is too small for the architecture
        self.net = EnergyNet(ARCHITECTURES[self.config.architecture], tuple(content.frames.shape[1:])).to(self.device)

    def _learned_model(self) -> tuple[dict, dict] | None:
        """The weights and card of the ``model`` to sample from, checked against this run; None: learn one."""
        if self.config.model is None:
            return None
        path = Path(self.config.model)
        state, card = load_model(path / MODEL_FILE if path.is_dir() else path, architecture="stgconvnet")  # a store, or its model file
        architecture, size = card["options"]["architecture"], tuple(card["options"]["size"])
        if architecture != self.config.architecture:
            raise ConfigError(f"{self.config.model} is an {architecture} network; sample it with --set architecture={architecture}")
        if size != tuple(self.targets["content"].frames.shape[1:]):
            frames, height, width = size
            raise ConfigError(
                f"{self.config.model} was learned on {frames} frames of {height}x{width}, the input is {_shape(self.targets['content'])}; "
                f"read the input at the model's size (--frames {frames}, --size, --crop {height}x{width})"
            )
        return state, card

    def _mask(self) -> torch.Tensor | None:
        """The occlusion mask ``(T, H, W)``: the ``mask`` target, or one generated from the config, or None."""
        content, cfg = self.targets["content"], self.config
        if "mask" in self.targets:
            if cfg.mask_type is not None:
                raise ConfigError(f"give either a mask (--mask) or a mask_type to generate one, not both (mask_type={cfg.mask_type!r})")
            if self.targets["mask"].shape != content.shape:
                raise ConfigError(f"the mask is {_shape(self.targets['mask'])} but the input {_shape(content)}; give a mask of the input's frames")
            return mask_of(self.targets["mask"])
        if cfg.mask_type is not None:
            return generate_mask(cfg.mask_type, tuple(content.frames.shape[1:]), ratio=cfg.mask_ratio, seed=cfg.mask_seed)
        return None

    def _truth(self) -> torch.Tensor | None:
        """The unoccluded video ``(C, T, H, W)`` the recovery is scored against: the ``truth`` target, or the input behind a generated mask."""
        content = self.targets["content"]
        if "truth" in self.targets:
            if self.mask is None:
                raise ConfigError("a truth video scores a recovery: give a mask (--mask, or a mask_type) too")
            if self.targets["truth"].shape != content.shape:
                raise ConfigError(f"the truth is {_shape(self.targets['truth'])} but the input {_shape(content)}; give the input's frames unoccluded")
            return self.targets["truth"].frames.to(self.device, torch.float32)
        if self.config.mask_type is not None:
            return content.frames.to(self.device, torch.float32)
        return None

    def terms(self) -> tuple[str, ...]:
        return TERMS + ((RECOVERY_TERM,) if self.truth is not None else ())

    def histories(self) -> dict[str, Array]:
        content, cfg = self.targets["content"], self.config
        snapshots = self.units_total // cfg.snapshot_every
        arrays = {
            "loss": Array(("iteration", "term"), (self.units_total, len(self.terms())), chunks=(self.commit_every, len(self.terms()))),
            "snapshots": Array(
                ("snapshot", "sample", "channel", "y", "x"), (snapshots, cfg.chains * len(self.inputs), content.channels, content.height, content.width)
            ),
        }
        if self.recovering:  # written once, at the end
            arrays["chains"] = Array(("sample", "time", "channel", "y", "x"), (cfg.chains, content.num_frames, content.channels, content.height, content.width))
            arrays["mask"] = Array(("time", "y", "x"), (content.num_frames, content.height, content.width))
        return arrays

    def coords(self) -> dict[str, Any]:
        every = self.config.snapshot_every
        return {"iteration": np.arange(self.units_total), "snapshot": np.arange(every, self.units_total + 1, every)}

    # -- the run ---------------------------------------------------------------------

    def start_state(self) -> dict[str, Any]:
        self.net.reset(self.rng, self.config.init_std)
        if self.learned is not None:
            self.net.load_state_dict(self.learned[0])
        # the chains start from the reference distribution q = N(0, σ²), as PaddleEBM does (ZZ: N(0, 1), the same at σ = 1)
        count = self.config.chains * len(self.inputs)  # each video's chains in turn: sample v·chains + i is video v's
        chains = torch.randn((count, *self.observed.shape[1:]), generator=self.rng) * self.config.sigma
        state = {"net": self.net.state_dict(), "adam": self._adam().state_dict(), "chains": chains}
        if self.recovering:  # occluded entries start at the visible mean (0 in the model's units)
            state["recovered"] = torch.where(self.visible, self.observed, torch.zeros_like(self.observed)).cpu()
        return state

    def _adam(self) -> torch.optim.Adam:
        return torch.optim.Adam(self.net.parameters(), lr=self.config.lr, betas=(self.config.beta1, 0.999))

    def start(self, state) -> None:
        self.net.load_state_dict({name: value.to(self.device) for name, value in state["net"].items()})
        self.adam = self._adam()
        self.adam.load_state_dict(state["adam"])
        self.chains = state["chains"].to(self.device)
        self.recovered = state["recovered"].to(self.device) if self.recovering else None

    def advance(self, unit: int):
        cfg = self.config
        sampling = {"steps": cfg.langevin_steps, "step_size": cfg.step_size, "sigma": cfg.sigma, "generator": self.rng}
        self.chains, stats = langevin(self.net, self.chains, **sampling)
        data = self.observed
        if self.recovering:  # the occluded entries are sampled given the visible ones; the model learns from the completion
            self.recovered, _ = langevin(self.net, self.recovered, **sampling, clamp=(self.visible, self.observed))
            data = self.recovered
        self.adam.zero_grad()
        loss, data_score, sample_score = learning_loss(self.net, data, self.chains)
        if self.learned is None:  # a given model only samples
            loss.backward()
            self.adam.step()
        self.progress.step(1.0, loss)
        values = [data_score, sample_score, data_score - sample_score, torch.tensor(stats["gradient_rms"]), torch.tensor(stats["update_rms"])]
        if self.truth is not None:
            values.append(torch.tensor(recovery_error(from_model(self.recovered[0], self.mean), self.truth, self.mask)))
        rows = [("loss", unit, torch.stack([v.to(self.device) for v in values]))]
        if (unit + 1) % cfg.snapshot_every == 0:
            middle = self.chains.shape[2] // 2
            rows.append(("snapshots", (unit + 1) // cfg.snapshot_every - 1, from_model(self.chains[:, :, middle], self.mean)))
        return rows

    def state(self) -> dict[str, Any]:
        state = {"net": self.net.state_dict(), "adam": self.adam.state_dict(), "chains": self.chains}
        return {**state, "recovered": self.recovered} if self.recovering else state

    def chain_frames(self) -> torch.Tensor:
        """The chains as videos ``(S, T, C, H, W)`` in [0, 1]."""
        return from_model(self.chains, self.mean).transpose(1, 2)

    def result(self) -> torch.Tensor:
        if self.recovering:
            return from_model(self.recovered[0], self.mean).transpose(0, 1)  # (T, C, H, W)
        return self.chain_frames()

    def finish(self, store: StimulusStore) -> None:
        super().finish(store)
        cfg = self.config
        if self.recovering:
            store.write("chains", self.chain_frames().cpu().numpy())
            store.write("mask", self.mask.float().numpy())
        save_model(
            self.net,
            store.path / MODEL_FILE,
            architecture="stgconvnet",
            options={"architecture": cfg.architecture, "size": list(self.net.size)},
            data=self.inputs,
            training={"mean": self.mean, **{key: getattr(cfg, key) for key in ("iterations", "chains", "langevin_steps", "step_size", "sigma", "lr", "beta1")}},
        )

    def nan_advice(self, term: str | None = None) -> str:
        return "Lower step_size (the Langevin step) or lr (the weights' step)"


def _shape(video: Video) -> str:
    channels, frames, height, width = video.shape
    return f"{frames} frames of {height}x{width}"
