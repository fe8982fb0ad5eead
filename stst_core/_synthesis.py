"""The synthesizer contract, in the manner of plenoptic's synthesis objects.

Two bases:

:class:`Synthesizer`
    the life cycle of a run and its stimulus store, for every method: targets
    by role, a typed configuration, a seed and a device; ``synthesize(output)``
    creates the store (whole or not at all), resumes an unfinished one after
    checking it was made by the same run, leaves a complete one alone, marks
    the store ``failed`` with the message of *any* exception, and ``complete``
    only when the run has returned. A method without optimisation (STPS)
    implements :meth:`Synthesizer.layout`, :meth:`Synthesizer.initial_state`
    and :meth:`Synthesizer.run`.
:class:`OptimizedSynthesizer`
    adds the optimisation (in the manner of plenoptic's ``OptimizedSynthesis``):
    the loop over units of progress, buffered histories with a NaN/inf check
    that names the unit, step and term, progress bars whose remaining time is
    right from the start, periodic commits whose checkpoint holds the method's
    state, the optimiser's ``state_dict`` and the run's random generator, and
    the evaluation of the result against the noise it started from. By default
    a run is one optimisation of one tensor (a unit is a step): a method then
    supplies :meth:`~OptimizedSynthesizer.initial` and
    :meth:`~OptimizedSynthesizer.objective`; a method whose run is a sequence of
    optimisations (STST: one per frame transition) supplies
    :meth:`~OptimizedSynthesizer.start`, :meth:`~OptimizedSynthesizer.advance`,
    :meth:`~OptimizedSynthesizer.state` and :meth:`~OptimizedSynthesizer.result`.

The written contract, with must / should / may, is the synthesizer section of
``docs/plugins.md``.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ._backbone import Backbone, create_backbone
from ._config import StreamConfig, check_seed, resolve_config, to_dict
from ._device import MEMORY_ADVICE, check_memory, resolve_device
from ._errors import ConfigError, STSTError
from ._lock import writing
from ._losses import compare_prepared, create_loss, prepare_target
from ._optim import Stepper, make_stepper
from ._store import Array, StimulusStore, StoreLayout, _remove_abandoned_siblings, _ReplayReached, is_store
from ._video import Video

Row = tuple[str, Any, Any]  # (array name, region, values: array or tensor)


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
        as ``--<role> PATH`` (underscores become dashes) and reads it with
        :meth:`read_target`, with ``target_help[role]`` as its help (default:
        "Video for the ROLE target").
    setting_options
        Settings (config keys) the CLI offers as options of their own, key →
        help: ``{"model": "A learned model to sample from"}`` makes
        ``--model VALUE`` mean ``--set model=VALUE``; ``setting_flags`` gives
        an option another name than its key (``{"target_class": "class"}``:
        ``--class``).
    many_inputs
        Whether the method learns from several input videos (STGConvNet): the
        CLI then takes ``INPUT...`` (files, or folders of video files) and
        passes them as the targets ``content``, ``content.1``, ``content.2``…
        (:meth:`input_role`); :attr:`inputs` lists them in order.
    quick_preset, quick_overrides
        A preset and ``--set`` overrides for a run of seconds on a few small
        frames, for the conformance suite.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type]
    presets: ClassVar[Mapping[str, Path]] = {}
    default_preset: ClassVar[str | None] = None
    target_roles: ClassVar[tuple[str, ...]] = ()
    target_help: ClassVar[Mapping[str, str]] = {}
    setting_options: ClassVar[Mapping[str, str]] = {}
    setting_flags: ClassVar[Mapping[str, str]] = {}
    many_inputs: ClassVar[bool] = False
    # settings for a run of seconds on a clip of a few small frames: the conformance
    # suite (stst_core.testing.check_synthesizer) runs every registered synthesizer with them
    quick_preset: ClassVar[str | None] = None
    quick_overrides: ClassVar[tuple[str, ...]] = ()

    def __init__(self, targets: Mapping[str, Video], config: Any = None, *, seed: int = 0, device: str | torch.device = "cpu"):
        if "content" not in targets:
            raise ConfigError(f"{self.name}: targets need a 'content' video (the input)")
        inputs = {self.input_role(i) for i in range(len(targets))} if self.many_inputs else {"content"}
        unknown = sorted(set(targets) - inputs - set(self.target_roles))
        if unknown:
            raise ConfigError(f"{self.name}: unknown target role(s) {unknown}; known: content, {', '.join(self.target_roles)}")
        self.targets = dict(targets)
        self.config = config if config is not None else self.resolve()
        self.seed = check_seed(seed)
        self.device = resolve_device(device)

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

    @staticmethod
    def input_role(index: int) -> str:
        """The target role of the ``index``-th input video: ``content``, then ``content.1``, ``content.2``…"""
        return "content" if index == 0 else f"content.{index}"

    @property
    def inputs(self) -> list[Video]:
        """The input videos in order: ``content`` and, for a method with :attr:`many_inputs`, the others."""
        videos, index = [], 0
        while self.input_role(index) in self.targets:
            videos.append(self.targets[self.input_role(index)])
            index += 1
        return videos

    @classmethod
    def read_target(cls, role: str, path: Path, *, content: Video, read: Callable[[Path], Video], start: int, stride: int) -> Video:
        """The ``role`` target from the file a user named, for the input ``content``.

        Default: ``read(path)``, a video read with the command's frame and size
        options (``--start``, ``--frames``, ``--stride``, ``--size``,
        ``--crop``), as the input was. A method whose target is not a video
        file (an occlusion mask in the reference's format) reads it here, at
        the input's frames ``start, start + stride, ...``.
        """
        return read(path)

    # -- running ---------------------------------------------------------------------

    def synthesize(self, output: str | Path, *, overwrite: bool = False, repair: bool = False, progress: bool = True) -> StimulusStore:
        """Generate into the store at ``output``, resuming it if it holds an unfinished run.

        ``repair=True`` mends a damaged complete store of this run (see :meth:`repair`).
        """
        output = Path(output)
        if overwrite and repair:
            raise ConfigError("--overwrite starts the store anew and --repair mends it in place: choose one")
        self.prepare()  # fails on missing weights or bad layer names before anything is written
        need = self.memory_estimate()
        if need:  # a run too big for the machine is refused here, not killed by the kernel mid-run
            content = self.targets["content"]
            what = f"{self.name} on {content.num_frames} frames of {content.height}x{content.width}"
            check_memory(need, what, MEMORY_ADVICE, ConfigError, device=self.device)
        with writing(output, "synthesize into"):  # one writer per store, from the first look at it to the last commit
            return self._synthesize(output, overwrite=overwrite, repair=repair, progress=progress)

    def _synthesize(self, output: Path, *, overwrite: bool, repair: bool, progress: bool) -> StimulusStore:
        _remove_abandoned_siblings(output)  # the scratch store of a killed repair, the new store of a killed overwrite
        if output.exists() and not overwrite:
            if not is_store(output):
                raise STSTError(f"{output} exists and is not a stimulus store; refusing to overwrite it. Choose another output path.")
            store = StimulusStore(output)
            store.check_compatible(method=self.name, config=self.config_dict(), seed=self.seed, targets=self.targets)
            if not store.complete:
                store.tidy()  # what a killed run left half-written
            if repair:
                self.repair(store, progress=progress)
            else:
                store.verify()  # "already complete", or resumed, only if it still holds what it was given
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
        except Exception as exc:
            # whatever went wrong, the store says so; what was committed stays and resumes
            message = str(exc) if isinstance(exc, STSTError) else f"{type(exc).__name__}: {exc}"
            try:
                store.set_status("failed", message)
            except OSError:  # the store cannot even take its status (a full or read-only disk): it stays at its last commit
                pass
            raise
        store.seal()
        return store

    def repair(self, store: StimulusStore, *, progress: bool = True) -> StimulusStore:
        """Replace the damaged parts of a store of this run (complete or not) by the same values, re-made.

        The run is made again, from its seed, in a hidden scratch store beside
        it, as far as the store had got (to the end, or to its last commit,
        whose checkpoint is made again too); only when that reproduces every
        checksum the store recorded (so the re-made frames are the lost ones,
        bit for bit) are the damaged parts copied over. On another device or
        version, where a run need not reproduce bit for bit, it refuses and
        changes nothing. Called with the store's lock held (by :meth:`synthesize`).
        """
        damage = store.damage()
        if not damage:
            return store
        recorded = store.manifest
        if not recorded.get("video") and store.complete:
            raise STSTError(
                f"{store.path} is damaged and has no checksums (it was made by an earlier version), so a repair cannot be checked; make it again with --overwrite"
            )
        scratch_path = store.path.with_name(f".{store.path.name}.repairing-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            scratch = self.create_store(scratch_path, overwrite=False)
            if store.complete:
                self.run(scratch, started=time.perf_counter(), progress=progress)
                scratch.seal()
            elif store.units_done > 0:
                scratch._replay_until = store.units_done
                try:
                    self.run(scratch, started=time.perf_counter(), progress=progress)
                except _ReplayReached:
                    pass
            differs = sorted(name for name in recorded.keys() | scratch.manifest.keys() if scratch.manifest.get(name) != recorded.get(name))
            if not store.complete and scratch.attrs.get("checkpoint_sha256") != store.attrs.get("checkpoint_sha256"):
                differs.append("checkpoint")
            if differs:
                raise STSTError(
                    f"{store.path} cannot be repaired here: making the run again does not reproduce its recorded {', '.join(differs)} "
                    f"(made on {store.attrs.get('device')!r} with {store.attrs.get('versions')}; now on {str(self.device)!r}), "
                    "so re-made frames would not be the lost ones. Repair it where it was made, or make it again with --overwrite"
                )
            for name, parts in damage.items():
                store.rewrite(name, parts, scratch)
        finally:
            shutil.rmtree(scratch_path, ignore_errors=True)
        store.verify()
        return store

    def prepare(self) -> None:
        """Build what the run needs (networks, losses); called before the store is touched."""

    def memory_estimate(self) -> int | None:
        """Bytes the run will need at its peak, on its device (host memory on the CPU), or None when not known.

        :meth:`synthesize` refuses a run that would not fit in what is
        available, before anything is written, rather than let the kernel
        kill it mid-run without a word. Err on the high side: measure the
        peak on a few sizes and scale.
        """
        return None

    def layout(self) -> StoreLayout:
        """The method's part of the store: progress units, samples, histories and evaluations."""
        raise NotImplementedError

    def initial_state(self) -> dict[str, Any]:
        """The checkpoint at ``units_done = 0`` (tensors, arrays, numbers, nested dicts and lists)."""
        return {}

    def create_store(self, output: Path, *, overwrite: bool) -> StimulusStore:
        """Make the store of a new run: :meth:`layout` and :meth:`initial_state` with what every run records."""
        return StimulusStore.create(
            output,
            method=self.name,
            target=self.targets["content"],
            config=self.config_dict(),
            seed=self.seed,
            device=str(self.device),
            targets=self.targets,
            layout=self.layout(),
            checkpoint=self.initial_state(),
            overwrite=overwrite,
        )

    def run(self, store: StimulusStore, *, started: float, progress: bool) -> None:
        """Generate from ``store.units_done`` on, committing as it goes."""
        raise NotImplementedError


class OptimizedSynthesizer(Synthesizer):
    """A synthesizer whose run is optimisation (or sampling) in units of progress; see the module docstring.

    What a method supplies
    ----------------------
    :meth:`terms`
        the names of the loss terms, in the order :meth:`objective` returns them.
    :meth:`layer_terms` (optional)
        ``(term, layer)`` of each per-layer value the objective reports after
        the terms, recorded as the ``layer_loss`` history.
    :meth:`initial` and :meth:`objective` (a single optimisation)
        the start (use ``self.rng`` for any randomness) and ``(total, terms)``
        at a point; :meth:`make_stepper` may choose another update rule.
    or :meth:`start`, :meth:`advance`, :meth:`state`, :meth:`result` (several)
        see each one.
    :meth:`evaluate` (optional)
        every term per frame of a finished video, for the noise-vs-result
        evaluation.
    """

    unit: ClassVar[str] = "step"

    def __init__(self, targets: Mapping[str, Video], config: Any = None, *, seed: int = 0, device: str | torch.device = "cpu"):
        super().__init__(targets, config, seed=seed, device=device)
        # the run's one source of randomness: its state travels in every checkpoint
        self.rng = torch.Generator().manual_seed(self.seed)
        self.progress = RunProgress(0.0, enabled=False)

    # -- what a method supplies --------------------------------------------------------

    def terms(self) -> Sequence[str]:
        raise NotImplementedError

    def layer_terms(self) -> Sequence[tuple[str, str]]:
        """``(term, layer)`` of each per-layer value that :meth:`objective` (or the method's own loss) appends to its terms (default: none).

        With them the store keeps a ``layer_loss`` history beside ``loss``,
        along the dimension ``term_layer`` (labels ``"term/layer"``, with the
        coordinates ``term_layer_term`` and ``term_layer_layer``), so that a
        user can see which layer of a term is not matched.
        """
        return ()

    @property
    def units_total(self) -> int:
        """Units of progress in a complete run (default: the config's ``steps``)."""
        return int(self.config.steps)

    @property
    def commit_every(self) -> int:
        """Units between commits (default: the config's ``checkpoint_every``, else 1); the last unit always commits."""
        return int(getattr(self.config, "checkpoint_every", 1))

    def histories(self) -> dict[str, Array]:
        """The arrays commits fill (default: ``loss`` (step, term), every term at every step, and ``layer_loss`` (step, term_layer) with :meth:`layer_terms`)."""
        chunk = max(1, self.commit_every)
        arrays = {"loss": Array(("step", "term"), (self.units_total, len(self.terms())), chunks=(chunk, len(self.terms())))}
        if self.layer_terms():
            count = len(self.layer_terms())
            arrays["layer_loss"] = Array(("step", "term_layer"), (self.units_total, count), chunks=(chunk, count))
        return arrays

    def coords(self) -> dict[str, Any]:
        """Coordinates of the method's dimensions beyond ``term`` and ``evaluated``."""
        return {"step": np.arange(self.units_total)}

    def initial(self) -> torch.Tensor:
        """The starting point of a single optimisation (on ``self.device``)."""
        raise NotImplementedError

    def objective(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(total, terms)`` at ``x`` for a single optimisation."""
        raise NotImplementedError

    def make_stepper(self, x: torch.Tensor) -> Stepper:
        """The update rule of a single optimisation (default: the config's ``optimizer`` and ``lr``)."""
        return make_stepper(self.config.optimizer, x, lr=self.config.lr)

    def start(self, state: Mapping[str, Any]) -> None:
        """Restore the live objects of a run from the method's checkpoint ``state``."""
        self.stepper = self.make_stepper(state["optimizer"]["x"].to(self.device))
        self.stepper.load_state_dict(_to_device(state["optimizer"], self.device))

    def advance(self, unit: int) -> list[Row]:
        """Do unit ``unit``; return its rows: ``(array name, region, values)`` for histories and frames.

        Values may be tensors on the device: they are copied to the host at
        the next commit, not at every unit.
        """
        return self.loss_rows(unit, self.descend(self.stepper, self.objective, 1)[0])

    def state(self) -> dict[str, Any]:
        """The method's checkpoint now (tensors may stay on the device; the store copies them)."""
        return {"optimizer": self.stepper.state_dict()}

    def result(self) -> torch.Tensor | None:
        """The finished video ``(T, C, H, W)`` (or ``(S, T, C, H, W)``), or None when commits wrote the frames."""
        return self.stepper.x

    def evaluate(self, video: torch.Tensor) -> np.ndarray | None:
        """Every term per frame ``(T, terms)`` of a finished video; None: no evaluation."""
        return None

    def unit_cost(self, unit: int) -> float:
        """Estimated seconds (or any proportional figure) of a unit, for the remaining time."""
        return 1.0

    def unit_label(self, unit: int) -> str:
        """Where unit ``unit`` is, for people: the progress bar's description and error messages."""
        return f"{self.unit} {unit + 1}/{self.units_total}"

    def term_weights(self) -> Sequence[float]:
        """The weight the user gave each term, in :meth:`terms` order (default: 1 each).

        The defaults of :meth:`objective_weights` (the noise comparison) and
        :meth:`step_weights` (the NaN guard) are these.
        """
        return [1.0] * len(self.terms())

    def objective_weights(self, noise: np.ndarray) -> np.ndarray:
        """The weight of each term when the result is compared with its noise start (:meth:`check_result`).

        ``noise`` is each term of the noise, averaged over frames. Default:
        :meth:`term_weights`, the objective's own weighting; a method that
        rescales its terms (STST's loss equalisation) rescales them here too.
        """
        return np.asarray(self.term_weights(), np.float64)

    def step_weights(self, unit: int, rows: Sequence[Row]) -> np.ndarray:
        """The weight of each term at each step of unit ``unit``, ``(steps, terms)`` or ``(terms,)``: how the objective weighed them.

        The NaN guard multiplies the ``loss`` rows by these to find the term
        whose weighted value overflowed first, even while every unweighted term
        was finite. Default: :meth:`term_weights`; a method whose weights change
        (STST's loss equalisation) gives them per step.
        """
        return np.asarray(self.term_weights(), np.float32)

    def nan_advice(self, term: str | None = None) -> str:
        """What to change when ``term`` (None: the result as a whole) went wrong: names the settings."""
        return "Lower the learning rate or the weight of that term"

    # -- what the base does --------------------------------------------------------------

    def descend(self, stepper: Stepper, objective, steps: int, *, cost: float = 1.0) -> torch.Tensor:
        """``steps`` steps of ``stepper`` on ``objective``; the terms (and layer terms) at every step ``(steps, terms + layer terms)``, on the device.

        Each step advances the progress bars by ``cost`` and shows the loss now
        and then; nothing is copied to the host per step. :meth:`loss_rows`
        turns the history into the ``loss`` and ``layer_loss`` rows.
        """
        history = torch.empty(steps, len(self.terms()) + len(self.layer_terms()), device=self.device)
        for step in range(steps):
            total, terms = stepper.step(objective)
            history[step] = terms
            self.progress.step(cost, total)
        return history

    def loss_rows(self, region, history: torch.Tensor) -> list[Row]:
        """The rows of ``loss`` and (with :meth:`layer_terms`) ``layer_loss`` at ``region`` from a history ``(…, terms + layer terms)``."""
        count = len(self.terms())
        rows = [("loss", region, history[..., :count])]
        if self.layer_terms():
            rows.append(("layer_loss", region, history[..., count:]))
        return rows

    def initial_state(self) -> dict[str, Any]:
        self.rng.manual_seed(self.seed)
        method = self.start_state()
        return {"method": method, "rng": self.rng.get_state()}

    def start_state(self) -> dict[str, Any]:
        """The method's state at unit 0 (default: a fresh stepper at :meth:`initial`)."""
        return {"optimizer": self.make_stepper(self.initial()).state_dict()}

    def layout(self) -> StoreLayout:
        terms = list(self.terms())
        evaluations = {}
        coords = {**self.coords(), "term": terms}
        if self.layer_terms():
            pairs = list(self.layer_terms())
            coords["term_layer"] = [f"{term}/{layer}" for term, layer in pairs]
            coords["term_layer_term"] = ("term_layer", [term for term, _ in pairs])
            coords["term_layer_layer"] = ("term_layer", [layer for _, layer in pairs])
        if type(self).evaluate is not OptimizedSynthesizer.evaluate:
            frames = self.targets["content"].num_frames
            evaluations["evaluation"] = Array(("evaluated", "time", "term"), (2, frames, len(terms)))
            coords["evaluated"] = ["noise", "result"]
        return StoreLayout(
            units_total=self.units_total,
            unit=self.unit,
            samples=getattr(self, "samples", None),
            histories=self.histories(),
            evaluations=evaluations,
            coords=coords,
        )

    def run(self, store: StimulusStore, *, started: float, progress: bool) -> None:
        checkpoint = store.checkpoint()
        self.rng.set_state(checkpoint["rng"])
        self.start(checkpoint["method"])
        done, total = store.units_done, self.units_total
        # unit costs may need a calibration: only asked for when there is a bar to show
        costs = {u: self.unit_cost(u) for u in range(done, total)} if progress else {}
        self.progress = RunProgress(sum(costs.values()), enabled=progress, unit_name=self.unit)
        pending: list[tuple[int, list[Row]]] = []  # rows stay on the device until a commit
        try:
            for unit in range(done, total):
                self.progress.start_unit(self.unit_label(unit))
                pending.append((unit, self.advance(unit)))
                self.progress.end_unit(costs.get(unit, 0.0))
                if (unit + 1) % self.commit_every == 0 or unit + 1 == total:
                    rows = [(unit, [(name, region, _to_numpy(values)) for name, region, values in unit_rows]) for unit, unit_rows in pending]
                    for unit_done, unit_rows in rows:
                        self.check_finite(unit_done, unit_rows)
                    store.commit(
                        unit + 1,
                        rows=_merge_rows([row for _, unit_rows in rows for row in unit_rows]),
                        checkpoint={"method": self.state(), "rng": self.rng.get_state()},
                        elapsed=time.perf_counter() - started,
                    )
                    pending = []
        finally:
            self.progress.close()
        self.finish(store)

    def finish(self, store: StimulusStore) -> None:
        """Write the result (when commits did not) and its evaluation; the status moves after this."""
        video = self.result()
        if video is not None:
            store.write("video", video.detach().cpu().numpy())
            video = video.detach()
        else:  # the frames the commits wrote; seal() checks them against their checksums next
            video = torch.from_numpy(store._read("video", ...)).to(self.device)
        if "evaluation" in store.attrs.get("evaluations", []):
            noise = self.noise_start(video)
            evaluation = np.stack([self.evaluate(noise), self.evaluate(video)])
            store.write("evaluation", evaluation)
            self.check_result(evaluation)

    start_description = "the uniform noise it started from"

    def noise_start(self, like: torch.Tensor) -> torch.Tensor:
        """The start a finished video is compared with (``evaluated="noise"``): by default the uniform noise of its shape a run starts from, under the run's seed.

        A method that starts elsewhere (two-stream's ``init = "reference"``)
        returns its own start, drawn from a generator of its own, and says
        what it is in :attr:`start_description` (for the message of a failed
        result).
        """
        return torch.rand(like.shape, generator=torch.Generator().manual_seed(self.seed)).to(self.device)

    def check_finite(self, unit: int, rows: Sequence[Row]) -> None:
        """A NaN or inf in a unit's rows stops the run, naming the unit, the step and the term that went non-finite first.

        Steps are checked in order and, within a step, the terms in
        :meth:`terms` order; a term counts as non-finite when its value or its
        weighted value (:meth:`step_weights`) is, so an overflowing weight is
        named even though the optimiser met it only as a NaN gradient. The base
        checks at each commit; a method whose unit goes on after an
        optimisation (STST's colour transfer) may check earlier.
        """
        terms = list(self.terms())
        for name, _, values in rows:
            values = _to_numpy(values)
            if name == "video":
                continue
            if name == "loss" and values.shape[-1:] == (len(terms),):
                weights = np.broadcast_to(self.step_weights(unit, rows), values.shape)
                with np.errstate(over="ignore", invalid="ignore"):
                    weighted = values * weights
                bad = ~np.isfinite(values) | ~np.isfinite(weighted)
                if not bad.any():
                    continue
                position = tuple(int(i) for i in np.argwhere(bad)[0])
                step = f", step {position[0]}" if len(position) > 1 else ""
                term, value, weight = terms[position[-1]], values[position], weights[position]
                cause = f"became {value}" if not np.isfinite(value) else f"({value:.4g}) times its weight {weight:.4g} became {weighted[position]}"
                raise STSTError(f"the {term} term {cause} at {self.unit_label(unit)}{step}; the last checkpoint is kept. {self.nan_advice(term)}")
            if not np.isfinite(values).all():
                position = tuple(int(i) for i in np.argwhere(~np.isfinite(values))[0])
                what = f"{terms[position[-1]]} {name}" if values.shape[-1:] == (len(terms),) else name
                step = f", step {position[0]}" if len(position) > 1 else ""
                raise STSTError(f"the {what} became {values[position]} at {self.unit_label(unit)}{step}; the last checkpoint is kept. {self.nan_advice()}")

    def check_result(self, evaluation: np.ndarray) -> None:
        """Refuse a result that is no better than the noise it started from on its own objective: the run is then ``failed``.

        ``evaluation`` is ``(2, time, terms)``: noise, result. Each term is
        averaged over frames and weighted by :meth:`objective_weights`; a
        result whose weighted sum is not below the noise's (or is not finite)
        failed. The message names the term whose weighted value rose most
        (or, when none moved, the one that dominates the objective).
        """
        terms = list(self.terms())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a term without any frame (all NaN) is skipped
            noise, result = np.nanmean(evaluation[0], axis=0), np.nanmean(evaluation[1], axis=0)
        with np.errstate(all="ignore"):
            weights = np.asarray(self.objective_weights(noise), np.float64)
            usable = np.isfinite(noise) & np.isfinite(weights) & (weights > 0)
            if not usable.any():
                return
            rise = np.where(usable, weights * (result - noise), -np.inf)
            worst = int(np.nanargmax(np.where(np.isnan(rise), np.inf, rise)))
            if not np.isfinite(result[usable]).all():
                worst = int(np.flatnonzero(usable & ~np.isfinite(result))[0])
                problem = f"its {terms[worst]} term is {result[worst]}"
            else:
                score = float((weights * result)[usable].sum() / (weights * noise)[usable].sum())
                if score < 1:
                    return
                if rise[worst] > 0:
                    problem = f"its weighted loss is {score:.3g}× the noise's ({terms[worst]}: {result[worst] / noise[worst]:.3g}× the noise's)"
                else:  # nothing rose, nothing fell: the optimisation never moved; name the term that dominates the objective
                    worst = int(np.argmax(np.where(usable, weights * noise, -np.inf)))
                    problem = f"the optimisation did not move from it (the weighted {terms[worst]} term, {weights[worst] * noise[worst]:.3g}, dominates)"
        raise STSTError(
            f"the result is no better than {getattr(self, 'start_description', 'the uniform noise it started from')}: {problem}, so the run is marked failed. {self.nan_advice(terms[worst])}"
        )


def _merge_rows(rows: Sequence[tuple[str, Any, np.ndarray]]) -> list[tuple[str, Any, np.ndarray]]:
    """Rows of one array for consecutive indices (int regions) become one slice write: fewer, whole-chunk writes."""
    runs: list[list] = []  # [name, start, stop or None, values]
    current: dict[str, int] = {}  # array name → its run still open for the next index
    for name, region, values in rows:
        i = current.get(name)
        if isinstance(region, int) and i is not None and runs[i][2] == region:
            runs[i][2] += 1
            runs[i][3].append(values)
        elif isinstance(region, int):
            current[name] = len(runs)
            runs.append([name, region, region + 1, [values]])
        else:
            current.pop(name, None)
            runs.append([name, region, None, values])
    return [(name, slice(start, stop), np.stack(values)) if stop is not None else (name, start, values) for name, start, stop, values in runs]


def _to_numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy().astype(np.float32, copy=False)
    return np.asarray(values, np.float32)


def _to_device(state, device):
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, Mapping):
        return {key: _to_device(value, device) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_device(value, device) for value in state)
    return state


class Stream:
    """One stream of a method: a backbone, the layers its losses read, and the losses.

    Built from a :class:`~stst_core._config.StreamConfig` with
    :meth:`from_config`, which checks the layers and the temporal window before
    any run. ``stream(video)`` gives the activations of every layer the stream
    uses; :meth:`prepare` and :meth:`compare` turn activations into prepared
    targets and into the stream's term (the mean over its layers), and
    :meth:`compare_layers` into each layer's part of it.
    """

    def __init__(self, name: str, net: Backbone, *, style_layers=(), content_layers=(), style_loss="gram", style_loss_options=None, content_loss="mse"):
        self.name = name
        self.net = net
        self.layers_of = {"style": list(style_layers), "content": list(content_layers)}
        self.losses = {"style": create_loss(style_loss, **(style_loss_options or {})), "content": create_loss(content_loss)}

    @classmethod
    def from_config(cls, name: str, config: StreamConfig, *, max_window: int, device, seed: int, style: bool = True, content: bool = False) -> "Stream":
        """The stream ``name`` of a method's config, using its style layers, content layers or both."""
        style_layers = list(config.style_layers) if style else []
        content_layers = list(config.content_layers) if content else []
        net = build_stream(config, style_layers + content_layers, name=name, max_window=max_window, device=device, seed=seed)
        return cls(
            name,
            net,
            style_layers=style_layers,
            content_layers=content_layers,
            style_loss=config.style_loss,
            style_loss_options=config.style_loss_options,
            content_loss=config.content_loss,
        )

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(self.layers_of["style"] + self.layers_of["content"]))

    @property
    def window(self) -> int:
        return self.net.temporal_window

    def __call__(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(video, self.layers)

    def prepare(self, activations: Mapping[str, torch.Tensor], kind: str = "style") -> dict[str, Any]:
        """What the ``kind`` loss needs of fixed target activations, per layer, computed once."""
        return {layer: prepare_target(self.losses[kind], activations[layer]) for layer in self.layers_of[kind]}

    def compare(self, activations: Mapping[str, torch.Tensor], prepared: Mapping[str, Any], kind: str = "style") -> torch.Tensor:
        """The stream's ``kind`` term: the mean over its layers of the loss against ``prepared``."""
        return self.compare_layers(activations, prepared, kind).mean()

    def compare_layers(self, activations: Mapping[str, torch.Tensor], prepared: Mapping[str, Any], kind: str = "style") -> torch.Tensor:
        """The loss against ``prepared`` of each of the stream's ``kind`` layers, in ``layers_of[kind]`` order (their mean is :meth:`compare`)."""
        loss = self.losses[kind]
        return torch.stack([compare_prepared(loss, activations[layer], prepared[layer]) for layer in self.layers_of[kind]])


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
    """Progress for a run of many units: an outer bar over the whole run and, where a unit has steps, an inner one.

    The outer bar advances by the *estimated cost* of each unit (and of each
    step within one), so its remaining time is right from the first steps on,
    not only after the first unit. Its description names the current unit
    ("transition 3/12").
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
        self._unit_start = 0.0
        self._description = ""

    def start_unit(self, description: str) -> None:
        self._unit_start = self.outer.n
        if description != self._description:
            self.outer.set_description_str(description, refresh=False)
            self._description = description

    def end_unit(self, cost: float) -> None:
        """Bring the outer bar to where this unit's estimated cost says it should be."""
        self.outer.update(max(0.0, self._unit_start + cost - self.outer.n))

    def start(self, description: str, steps: int) -> None:
        """An inner bar of ``steps`` steps within the current unit."""
        self.start_unit(description)
        if self.inner is not None:
            self.inner.close()
        self.inner = tqdm(total=steps, disable=not self.enabled, leave=False, unit="step", dynamic_ncols=True)

    def step(self, cost: float, loss: torch.Tensor | float | None = None) -> None:
        """One step done: ``cost`` on the outer bar; the loss shows now and then (few device syncs)."""
        self.outer.update(cost)
        if self.inner is not None:
            self.inner.update(1)
        if loss is not None and self.wants_loss():
            text = f"loss={float(loss):.4g}"
            (self.inner or self.outer).set_postfix_str(text, refresh=False)
            self._last_postfix = time.monotonic()

    def wants_loss(self) -> bool:
        """Whether the caller should fetch a loss value now (keeps device syncs rare)."""
        return self.enabled and time.monotonic() - self._last_postfix > 0.25

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
        self.outer.close()


def list_synthesizers(pattern: str | None = None) -> list[str]:
    """Names of the registered synthesizers (``stst synth --help``), optionally filtered by a wildcard pattern."""
    from ._plugins import get_registry

    return get_registry("synthesizers").names(pattern)
