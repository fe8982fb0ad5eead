"""The [0, 1]-bounded optimisers on problems with known answers."""

import pytest
import torch

from stst_core import ConfigError
from stst_core._optim import minimize


def quadratic(target):
    def objective(x):
        terms = ((x - target) ** 2).sum().reshape(1)
        return terms.sum(), terms

    return objective


@pytest.mark.parametrize("method, lr, steps", [("ngd", 0.05, 200), ("adam", 0.05, 300), ("lbfgs", 0.0, 50)])
def test_methods_reach_the_bounded_optimum(method, lr, steps):
    # the unconstrained optimum lies partly outside [0, 1]: the answer is its clip
    target = torch.tensor([[-0.5, 0.25], [0.75, 1.8]])
    history = []
    x = minimize(torch.full((2, 2), 0.5), quadratic(target), method=method, steps=steps, lr=lr, on_step=lambda s, total, terms, x: history.append(float(total)))
    torch.testing.assert_close(x, target.clamp(0, 1), atol=0.02, rtol=0)
    assert x.min() >= 0 and x.max() <= 1
    assert len(history) == steps and history[-1] < history[0]


def test_ngd_step_by_hand():
    x0 = torch.tensor([0.5, 0.5, 0.5, 0.5])
    target = torch.tensor([0.0, 0.2, 0.6, 1.0])
    x = minimize(x0, quadratic(target), method="ngd", steps=1, lr=0.1)
    grad = 2 * (x0 - target)
    torch.testing.assert_close(x, (x0 - 0.1 * grad / (grad.std() + 1e-8)).clamp(0, 1))


def test_unknown_method():
    with pytest.raises(ConfigError, match="optimizer must be one of ngd, adam, lbfgs"):
        minimize(torch.zeros(2), quadratic(torch.zeros(2)), method="sgd", steps=1, lr=0.1)


def counted(objective):
    calls = []

    def wrapper(x):
        calls.append(1)
        return objective(x)

    return wrapper, calls


def test_unbounded_lbfgs_leaves_the_box_and_counts_its_evaluations():
    from stst_core import LBFGS

    target = torch.tensor([[-0.5, 0.25], [0.75, 1.8]])
    objective, calls = counted(quadratic(target))
    stepper = LBFGS(torch.full((2, 2), 0.5), bounded=False)
    for _ in range(30):
        stepper.step(objective)
    torch.testing.assert_close(stepper.x, target, atol=1e-4, rtol=0)  # the unconstrained optimum, outside [0, 1]
    assert stepper.evaluations == len(calls) and stepper.stopped == ""


def test_lbfgs_stops_as_scipy_does():
    from stst_core import LBFGS

    def rosenbrock(x):
        term = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum().reshape(1)
        return term.sum(), term

    # a budget of evaluations: the iteration that passes it is the last one
    objective, calls = counted(rosenbrock)
    stepper = LBFGS(torch.full((6,), 0.2, dtype=torch.float64), bounded=False, max_evaluations=15)
    for _ in range(40):
        stepper.step(objective)
    assert stepper.stopped == "evaluations" and 15 < stepper.evaluations == len(calls) <= 15 + stepper.max_backtracks
    frozen = stepper.x.clone()
    total, _ = stepper.step(objective)  # a stopped stepper stays where it is and evaluates nothing more
    assert torch.equal(stepper.x, frozen) and len(calls) == stepper.evaluations
    # SciPy's tolerances: it stops on a small relative decrease (ftol) long before a budget of 10,000
    stepper = LBFGS(torch.full((6,), 0.2, dtype=torch.float64), bounded=False, max_evaluations=10_000, ftol=LBFGS.SCIPY_FTOL, gtol=LBFGS.SCIPY_GTOL)
    for _ in range(2000):
        stepper.step(rosenbrock)
        if stepper.stopped:
            break
    assert stepper.stopped in ("ftol", "gtol") and stepper.evaluations < 2000
    torch.testing.assert_close(stepper.x, torch.ones(6, dtype=torch.float64), atol=1e-3, rtol=0)
    # gtol alone, with the gradient in other units: scaled by 1e6 it stops at once
    stepper = LBFGS(torch.full((6,), 0.2, dtype=torch.float64), gtol=1.0, gradient_scale=1e-6)
    stepper.step(rosenbrock)
    assert stepper.stopped == "gtol"
    # the counters are part of the state
    restored = LBFGS(torch.zeros(6, dtype=torch.float64))
    restored.load_state_dict(stepper.state_dict())
    assert (restored.evaluations, restored.stopped) == (stepper.evaluations, "gtol")


def test_lbfgs_options_belong_to_lbfgs():
    from stst_core import make_stepper

    with pytest.raises(ConfigError, match="bounded apply to optimizer 'lbfgs' only, not 'adam'"):
        make_stepper("adam", torch.zeros(2), lr=0.1, bounded=False)
