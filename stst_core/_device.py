"""Devices named by users: checked once, at the edge, with a message that says what exists.

``torch.device("gpu")`` raises a bare ``RuntimeError`` and ``torch.device("cuda")``
on a machine without CUDA succeeds, only to fail at the first tensor moved
there. Every command and public entry point that takes a device resolves it
here first, so that both end in one clear :class:`~stst_core.STSTError`.

The host's memory is checked the same way before the large allocations that
users size themselves (a long video decoded, a clip scaled up): Linux hands out
memory it does not have and then kills the process without a word, so a clear
limit has to be drawn before the allocation, not after it.

Whether torch may pick nondeterministic algorithms is switched here too
(:func:`deterministic`), since it is a property of how a device computes.
"""

from __future__ import annotations

import os
import re
import warnings

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


# cuBLAS is deterministic only with a fixed workspace per stream; NVIDIA's and torch's
# documented setting (":16:8" also works, with less memory and slower matrix products)
CUBLAS_WORKSPACE_CONFIG = ":4096:8"
_CUBLAS_DETERMINISTIC = (":4096:8", ":16:8")
_NO_DETERMINISTIC_OP = re.compile(r"(\S+) does not have a deterministic implementation")


class _DeterministicSettings:
    """What :func:`deterministic` replaced; restored when used as a context manager."""

    def __init__(self, algorithms: bool, warn_only: bool, cudnn_benchmark: bool, cudnn_deterministic: bool):
        self._previous = (algorithms, warn_only, cudnn_benchmark, cudnn_deterministic)

    def __enter__(self) -> _DeterministicSettings:
        return self

    def __exit__(self, *exc_info) -> None:
        algorithms, warn_only, benchmark, cudnn_deterministic = self._previous
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark
        torch.backends.cudnn.deterministic = cudnn_deterministic


def deterministic(on: bool = True) -> _DeterministicSettings:
    """Make torch use only deterministic algorithms (``on``), or any (``on=False``): process-wide.

    On: ``torch.use_deterministic_algorithms(True)`` (an operation that has
    no deterministic implementation raises a ``RuntimeError`` naming it,
    rather than warn and run nondeterministically),
    ``torch.backends.cudnn.benchmark = False`` (no timing-based choice of
    convolution algorithm), ``torch.backends.cudnn.deterministic = True``,
    and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` in the environment if it is unset
    (cuBLAS reads it when CUDA starts: as a library, set it before any CUDA
    work, or in the shell; a warning says when CUDA had already started).
    Off: torch's defaults (``use_deterministic_algorithms(False)``,
    ``cudnn.deterministic = False``); ``cudnn.benchmark`` and the
    environment are left as they are.

    The settings are torch's and hold for the whole process, every thread
    and device, until changed again. Used as a context manager, the previous
    settings come back on exit (the environment variable stays: cuBLAS
    has read it by then). Deterministic algorithms can be slower; see the
    documentation's page on determinism for what is bit-reproducible.

    Parameters
    ----------
    on : bool
        Deterministic algorithms only (True), or any (False).

    Returns
    -------
    object
        The settings replaced, as a context manager that restores them.

    Examples
    --------
    >>> with deterministic(True):
    ...     torch.are_deterministic_algorithms_enabled()
    True
    >>> torch.are_deterministic_algorithms_enabled()
    False
    """
    replaced = _DeterministicSettings(
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    if on:
        if "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE_CONFIG
            if torch.cuda.is_initialized():
                warnings.warn(
                    f"CUDA had started before deterministic(True) set CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE_CONFIG}, "
                    "so cuBLAS may not use it; set it in the environment before any CUDA work",
                    RuntimeWarning,
                    stacklevel=2,
                )
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    return replaced


def nondeterminism_problem(exc: BaseException) -> str | None:
    """What torch refused under :func:`deterministic`, from the error it raised; None for any other error."""
    text = str(exc)
    found = _NO_DETERMINISTIC_OP.search(text)
    if found:
        return f"{found.group(1)} has no deterministic implementation in PyTorch {torch.__version__}"
    if "use_deterministic_algorithms" in text and "CUBLAS_WORKSPACE_CONFIG" in text:
        value = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
        return f"cuBLAS is deterministic only with CUBLAS_WORKSPACE_CONFIG set to {' or '.join(_CUBLAS_DETERMINISTIC)} before CUDA starts (it is {value!r})"
    return None


# what to do when a run does not fit: the one advice of the memory check and of an out-of-memory error
MEMORY_ADVICE = "use fewer frames (--frames), smaller ones (--size), a smaller --batch (extract), or a device with more memory (--device)"


__all__ = [
    "CUBLAS_WORKSPACE_CONFIG",
    "MEMORY_ADVICE",
    "available_devices",
    "available_memory",
    "check_memory",
    "deterministic",
    "nondeterminism_problem",
    "resolve_device",
]
