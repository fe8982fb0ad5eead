"""Steppers: one update of an image or video at a time, with a state that resumes exactly.

A :class:`Stepper` holds the tensor being optimised (``stepper.x``) and
whatever its method remembers between steps. ``stepper.step(objective)``
evaluates the objective at the current ``x`` and moves ``x`` once;
``state_dict()`` and ``load_state_dict()`` capture all of it, so a run that
stops after any step and goes on from the saved state ends bit-identical to
one that never stopped (same device). The pixel optimisers keep ``x`` in
[0, 1]:

``ngd``
    normalised gradient descent, as the STST reference:
    ``x ← clip(x − lr · g / (std(g) + 1e-8), 0, 1)``.
``adam``
    :class:`torch.optim.Adam` with learning rate ``lr``, then a clip to [0, 1].
``lbfgs``
    projected L-BFGS (limited-memory BFGS on the box [0, 1]): the two-loop
    recursion over the last ``history`` steps gives the direction;
    coordinates held at a bound by it stay fixed; a backtracking (Armijo) line
    search along the projected path picks the step. One step is one
    iteration; ``lr`` is not used. Its memory is part of the state, so a
    resumed run continues with the same curvature estimate. ``bounded=False``
    drops the box (the caller clips the result); ``max_evaluations``,
    ``ftol`` and ``gtol`` stop it as SciPy's L-BFGS-B stops (:class:`LBFGS`),
    after which a step leaves ``x`` where it is.

The objective returns ``(total, terms)``: the scalar to minimise and a vector
of the terms it is made of. Every stepper returns the values at the ``x`` the
step started from, so histories mean the same for every method.

A method that is not gradient descent subclasses :class:`Stepper`; a Langevin
sampler is a few lines (``docs/plugins.md``, "A new method").
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ._errors import ConfigError

METHODS = ("ngd", "adam", "lbfgs")
Objective = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]
StepCallback = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]


def value_and_grad(objective: Objective, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(total, terms, ∂total/∂x)`` at ``x``, all detached."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        total, terms = objective(x)
        (grad,) = torch.autograd.grad(total, x)
    # a backward pass may hand back any memory layout, and CPU reductions sum in an order that
    # depends on it: one layout (the one a checkpoint restores) keeps resumed runs bit-identical
    return total.detach(), terms.detach(), grad.contiguous()


class Stepper:
    """Base of all steppers: the tensor ``x`` and its update rule.

    Subclasses implement :meth:`update` (or :meth:`step` itself) and extend
    :meth:`state_dict` / :meth:`load_state_dict` with what they remember.
    """

    def __init__(self, x: torch.Tensor):
        self.x = x.detach().clone()

    def step(self, objective: Objective) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluate at ``x``, move ``x`` once; returns ``(total, terms)`` at the starting ``x``."""
        total, terms, grad = value_and_grad(objective, self.x)
        with torch.no_grad():
            self.x = self.update(self.x, grad)
        return total, terms

    def update(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"x": self.x}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.x = state["x"].to(self.x.device, self.x.dtype).clone()


class NGD(Stepper):
    """Normalised gradient descent in [0, 1] (the STST reference's optimiser)."""

    def __init__(self, x: torch.Tensor, lr: float):
        super().__init__(x.clamp(0, 1))
        self.lr = lr

    def update(self, x, grad):
        return (x - self.lr * grad / (grad.std() + 1e-8)).clamp_(0, 1)


class Adam(Stepper):
    """:class:`torch.optim.Adam` in [0, 1]: its moment estimates are part of the state.

    ``schedule(step)``, when given, is the learning rate of step ``step``
    (0, 1, …; e.g. :func:`warmup_cosine`), set before that step; the count of
    steps taken is part of the state, so a resumed run follows the same
    schedule. ``options`` go to :class:`torch.optim.Adam` (``betas``, ``eps``).
    """

    def __init__(self, x: torch.Tensor, lr: float, *, schedule: Callable[[int], float] | None = None, **options):
        super().__init__(x.clamp(0, 1))
        self.x.requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.x], lr=lr, **options)
        self.schedule = schedule
        self.steps = 0

    def step(self, objective):
        if self.schedule is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = float(self.schedule(self.steps))
        self.x.grad = None
        with torch.enable_grad():
            total, terms = objective(self.x)
            total.backward()
        self.optimizer.step()
        self.steps += 1
        with torch.no_grad():
            self.x.clamp_(0, 1)
        return total.detach(), terms.detach()

    def state_dict(self):
        return {"x": self.x.detach(), "optimizer": self.optimizer.state_dict(), "steps": self.steps}

    def load_state_dict(self, state):
        with torch.no_grad():
            self.x.copy_(state["x"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state.get("steps", 0))


def warmup_cosine(lr: float, warmup: int, total: int, floor: float = 0.0) -> Callable[[int], float]:
    """A learning-rate schedule: a linear warm-up to ``lr`` over ``warmup`` steps, then a half cosine towards 0, never below ``floor``.

    Step ``s < warmup`` has ``lr · (s + 1) / warmup``; after it, with
    ``e = s − warmup`` of ``total − warmup`` steps, ``lr · (1 + cos(π e / (total − warmup))) / 2``.

    >>> schedule = warmup_cosine(1.0, 2, 6, floor=0.1)
    >>> [round(schedule(s), 3) for s in range(6)]
    [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
    """

    def schedule(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        decay = max(total - warmup, 1)
        return max(lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / decay)), floor)

    return schedule


class LBFGS(Stepper):
    """Projected L-BFGS on the box [0, 1] (see the module's docstring), or unbounded.

    Stopping, as SciPy's L-BFGS-B (each off while 0 or None): after an iteration, when
    the objective has been evaluated more than ``max_evaluations`` times
    (its ``maxfun``), when the relative decrease
    ``(f_k − f_k+1) / max(|f_k|, |f_k+1|, 1)`` is at most ``ftol``, or when
    the largest entry of the (projected) gradient times ``gradient_scale`` is
    at most ``gtol`` (``gradient_scale`` converts the gradient to the units
    the tolerance was meant for). :attr:`evaluations` counts the
    evaluations and :attr:`stopped` says why it stopped (``""`` while it
    runs); both are part of the state. :attr:`SCIPY_FTOL` and
    :attr:`SCIPY_GTOL` are SciPy's defaults.
    """

    SCIPY_FTOL = 2.220446049250313e-09  # factr 1e7 times the machine epsilon
    SCIPY_GTOL = 1e-05

    def __init__(
        self,
        x: torch.Tensor,
        history: int = 10,
        max_backtracks: int = 20,
        *,
        bounded: bool = True,
        max_evaluations: int | None = None,
        ftol: float = 0.0,
        gtol: float = 0.0,
        gradient_scale: float = 1.0,
    ):
        super().__init__(x.clamp(0, 1) if bounded else x.clone())
        self.history = history
        self.max_backtracks = max_backtracks
        self.bounded = bounded
        self.max_evaluations, self.ftol, self.gtol, self.gradient_scale = max_evaluations, ftol, gtol, gradient_scale
        self.s: list[torch.Tensor] = []  # position changes of the last steps
        self.y: list[torch.Tensor] = []  # gradient changes of the last steps
        self.at_x: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (total, terms, grad) at x
        self.evaluations = 0
        self.stopped = ""

    def _evaluate(self, objective, x):
        self.evaluations += 1
        return value_and_grad(objective, x)

    def _projected(self, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """``step`` with the entries that would leave the box at a bound set to 0 (all of it when unbounded)."""
        if not self.bounded:
            return step
        return step.masked_fill(((x <= 0) & (step < 0)) | ((x >= 1) & (step > 0)), 0.0)

    def _stop_reason(self, old_total: torch.Tensor, new_total: torch.Tensor, grad: torch.Tensor) -> str:
        if self.max_evaluations is not None and self.evaluations > self.max_evaluations:
            return "evaluations"
        old, new = float(old_total), float(new_total)
        if self.ftol > 0 and (old - new) / max(abs(old), abs(new), 1.0) <= self.ftol:
            return "ftol"
        if self.gtol > 0 and float(self._projected(self.x, -grad).abs().max()) * self.gradient_scale <= self.gtol:
            return "gtol"
        return ""

    def _direction(self, grad: torch.Tensor) -> torch.Tensor:
        q = grad.clone()
        alphas = []
        for s, y in zip(reversed(self.s), reversed(self.y)):
            alpha = (s * q).sum() / (y * s).sum()
            q -= alpha * y
            alphas.append(alpha)
        if self.s:
            q *= (self.s[-1] * self.y[-1]).sum() / (self.y[-1] * self.y[-1]).sum()
        for (s, y), alpha in zip(zip(self.s, self.y), reversed(alphas)):
            beta = (y * q).sum() / (y * s).sum()
            q += (alpha - beta) * s
        return -q

    def step(self, objective):
        if self.at_x is None:
            self.at_x = self._evaluate(objective, self.x)
        total, terms, grad = self.at_x
        if self.stopped:
            return total, terms
        x = self.x
        with torch.no_grad():
            direction = self._projected(x, self._direction(grad))
            if not (grad * direction).sum() < 0:  # not a descent direction: forget the curvature
                self.s, self.y = [], []
                direction = self._projected(x, -grad)
            # a quasi-Newton step is scaled already; the first one is scaled like L-BFGS-B's
            t = 1.0 if self.s else float(min(1.0, 1.0 / max(float(direction.norm()), 1e-30)))
        for _ in range(self.max_backtracks):
            with torch.no_grad():
                candidate = x + t * direction
                candidate = candidate.clamp(0, 1) if self.bounded else candidate
                decrease = (grad * (candidate - x)).sum()
            new_total, new_terms, new_grad = self._evaluate(objective, candidate)
            if new_total <= total + 1e-4 * decrease:
                break
            t *= 0.5
        else:  # no decrease along this direction: stay, and start the memory afresh
            self.s, self.y = [], []
            if self.max_evaluations is not None and self.evaluations > self.max_evaluations:
                self.stopped = "evaluations"
            return total, terms
        with torch.no_grad():
            s, y = candidate - x, new_grad - grad
            if (s * y).sum() > 1e-10 * (y * y).sum():  # keep only pairs with positive curvature
                self.s, self.y = [*self.s, s][-self.history :], [*self.y, y][-self.history :]
        self.x, self.at_x = candidate, (new_total, new_terms, new_grad)
        self.stopped = self._stop_reason(total, new_total, new_grad)
        return total, terms

    def state_dict(self):
        state = {"x": self.x, "s": list(self.s), "y": list(self.y), "evaluations": self.evaluations, "stopped": self.stopped}
        if self.at_x is not None:
            state["total"], state["terms"], state["grad"] = self.at_x
        return state

    def load_state_dict(self, state):
        device = self.x.device
        self.x = state["x"].to(device).clone()
        self.s = [t.to(device) for t in state["s"]]
        self.y = [t.to(device) for t in state["y"]]
        self.at_x = (state["total"].to(device), state["terms"].to(device), state["grad"].to(device)) if "grad" in state else None
        self.evaluations, self.stopped = int(state.get("evaluations", 0)), str(state.get("stopped", ""))


def make_stepper(method: str, x: torch.Tensor, *, lr: float, **lbfgs_options) -> Stepper:
    """The [0, 1] pixel optimiser ``method`` (``ngd``, ``adam`` or ``lbfgs``) starting at ``x``; ``lbfgs_options`` go to :class:`LBFGS`."""
    if lbfgs_options and method != "lbfgs":
        raise ConfigError(f"{', '.join(sorted(lbfgs_options))} apply to optimizer 'lbfgs' only, not {method!r}")
    if method == "ngd":
        return NGD(x, lr)
    if method == "adam":
        return Adam(x, lr)
    if method == "lbfgs":
        return LBFGS(x, **lbfgs_options)
    raise ConfigError(f"optimizer must be one of {', '.join(METHODS)}; got {method!r}")


def minimize(x: torch.Tensor, objective: Objective, *, method: str, steps: int, lr: float, on_step: StepCallback | None = None) -> torch.Tensor:
    """Minimise ``objective`` over ``x`` (kept in [0, 1]) for ``steps`` steps; returns the result.

    ``on_step(step, total, terms, x)`` is called after every step with the
    values at the ``x`` the step started from and the ``x`` it reached.
    """
    stepper = make_stepper(method, x, lr=lr)
    for step in range(steps):
        total, terms = stepper.step(objective)
        if on_step is not None:
            on_step(step, total, terms, stepper.x)
    return stepper.x.detach()
