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
