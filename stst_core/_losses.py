"""The loss contract: ``loss(synthesised, target) -> 0-d tensor``.

Losses are registered by name through ``stst_register_losses``. A plain
function is used as it is; a class is a factory whose keyword arguments are
the loss's options (``create_loss("gram", normalization="chw")``).
"""

from __future__ import annotations

from typing import Callable

import torch

from ._plugins import build_registered, get_registry

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def list_losses(pattern: str | None = None) -> list[str]:
    """Names of the registered losses, optionally filtered by a wildcard pattern."""
    return get_registry("losses").names(pattern)


def create_loss(name: str, **options) -> Loss:
    """The loss registered as ``name``, built with ``options`` when it takes any.

    Examples
    --------
    >>> gram = create_loss("gram", normalization="locations")   # doctest: +SKIP
    >>> gram(torch.rand(1, 8, 4, 4), torch.rand(1, 8, 4, 4))      # doctest: +SKIP
    tensor(...)
    """
    return build_registered("losses", name, options, what="loss")


def prepare_target(loss: Loss, target: torch.Tensor):
    """Precompute what ``loss`` needs of a fixed target (a Gram matrix, say), once.

    A loss may define ``prepare(target)`` and ``compare(synthesised, prepared)``
    so that iterative methods do not recompute target statistics every step;
    ``loss(s, t)`` must equal ``loss.compare(s, loss.prepare(t))``. Losses
    without them are plain two-argument callables.
    """
    return loss.prepare(target) if hasattr(loss, "prepare") else target


def compare_prepared(loss: Loss, synthesised: torch.Tensor, prepared) -> torch.Tensor:
    """Evaluate ``loss`` against a target returned by :func:`prepare_target`."""
    return loss.compare(synthesised, prepared) if hasattr(loss, "compare") else loss(synthesised, prepared)
