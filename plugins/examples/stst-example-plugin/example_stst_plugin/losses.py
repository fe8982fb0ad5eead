"""``example-moments``: match the mean and standard deviation of every channel."""

import torch


def moments(synthesised: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared differences of per-channel means and standard deviations, averaged over channels.

    Activations are batch first with channels second; every other axis counts
    as a location. A cheaper texture statistic than a Gram matrix: it ignores
    how channels co-vary.
    """
    s = synthesised.flatten(2)
    t = target.flatten(2)
    mean = (s.mean(dim=2) - t.mean(dim=2)).square().mean()
    std = (s.std(dim=2, correction=0) - t.std(dim=2, correction=0)).square().mean()
    return mean + std
