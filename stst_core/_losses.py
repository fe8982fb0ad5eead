"""The loss contract: ``loss(synthesised, target) -> 0-d tensor``, and prepared targets.

A loss compares the activations of one layer (batch first, channel axis
second, the rest locations, as the backbone's ``LayerSpec`` declares them) of
a synthesised video with those of its target, and returns a 0-d tensor that
is differentiable with respect to ``synthesised``.

Losses are registered by name through ``stst_register_losses``. A plain
function is the loss itself and takes no options; a class is a factory whose
keyword arguments, declared with type annotations, are the loss's options
(``create_loss("gram", normalization="chw")``, or ``style_loss_options`` in a
method's config), checked by :meth:`Registry.create
<stst_core._registry.Registry.create>` before the class is called.

Iterative methods compare many synthesised videos against one fixed target.
A loss may therefore define, together, ``prepare(target) -> prepared`` (what
it needs of a target, a Gram matrix say, computed once) and
``compare(synthesised, prepared) -> 0-d tensor``, with
``loss(s, t) == loss.compare(s, loss.prepare(t))``. Methods call
:func:`prepare_target` once per fixed target (under ``torch.no_grad``, before
their steps) and keep the result; :func:`compare_prepared` at every step.
Neither may keep state between calls: one loss object serves every layer of
a stream, and prepared targets are recomputed when a run resumes.
"""

from __future__ import annotations

from typing import Callable

import torch

from ._errors import RegistryError
from ._plugins import get_registry

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def list_losses(pattern: str | None = None) -> list[str]:
    """Names of the registered losses, optionally filtered by a wildcard pattern."""
    return get_registry("losses").names(pattern)


def create_loss(name: str, **options) -> Loss:
    """The loss registered as ``name``, built with ``options`` when it takes any.

    Parameters
    ----------
    name : str
        A registered loss (:func:`list_losses`).
    **options
        Keyword arguments of a loss that is a class, checked against its
        typed signature (``"chw"``, ``"3"`` → 3 where an integer is expected);
        a loss that is a plain function takes none.

    Raises
    ------
    RegistryError
        For an unknown name (with close matches), or a loss that defines only
        one of ``prepare`` and ``compare``.
    ConfigError
        For an option the loss does not take (naming those it does) or a bad
        value (naming the option and what it must be).

    Examples
    --------
    >>> gram = create_loss("gram", normalization="locations")   # doctest: +SKIP
    >>> gram(torch.rand(1, 8, 4, 4), torch.rand(1, 8, 4, 4))      # doctest: +SKIP
    tensor(...)
    """
    loss = get_registry("losses").create(name, **options)
    if hasattr(loss, "prepare") != hasattr(loss, "compare"):
        entry = get_registry("losses").get(name)
        has, lacks = ("prepare", "compare") if hasattr(loss, "prepare") else ("compare", "prepare")
        raise RegistryError(f"loss {entry.name!r} (plugin {entry.plugin!r}) defines {has}() but not {lacks}(); a loss defines both or neither")
    return loss


def prepare_target(loss: Loss, target: torch.Tensor):
    """What ``loss`` needs of a fixed target's activations (a Gram matrix, say), computed once.

    ``loss.prepare(target)`` for a loss that defines it, else the target
    itself. Call it once per fixed target, outside the optimisation loop, and
    keep the result for :func:`compare_prepared`.
    """
    return loss.prepare(target) if hasattr(loss, "prepare") else target


def compare_prepared(loss: Loss, synthesised: torch.Tensor, prepared) -> torch.Tensor:
    """Evaluate ``loss`` against a target returned by :func:`prepare_target`: ``loss.compare`` or the plain call."""
    return loss.compare(synthesised, prepared) if hasattr(loss, "compare") else loss(synthesised, prepared)
