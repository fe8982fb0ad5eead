"""Weights files: the cache folder, checksummed downloads, and safe loading.

Downloads go to :func:`cache_dir` (``$STST_CACHE_DIR``, else
``$XDG_CACHE_HOME/stst``, else ``~/.cache/stst``), are verified against a
sha256 checksum, and are renamed into place only once complete, so a broken
download never leaves a file that looks valid. ``STST_OFFLINE=1`` (or
``HF_HUB_OFFLINE=1``) forbids network access: only files already in the cache
or given as paths are used.

Loading never unpickles arbitrary objects: ``.safetensors`` files through
safetensors, ``.pt``/``.pth``/``.bin`` through ``torch.load(weights_only=True)``,
``.npz`` through NumPy with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import WeightsError

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".npz")


@dataclass(frozen=True)
class WeightsFile:
    """A downloadable weights file: where it lives on the internet and how to verify it.

    ``urls`` are tried in order; each may contain ``{hf_endpoint}``, replaced by
    ``$HF_ENDPOINT`` (default ``https://huggingface.co``) so that hub mirrors work.
    """

    name: str  # "<backbone>.<tag>", e.g. "msoe.tesfaldet"
    filename: str  # the name in the cache folder
    urls: tuple[str, ...]
    sha256: str
    licence: str = ""
    size_bytes: int | None = None

    def resolved_urls(self) -> list[str]:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        return [url.replace("{hf_endpoint}", endpoint) for url in self.urls]


def cache_dir() -> Path:
    """The folder where downloaded weights are kept."""
    if os.environ.get("STST_CACHE_DIR"):
        return Path(os.environ["STST_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "stst"


def offline() -> bool:
    """True when downloads are forbidden (``STST_OFFLINE`` or ``HF_HUB_OFFLINE`` set)."""
    return any(os.environ.get(v, "").strip().lower() not in ("", "0", "false", "no") for v in ("STST_OFFLINE", "HF_HUB_OFFLINE"))


def is_weights_path(value: object) -> bool:
    """Whether a ``weights=`` value names a file rather than a tag such as ``"imagenet"``."""
    if isinstance(value, Path):
        return True
    if not isinstance(value, str):
        return False
    return os.sep in value or "/" in value or value.lower().endswith(WEIGHT_SUFFIXES) or Path(value).exists()


def sha256sum(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_path(weights: WeightsFile) -> Path | None:
    """The verified file in the cache, or None when it is not there."""
    path = cache_dir() / weights.filename
    return path if path.is_file() else None


def fetch(weights: WeightsFile, *, progress: bool = True, timeout: float = 30.0) -> Path:
    """Return the cached file, downloading and verifying it first if needed.

    Raises :class:`WeightsError` naming every URL tried and telling where to put
    the file by hand when it cannot be downloaded.
    """
    path = cached_path(weights)
    if path is not None:
        return path
    target = cache_dir() / weights.filename
    manual = (
        f"To use {weights.name} without a download, put the file at {target} "
        f"(sha256 {weights.sha256}), or pass its path as the weights argument."
    )
    if offline():
        raise WeightsError(f"{weights.name} is not in the cache and downloads are off (STST_OFFLINE/HF_HUB_OFFLINE). {manual}")
    failures = []
    for url in weights.resolved_urls():
        try:
            return _download(url, target, weights.sha256, progress=progress, timeout=timeout)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
    tried = "; ".join(failures)
    raise WeightsError(f"could not download {weights.name} ({tried}). {manual}")


def _download(url: str, target: Path, sha256: str, *, progress: bool, timeout: float) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "stst-toolkit"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        # a temporary sibling, renamed only after verification: an interrupted or
        # corrupted download never sits at the final path
        handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False)
        digest = hashlib.sha256()
        try:
            with handle, tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    handle.write(block)
                    digest.update(block)
                    bar.update(len(block))
            if digest.hexdigest() != sha256:
                raise ValueError(f"checksum mismatch: got sha256 {digest.hexdigest()}, expected {sha256}")
            shutil.move(handle.name, target)
        finally:
            if os.path.exists(handle.name):
                os.unlink(handle.name)
    return target


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors``, a ``torch.save`` file, or ``.npz``, safely.

    A checkpoint that wraps the weights in ``{"state_dict": ...}`` or
    ``{"model": ...}`` is unwrapped.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                state = {k: torch.from_numpy(np.array(archive[k])) for k in archive.files}
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"could not read weights from {path}: {type(exc).__name__}: {exc}. "
            "Expected a .safetensors file, a state dict saved with torch.save, or a .npz archive."
        ) from exc
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, Mapping) and wrapper in state and isinstance(state[wrapper], Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(state)
