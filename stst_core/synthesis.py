"""The synthesizer contract, in the manner of plenoptic's synthesis objects.

A synthesizer is built from target videos (by role: ``"content"`` is the
input, methods may take more such as ``"spatial_style"``), a configuration
dataclass, a seed and a device. ``synthesize(output)`` writes a
:class:`~stst_core.store.StimulusStore`; calling it again on the same output
resumes from the last checkpoint (a killed run included), and a complete store
is left as it is. It keeps a loss history, shows progress with tqdm, and never
pickles callables: a store holds only arrays and JSON.

Subclasses set the class attributes below and implement :meth:`run`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch
from tqdm.auto import tqdm

from .backbone import Backbone, create_backbone
from .config import StreamConfig, resolve_config, to_dict
from .errors import ConfigError, STSTError
from .store import StimulusStore, is_store
from .video import Video


class Synthesizer:
    """Base class of all synthesizers.

    Class attributes
    ----------------
    config_class
        The configuration dataclass.
    presets
        Preset name → TOML file; ``default_preset`` names the one used when
        none is given.
    target_roles
        Roles of extra target videos beyond ``"content"``; the CLI offers each
        as ``--<role> PATH`` (underscores become dashes).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type]
    presets: ClassVar[Mapping[str, Path]] = {}
    default_preset: ClassVar[str | None] = None
    target_roles: ClassVar[tuple[str, ...]] = ()

    def __init__(self, targets: Mapping[str, Video], config: Any = None, *, seed: int = 0, device: str | torch.device = "cpu"):
        if "content" not in targets:
            raise ConfigError(f"{self.name}: targets need a 'content' video (the input)")
        unknown = sorted(set(targets) - {"content", *self.target_roles})
        if unknown:
            raise ConfigError(f"{self.name}: unknown target role(s) {unknown}; known: content, {', '.join(self.target_roles)}")
        self.targets = dict(targets)
        self.config = config if config is not None else self.resolve()
        self.seed = int(seed)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for but PyTorch sees no CUDA device; use --device cpu")

    @classmethod
    def resolve(cls, preset: str | None = None, config_file: str | Path | None = None, overrides=()) -> Any:
        """The configuration from a preset, a TOML file and ``key=value`` overrides."""
        preset = preset or cls.default_preset
        if preset is not None and preset not in cls.presets:
            path = Path(preset)
            if not path.is_file():
                raise ConfigError(f"unknown preset {preset!r} for {cls.name}; presets: {', '.join(cls.presets)} (or a TOML file)")
            preset_file = path
        else:
            preset_file = cls.presets.get(preset) if preset else None
        return resolve_config(cls.config_class, preset=preset_file, config_file=config_file, overrides=overrides)

    def config_dict(self) -> dict[str, Any]:
        return to_dict(self.config)

    # -- running ---------------------------------------------------------------------

    def synthesize(self, output: str | Path, *, overwrite: bool = False, progress: bool = True) -> StimulusStore:
        """Generate into the store at ``output``, resuming it if it holds an unfinished run."""
        output = Path(output)
        self.prepare()  # fails on missing weights or bad layer names before anything is written
        if output.exists() and not overwrite:
            if not is_store(output):
                raise STSTError(f"{output} exists and is not a stimulus store; refusing to overwrite it. Choose another output path.")
            store = StimulusStore(output)
            store.check_compatible(method=self.name, config=self.config_dict(), seed=self.seed, targets=self.targets)
            if store.complete:
                return store
        else:
            store = self.create_store(output, overwrite=overwrite)
        started = time.perf_counter() - float(store.attrs.get("elapsed_seconds", 0.0))
        try:
            self.run(store, started=started, progress=progress)
        except KeyboardInterrupt:
            store.set_status("running", "interrupted; run the same command again to resume")
            raise
        except STSTError as exc:
            store.set_status("failed", str(exc))
            raise
        store.set_status("complete")
        return store

    def prepare(self) -> None:
        """Build what the run needs (networks, losses); called before the store is touched."""

    def create_store(self, output: Path, *, overwrite: bool) -> StimulusStore:
        """Make the empty store for a new run (usually one call of :meth:`new_store`)."""
        raise NotImplementedError

    def new_store(self, output: Path, *, overwrite: bool, **layout) -> StimulusStore:
        """:meth:`StimulusStore.create` with what every run records filled in (method, targets, config, seed, device).

        ``layout`` is the method's own part: ``transitions``, ``steps``,
        ``step_octave``, ``octaves``, ``terms`` and ``checkpoint``.
        """
        return StimulusStore.create(
            output,
            method=self.name,
            target=self.targets["content"],
            config=self.config_dict(),
            seed=self.seed,
            device=str(self.device),
            targets=self.targets,
            overwrite=overwrite,
            **layout,
        )

    def run(self, store: StimulusStore, *, started: float, progress: bool) -> None:
        """Generate from ``store.transitions_done`` on, committing as it goes."""
        raise NotImplementedError


def build_stream(stream: StreamConfig, layers, *, name: str, max_window: int, device, seed: int) -> Backbone:
    """The backbone of one stream, checked before any run: its layers exist and it sees few enough frames."""
    try:
        net = create_backbone(stream.backbone, weights=stream.weights, device=device, seed=seed, **stream.options)
        net.resolve_layers(list(layers))  # an unknown layer name fails now, not mid-run
    except STSTError as exc:
        # say which settings to change: a preset's weights, options and layers belong to its own backbone
        raise type(exc)(
            f"the {name} stream ({name}.backbone={stream.backbone!r}, {name}.weights={stream.weights!r}, {name}.options={stream.options!r}): {exc}"
        ) from exc
    if net.temporal_window > max_window:
        raise ConfigError(f"the {name} stream {stream.backbone!r} looks at {net.temporal_window} frames at once; this stream can give it at most {max_window}")
    return net


class RunProgress:
    """Progress for a run of many optimisations: an outer bar over the whole run and an inner one over steps.

    The outer bar advances by the *estimated cost* of each step (seconds, from
    a per-kind cost model the synthesizer calibrates before starting), so its
    remaining time is right from the first steps on rather than after the first
    frame. Its description names the current item ("frame 3/12").
    """

    def __init__(self, total_cost: float, *, enabled: bool = True, unit_name: str = "frame"):
        self.enabled = enabled
        self.unit_name = unit_name
        self.outer = tqdm(
            total=max(total_cost, 1e-9),
            disable=not enabled,
            bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
            dynamic_ncols=True,
        )
        self.inner = None
        self._last_postfix = 0.0

    def start(self, description: str, steps: int) -> None:
        self.outer.set_description_str(description)
        if self.inner is not None:
            self.inner.close()
        self.inner = tqdm(total=steps, disable=not self.enabled, leave=False, unit="step", dynamic_ncols=True)

    def step(self, cost: float, loss: float | None = None) -> None:
        self.outer.update(cost)
        if self.inner is not None:
            self.inner.update(1)
            now = time.monotonic()
            if loss is not None and now - self._last_postfix > 0.25:
                self.inner.set_postfix_str(f"loss={loss:.4g}", refresh=False)
                self._last_postfix = now

    def wants_loss(self) -> bool:
        """Whether the caller should fetch a loss value now (keeps device syncs rare)."""
        return self.enabled and time.monotonic() - self._last_postfix > 0.25

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
        self.outer.close()
