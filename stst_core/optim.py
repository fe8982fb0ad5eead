"""Optimisers for images and videos whose pixels must stay in [0, 1].

:func:`minimize` runs one of three methods on a tensor for a number of steps:

``ngd``
    normalised gradient descent, as the STST reference:
    ``x ← clip(x − lr · g / (std(g) + 1e-8), 0, 1)``.
``adam``
    :class:`torch.optim.Adam` with learning rate ``lr``, then a clip to [0, 1].
``lbfgs``
    SciPy's L-BFGS-B with the bounds [0, 1] built in (as Tesfaldet et al.
    optimise), one step per L-BFGS-B iteration; ``lr`` is not used. The
    objective runs in PyTorch on the tensor's device; each evaluation copies the
    pixels and their gradient between host and device once.

The objective returns ``(total, terms)``: the scalar to minimise and a vector
of the terms it is made of, which the caller records at every step.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.optimize
import torch

from .errors import ConfigError

METHODS = ("ngd", "adam", "lbfgs")
Objective = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor]"]
StepCallback = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None]


def minimize(x: torch.Tensor, objective: Objective, *, method: str, steps: int, lr: float, on_step: StepCallback | None = None) -> torch.Tensor:
    """Minimise ``objective`` over ``x`` (kept in [0, 1]) for ``steps`` steps; returns the result.

    ``on_step(step, total, terms, x)`` is called after every step with the
    values computed at that step and the current ``x`` (detached; callers that
    keep ``x`` must copy it).
    """
    if method not in METHODS:
        raise ConfigError(f"optimizer must be one of {', '.join(METHODS)}; got {method!r}")
    on_step = on_step or (lambda step, total, terms, x: None)
    x = x.detach().clamp(0, 1).clone()
    if method == "lbfgs":
        return _lbfgsb(x, objective, steps, on_step)
    x.requires_grad_(True)
    adam = torch.optim.Adam([x], lr=lr) if method == "adam" else None
    for step in range(steps):
        x.grad = None
        total, terms = objective(x)
        total.backward()
        with torch.no_grad():
            if adam is None:
                grad = x.grad
                x -= lr * grad / (grad.std() + 1e-8)
            else:
                adam.step()
            x.clamp_(0, 1)
        on_step(step, total.detach(), terms.detach(), x.detach())
    return x.detach()


def _lbfgsb(x: torch.Tensor, objective: Objective, steps: int, on_step: StepCallback) -> torch.Tensor:
    shape, device, dtype = x.shape, x.device, x.dtype
    last = {}

    def value_and_grad(flat: np.ndarray):
        pixels = torch.from_numpy(flat.reshape(shape)).to(device, dtype).requires_grad_(True)
        total, terms = objective(pixels)
        (grad,) = torch.autograd.grad(total, pixels)
        last["total"], last["terms"] = total.detach(), terms.detach()
        return float(total.detach()), grad.double().cpu().numpy().ravel()

    state = {"step": 0}

    def callback(intermediate):
        # the last evaluation of an iteration is at the point it accepted
        state["x"] = intermediate if intermediate is not None else state.get("x", x.double().cpu().numpy().ravel())
        on_step(state["step"], last["total"], last["terms"], torch.from_numpy(state["x"].reshape(shape)).to(device, dtype))
        state["step"] += 1

    result = scipy.optimize.minimize(
        value_and_grad,
        x.double().cpu().numpy().ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(0.0, 1.0),
        callback=callback,
        options={"maxiter": steps, "maxfun": steps * 20, "ftol": 0.0, "gtol": 0.0},
    )
    # L-BFGS-B can stop early (no further decrease possible): record the remaining steps as unchanged
    while state["step"] < steps:
        callback(None)
    return torch.from_numpy(result.x.reshape(shape)).to(device, dtype)
