"""Devices named by users: checked once, at the edge, with a message that says what exists.

``torch.device("gpu")`` raises a bare ``RuntimeError`` and ``torch.device("cuda")``
on a machine without CUDA succeeds, only to fail at the first tensor moved
there. Every command and public entry point that takes a device resolves it
here first, so that both end in one clear :class:`~stst_core.STSTError`.

The host's memory is checked the same way before the large allocations that
users size themselves (a long video decoded, a clip scaled up): Linux hands out
memory it does not have and then kills the process without a word, so a clear
limit has to be drawn before the allocation, not after it.
"""

from __future__ import annotations

import os

import torch

from ._errors import STSTError

GIB = 2**30


def available_devices() -> list[str]:
    """The device names this machine can use now (``cpu``, ``cuda:0``…, ``mps``)."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a :class:`torch.device` this machine has, or an error naming those it has.

    ``None`` means the CPU.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("gpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    stst_core._errors.STSTError: unknown device 'gpu'; use one of: cpu...
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        resolved = device
    else:
        try:
            resolved = torch.device(str(device).strip().lower())
        except (RuntimeError, ValueError):
            raise STSTError(f"unknown device {device!r}; use one of: {', '.join(available_devices())}") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise STSTError(f"device {device!r}: this machine has no CUDA device (PyTorch {torch.__version__}); use --device cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise STSTError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s); use one of: {', '.join(available_devices())}")
        return resolved
    if resolved.type == "mps" and "mps" in available_devices():
        return resolved
    raise STSTError(f"device {device!r} is not available here; use one of: {', '.join(available_devices())}")


def available_memory() -> int:
    """Bytes of host memory available now (Linux: ``MemAvailable``; elsewhere free physical pages); 0 if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(nbytes: int, what: str, advice: str, error: type[STSTError] = STSTError, *, device: torch.device | str | None = None) -> None:
    """Raise a clear ``error`` if ``what`` (needing ``nbytes``) cannot fit in the memory available now: the host's, or a GPU ``device``'s."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        available, where = torch.cuda.mem_get_info(device)[0], f" on {device}"
    else:
        available, where = available_memory(), ""
    if available and nbytes > available:
        raise error(f"{what} needs {nbytes / GIB:.3g} GiB of memory, more than the {available / GIB:.3g} GiB available{where}; {advice}")


# what to do when a run does not fit: the one advice of the memory check and of an out-of-memory error
MEMORY_ADVICE = "use fewer frames (--frames), smaller ones (--size), a smaller --batch (extract), or a device with more memory (--device)"


__all__ = ["MEMORY_ADVICE", "available_devices", "available_memory", "check_memory", "resolve_device"]
