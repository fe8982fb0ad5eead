"""The LEAPS synthesizer: a batch of videos optimised until a fixed video classifier sees the target class, primed by stimulus videos.

One unit of progress is one Adam step on the batch (the store's samples):
the batch is rolled and flipped at random, the classifier scores it, and
the objective is

``CE + priming_weight · L_prim + coherence_weight · R_coh + diversity_weight · R_BN + l2_weight · ‖x‖₂``

(:mod:`stst_leaps.objective` has every term). Sample ``b`` is primed by the
stimulus ``b mod n`` of the ``n`` input videos. Both the stimuli and the
synthesis are [0, 1] videos that pass through the classifier's own input
normalisation. The pixels are kept in [0, 1] after every step.

Store: ``video`` (sample, time, channel, y, x); ``loss`` (step, term) with
every term unweighted and ``probability``, the classifier's mean softmax
probability of the target class on the step's (augmented) batch.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, ClassVar

import torch

from stst_core import Adam, BackboneError, ConfigError, OptimizedSynthesizer, RegistryError, WeightsError, create_backbone, warmup_cosine

from .config import COHERENCE_AT, LEAPSConfig
from .objective import BatchNormStatistics, augment, coherence, cross_entropy, image_prior, mean_embedding, priming_loss, weights_of

PRESETS = Path(__file__).parent / "presets"
TERMS = ("cross_entropy", "priming", "coherence", "diversity", "l2", "probability")
CLASSIFIERS = "r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v2_s, swin3d_t, timesformer, or a plugin's"


class LEAPSSynthesizer(OptimizedSynthesizer):
    """Inverts a video classifier into videos of one class, primed by stimulus videos (LEAPS, Stergiou & Deligiannis 2023)."""

    name = "leaps"
    unit = "step"
    config_class = LEAPSConfig
    presets: ClassVar[dict[str, Path]] = {name: PRESETS / f"{name}.toml" for name in ("paper", "released", "fast")}
    default_preset = "fast"
    many_inputs = True  # the stimuli: sample b is primed by stimulus b mod n
    setting_options: ClassVar[dict[str, str]] = {
        "backbone": "The classifier to invert (a registered backbone with a logits layer)",
        "weights": "Its weights: a tag (random, kinetics400, …) or a weights file",
        "target_class": "The class to synthesise: its index or its name on the backbone's card",
        "verifier": "The BatchNorm network whose running statistics the batch matches (default: the inverted model)",
        "verifier_weights": "The verifier's weights",
    }
    setting_flags: ClassVar[dict[str, str]] = {"target_class": "class"}
    quick_preset = "fast"
    quick_overrides = (
        "backbone=toy-classifier",
        "weights=random",
        "diversity_weight=0.05",
        "steps=3",
        "samples=2",
        "warmup=1",
        "jitter=2",
        "checkpoint_every=1",
    )

    @property
    def samples(self) -> int:
        return int(self.config.samples)

    def terms(self) -> tuple[str, ...]:
        return TERMS

    def term_weights(self) -> list[float]:
        cfg = self.config
        return [1.0, cfg.priming_weight, cfg.coherence_weight, cfg.diversity_weight, cfg.l2_weight, 0.0]

    # -- setting up --------------------------------------------------------------------

    def prepare(self) -> None:
        cfg, content = self.config, self.targets["content"]
        for index, video in enumerate(self.inputs[1:], 1):
            if video.shape != content.shape:
                raise ConfigError(
                    f"stimulus {index + 1} ({video.source}) is {_shape(video)} but the first ({content.source}) {_shape(content)}; "
                    "the synthesis has the stimuli's size: read them with the same --frames, --size and --crop"
                )
        self.net = self._backbone(cfg.backbone, cfg.weights, "backbone")
        if "logits" not in self.net.layers:
            raise ConfigError(f"backbone {cfg.backbone} has no classifier (no 'logits' layer): LEAPS inverts a classifier, such as {CLASSIFIERS}")
        self.target = self._class_index()
        layers = cfg.prime_layers if cfg.prime_layers is not None else [name for name in self.net.default_layers if name != "logits"]
        named = [cfg.coherence_layer] if cfg.coherence_layer not in COHERENCE_AT else []
        unknown = [name for name in [*layers, *named] if name not in self.net.layers]
        if unknown:
            raise ConfigError(f"{cfg.backbone} has no layer {', '.join(map(repr, unknown))}; its layers: {', '.join(self.net.layers)}")
        if not layers:
            raise ConfigError("prime_layers is empty; name at least one layer (or set priming_weight=0)")
        layers = layers[-1:] if cfg.prime_last_only else layers
        try:
            self.priming = weights_of(layers, cfg.priming_weights)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if named:
            self.coherence_layer = named[0]
        else:
            timed = [name for name in layers if "T" in self.net.layers[name].axes]
            self.coherence_layer = (timed[-1] if cfg.coherence_layer == "last" else timed[0]) if timed else None
        if cfg.coherence_weight and (self.coherence_layer is None or "T" not in self.net.layers[self.coherence_layer].axes):
            raise ConfigError(
                f"the coherence term needs a layer with a time axis; {self.coherence_layer or 'none of the priming layers'} has none: "
                "name one with --set coherence_layer=NAME, or set coherence_weight=0"
            )
        self.statistics = None
        if cfg.diversity_weight:
            verifier = self.net if cfg.verifier is None else self._backbone(cfg.verifier, cfg.verifier_weights, "verifier")
            try:
                self.statistics = BatchNormStatistics(verifier, first_weight=cfg.first_bn_weight)
            except ValueError as error:
                name = cfg.verifier or cfg.backbone
                raise ConfigError(
                    f"the verifier {name} cannot regularise diversity: {error} (a LayerNorm network keeps no running statistics); "
                    f"give a BatchNorm network (--verifier, e.g. r3d_18) or set diversity_weight=0"
                ) from None
            self.verifier = verifier
        self.layers = sorted({*self.priming, *([self.coherence_layer] if self.coherence_layer else []), "logits"}, key=list(self.net.layers).index)
        stimuli = torch.stack([video.frames for video in self.inputs]).to(self.device)
        with torch.no_grad():  # the stimuli's mean embeddings, once
            acts = self.net(stimuli, list(self.priming))
            means = {name: mean_embedding(acts[name], self.net.layers[name].axes) for name in self.priming}
        order = torch.arange(self.samples, device=self.device) % len(self.inputs)
        self.primes = {name: value[order] for name, value in means.items()}

    def _backbone(self, name: str, weights: str | None, what: str):
        try:
            return create_backbone(name, weights, device=self.device, seed=self.seed, **self.config.backbone_options if what == "backbone" else {})
        except (BackboneError, RegistryError, WeightsError) as error:
            raise ConfigError(f"the {what} {name}: {error}") from None

    def _class_index(self) -> int:
        """The target class as an index into the logits, from an index or a name on the card."""
        wanted, classes = self.config.target_class.strip(), self.net.card.classes
        count = self.net.layers["logits"].channels or len(classes)
        if wanted.lstrip("-").isdigit():
            index = int(wanted)
            if not 0 <= index < count:
                raise ConfigError(f"class {index} is not among the {count} classes of {self.config.backbone} (0 … {count - 1})")
            return index
        canonical = [_canonical(name) for name in classes]
        if _canonical(wanted) in canonical:
            return canonical.index(_canonical(wanted))
        close = difflib.get_close_matches(wanted, classes, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else (f"; it has {count} classes: give an index" if not classes else "")
        raise ConfigError(f"{self.config.backbone} has no class {wanted!r}{hint} (stst backbones info {self.config.backbone} lists them)")

    # -- the run -----------------------------------------------------------------------

    def initial(self) -> torch.Tensor:
        cfg, content = self.config, self.targets["content"]
        shape = (self.samples, content.channels, content.num_frames, content.height, content.width)
        return (cfg.init_mean + cfg.init_std * torch.randn(shape, generator=self.rng)).clamp(0, 1).to(self.device)

    def make_stepper(self, x: torch.Tensor) -> Adam:
        cfg = self.config
        schedule = warmup_cosine(cfg.lr, cfg.warmup, cfg.steps, cfg.lr_floor)
        return Adam(x, cfg.lr, schedule=schedule, betas=(cfg.beta1, cfg.beta2), eps=1e-8)

    def objective(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        seen = augment(x, generator=self.rng, jitter=cfg.jitter, flip=cfg.flip)
        acts = self.net(seen, self.layers)
        logits = acts["logits"]
        terms = [cross_entropy(logits, self.target, double_softmax=cfg.double_softmax)]
        means = {name: mean_embedding(acts[name], self.net.layers[name].axes) for name in self.priming}
        terms.append(priming_loss(means, self.primes, self.priming, similarity=cfg.similarity))
        zero = logits.sum() * 0
        if cfg.coherence_weight:
            terms.append(coherence(acts[self.coherence_layer], self.net.layers[self.coherence_layer].axes, delta=cfg.delta, form=cfg.coherence))
        else:
            terms.append(zero)
        if self.statistics is not None:
            if self.verifier is not self.net:
                # the whole network, so that every BatchNorm layer sees the batch (a backbone stops after the last layer asked for)
                self.verifier(seen, ["logits"] if "logits" in self.verifier.layers else "all")
            terms.append(self.statistics.loss())
        else:
            terms.append(zero)
        terms.append(image_prior(self.net.normalize(seen)) if cfg.l2_weight else zero)
        terms.append(logits.detach().softmax(-1)[:, self.target].mean())
        values = torch.stack([torch.as_tensor(t, dtype=torch.float32, device=self.device).reshape(()) for t in terms])
        weights = torch.tensor(self.term_weights(), device=self.device)
        return (values * weights).sum(), values.detach()

    def advance(self, unit: int):
        if not self.config.keep_best:
            return super().advance(unit)
        before = self.stepper.x.detach().clone()
        total, terms = self.stepper.step(self.objective)
        self.progress.step(1.0, total)
        if unit == 0 or total < self.best[0]:
            self.best = (total.detach(), before)
        return [("loss", unit, terms)]

    def start_state(self) -> dict[str, Any]:
        state = super().start_state()
        if self.config.keep_best:
            state["best"] = {"total": torch.tensor(float("inf")), "x": state["optimizer"]["x"].clone()}
        return state

    def start(self, state) -> None:
        super().start(state)
        if self.config.keep_best:
            self.best = (state["best"]["total"].to(self.device), state["best"]["x"].to(self.device))

    def state(self) -> dict[str, Any]:
        state = super().state()
        if self.config.keep_best:
            state["best"] = {"total": self.best[0], "x": self.best[1]}
        return state

    def result(self) -> torch.Tensor:
        x = self.best[1] if self.config.keep_best else self.stepper.x
        return x.detach().transpose(1, 2)  # (S, T, C, H, W)

    def nan_advice(self, term: str | None = None) -> str:
        return "Lower lr, or the weight of that term (priming_weight, coherence_weight, diversity_weight, l2_weight)"


def _canonical(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


def _shape(video) -> str:
    channels, frames, height, width = video.shape
    return f"{frames} frames of {height}x{width}"
