"""Weights files: the cache folder, checksummed downloads, and safe loading.

Downloads go to :func:`cache_dir` (``$STST_CACHE_DIR``, else
``$XDG_CACHE_HOME/stst``, else ``~/.cache/stst``), are verified against a
sha256 checksum, and are renamed into place only once complete, so a broken
download never leaves a file that looks valid. The checksum a
:class:`WeightsFile` names is one of three kinds:

- the full sha256 digest (64 hex digits): the file must match it exactly;
- a prefix of it (8 to 63 hex digits), as torchvision publishes in its file
  names (``r3d_18-b3b3357e.pth``): the file's digest must start with it, which
  is the check torchvision itself makes;
- ``None``: the digest the server publishes. The Hugging Face hub answers a
  ``resolve`` URL of a large (LFS) file with the file's sha256 in its
  ``X-Linked-Etag`` header (``ETag`` when it serves the file itself); the
  download must match that header, and fails when no response carries one.

A publisher that gives an md5 digest instead (Keras' applications) is named by
the optional ``md5`` field: the download must have exactly that md5, and with
``sha256=None`` it is the only check (no published sha256 is asked for).

A file already in the cache is used as it is (a file put there by hand
included). ``STST_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) forbids network
access: only files already in the cache or given as paths are used.

Loading never unpickles arbitrary objects: ``.safetensors`` files through
safetensors, ``.pt``/``.pth``/``.pyth``/``.bin``/``.ckpt`` through
``torch.load(weights_only=True)``, ``.npz`` through NumPy with
``allow_pickle=False``. Keras ``.h5``/``.hdf5`` files hold no state dict: the
backbone that knows their layout reads them (``vgg19``).

A backbone names its weights by tag: each :class:`WeightsChoice` says where
the tensors of one tag come from (a :class:`WeightsFile` to download, a
function that builds them in code, or the network's own random
initialisation). :func:`resolve_weights` turns a user's ``weights=`` value
(a tag, a path, or None for the default) into a :class:`ResolvedWeights`:
the tag and source the backbone's card records, and the file or function
that gives the tensors. :class:`stst_core.Backbone` calls it for every
backbone, so that every backbone resolves weights the same way.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ._errors import BackboneError, WeightsError

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".pyth", ".bin", ".ckpt", ".npz", ".h5", ".hdf5")
# Keras' HDF5 weights: a layout of layers and datasets, read by the backbones that know it
KERAS_SUFFIXES = (".h5", ".hdf5")


SHA256_HEX = re.compile(r"[0-9a-f]{64}")
SHA256_PREFIX = re.compile(r"[0-9a-f]{8,64}")
MD5_HEX = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class WeightsFile:
    """A downloadable weights file: where it lives on the internet and how to verify it.

    ``urls`` are tried in order; each may contain ``{hf_endpoint}``, replaced by
    ``$HF_ENDPOINT`` (default ``https://huggingface.co``) so that hub mirrors work.

    ``sha256`` is the file's full sha256 digest; or a prefix of it of at least
    8 hex digits (torchvision's file names carry one: ``r3d_18-b3b3357e.pth``);
    or None to verify against the digest the server publishes (the Hugging Face
    hub's ``X-Linked-Etag`` header), for hub files whose digest is not known in
    advance.

    ``md5`` is the file's full md5 digest (32 hex digits), for publishers that
    give only that (Keras' applications); with ``sha256=None`` it replaces the
    published sha256, with a sha256 given both must match.

    Examples
    --------
    >>> WeightsFile("r3d_18.kinetics400", "r3d_18-b3b3357e.pth",
    ...             ("https://download.pytorch.org/models/r3d_18-b3b3357e.pth",), "b3b3357e").checksum
    'sha256 starting with b3b3357e'
    >>> WeightsFile("vgg19.keras", "vgg19_notop.h5", ("https://example.org/vgg19_notop.h5",), None,
    ...             md5="253f8cb515780f3b799900260a226db6").checksum
    'md5 253f8cb515780f3b799900260a226db6'
    """

    name: str  # "<backbone>.<tag>", e.g. "msoe.tesfaldet"
    filename: str  # the name in the cache folder
    urls: tuple[str, ...]
    sha256: str | None
    licence: str = ""
    size_bytes: int | None = None
    md5: str | None = None

    def __post_init__(self) -> None:
        if self.sha256 is not None and not SHA256_PREFIX.fullmatch(self.sha256):
            raise ValueError(
                f"{self.name}: sha256 must be lower-case hex, the full digest (64 digits) or a prefix of "
                f"at least 8 digits, or None for the digest the hub publishes; got {self.sha256!r}"
            )
        if self.md5 is not None and not MD5_HEX.fullmatch(self.md5):
            raise ValueError(f"{self.name}: md5 must be the full digest in lower-case hex (32 digits), or None; got {self.md5!r}")

    @property
    def checksum(self) -> str:
        """What a download of this file is verified against, in words."""
        md5 = f"md5 {self.md5}" if self.md5 else ""
        if self.sha256 is None:
            return md5 or "the sha256 the server publishes (X-Linked-Etag)"
        sha256 = f"sha256 starting with {self.sha256}" if len(self.sha256) < 64 else f"sha256 {self.sha256}"
        return f"{sha256} and {md5}" if md5 else sha256

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
    manual = f"To use {weights.name} without a download, put the file at {target} ({weights.checksum}), or pass its path as the weights argument."
    if offline():
        raise WeightsError(f"{weights.name} is not in the cache and downloads are off (STST_OFFLINE/HF_HUB_OFFLINE). {manual}")
    failures = []
    for url in weights.resolved_urls():
        try:
            return _download(url, target, weights.sha256, md5=weights.md5, progress=progress, timeout=timeout)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
    tried = "; ".join(failures)
    raise WeightsError(f"could not download {weights.name} ({tried}). {manual}")


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib's own handler, keeping each hop's headers.

    The hub puts the file's sha256 on its redirect to the storage server, not
    on the storage server's answer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hops: list = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def published_sha256(headers: list) -> str | None:
    """The sha256 a server publishes for a file, from the headers of each response in order.

    The first ``X-Linked-Etag`` wins (the Hugging Face hub's digest of an LFS
    file, sent with its redirect); otherwise the first ``ETag`` that is a sha256
    digest (the hub serving the file itself). Other ETags (MD5 sums, git blob
    ids) are not digests of the file's content and are ignored.
    """
    for field in ("X-Linked-Etag", "ETag"):
        for hop in headers:
            value = (hop.get(field) or "").strip().removeprefix("W/").strip('"').lower()
            if SHA256_HEX.fullmatch(value):
                return value
    return None


def _download(url: str, target: Path, sha256: str | None, *, md5: str | None = None, progress: bool, timeout: float) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    redirects = _RecordingRedirects()
    opener = urllib.request.build_opener(redirects)
    request = urllib.request.Request(url, headers={"User-Agent": "stst-toolkit"})
    with opener.open(request, timeout=timeout) as response:
        # an md5 from the publisher is check enough: no published sha256 is needed beside it
        expected = sha256 or (None if md5 else published_sha256([*redirects.hops, response.headers]))
        if expected is None and md5 is None:
            raise ValueError("the server published no sha256 (X-Linked-Etag or ETag header) to verify the file against; download it yourself and pass its path")
        total = int(response.headers.get("Content-Length") or 0) or None
        # a temporary sibling, renamed only after verification: an interrupted or
        # corrupted download never sits at the final path
        handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False)  # noqa: SIM115
        digest, md5_digest = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        try:
            with handle, tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    handle.write(block)
                    digest.update(block)
                    if md5 is not None:
                        md5_digest.update(block)
                    bar.update(len(block))
            if expected is not None and not digest.hexdigest().startswith(expected):
                what = "expected" if len(expected) == 64 else "expected a digest starting with"
                source = "" if sha256 else " (published by the server)"
                raise ValueError(f"checksum mismatch: got sha256 {digest.hexdigest()}, {what} {expected}{source}")
            if md5 is not None and md5_digest.hexdigest() != md5:
                raise ValueError(f"checksum mismatch: got md5 {md5_digest.hexdigest()}, expected {md5}")
            shutil.move(handle.name, target)
        finally:
            if os.path.exists(handle.name):
                os.unlink(handle.name)
    return target


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors``, a ``torch.save`` file, or ``.npz``, safely.

    A checkpoint that wraps the weights in ``{"state_dict": ...}``,
    ``{"model": ...}``, ``{"model_state_dict": ...}`` or ``{"model_state": ...}``
    (PySlowFast and TimeSformer checkpoints) is unwrapped.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES:
        raise WeightsError(
            f"{path} is a Keras HDF5 file, which holds layers rather than a state dict; only a backbone that knows "
            "its Keras layout reads it (vgg19). Give this backbone a .safetensors, torch.save or .npz file instead."
        )
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
    for wrapper in ("state_dict", "model", "model_state_dict", "model_state"):
        if isinstance(state, Mapping) and wrapper in state and isinstance(state[wrapper], Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(state)


@dataclass(frozen=True)
class WeightsChoice:
    """One weights tag a backbone offers, and where its tensors come from.

    Exactly one of three sources, by the fields set:

    - ``file``: a :class:`WeightsFile`, downloaded once, verified and cached
      (``imagenet``, ``kinetics400``, ``tesfaldet``);
    - ``initializer``: a function without arguments that returns a state dict
      built in code (``analytic`` filters);
    - neither: the network keeps the initialisation it was built with, under
      the seed :func:`stst_core.create_backbone` sets (``random``).

    Parameters
    ----------
    tag
        The name users pass as ``weights=`` (lower case, no path separator).
    description
        One line for ``stst backbones info``; for weights built in code it is
        also the card's ``source``.
    licence
        Licence of these weights.
    file
        The downloadable file, or None.
    initializer
        The function building the state dict, or None.
    hint
        What else works when the file cannot be had, for the error message
        (``"torchvision's r3d_18-b3b3357e.pth works too: pass weights=<its path>."``).

    Examples
    --------
    >>> from stst_core import WeightsChoice, WeightsFile
    >>> WeightsChoice("random", "PyTorch's initialisation under the given seed")  # doctest: +ELLIPSIS
    WeightsChoice(tag='random', ...)
    >>> WeightsChoice("tesfaldet", "trained on UCF-101 flow", "Apache-2.0",
    ...               WeightsFile("msoe.tesfaldet", "msoe.npz", ("https://example.org/weights.npz",), "99c984d7"))  # doctest: +SKIP
    """

    tag: str
    description: str
    licence: str = ""
    file: WeightsFile | None = None
    initializer: Callable[[], Mapping[str, torch.Tensor]] | None = None
    hint: str = ""

    def __post_init__(self) -> None:
        if self.file is not None and self.initializer is not None:
            raise ValueError(f"weights {self.tag!r}: give a file or an initializer, not both")
        if not self.tag or "/" in self.tag or os.sep in self.tag or self.tag.lower().endswith(WEIGHT_SUFFIXES):
            raise ValueError(f"weights tag {self.tag!r} would read as a path; tags are plain names such as 'imagenet'")


@dataclass(frozen=True)
class ResolvedWeights:
    """What a backbone's ``weights`` argument resolved to (see :func:`resolve_weights`).

    Attributes
    ----------
    tag
        The tag, or ``file:PATH`` for a file the user named: the card's ``weights``.
    source
        Where the tensors come from, in words: the download URL, the path, or
        the choice's description for weights built in code: the card's ``source``.
    path
        The file to read: the user's, or the downloaded one in the cache;
        None for weights built in code and random ones.
    choice
        The :class:`WeightsChoice` of a tag; None for a file path.
    """

    tag: str
    source: str
    path: Path | None = None
    choice: WeightsChoice | None = None

    @property
    def is_file(self) -> bool:
        """True when the user named a file (``weights=PATH``), not a tag."""
        return self.choice is None and self.path is not None

    @property
    def is_random(self) -> bool:
        """True when no tensors are loaded: the network keeps its seeded initialisation."""
        return self.path is None and (self.choice is None or self.choice.initializer is None)

    def state_dict(self) -> dict[str, torch.Tensor] | None:
        """The tensors: read (safely) from :attr:`path`, built by the choice's initializer, or None for random weights."""
        if self.path is not None:
            return load_state_dict(self.path)
        if self.choice is not None and self.choice.initializer is not None:
            return dict(self.choice.initializer())
        return None


def resolve_weights(
    weights: str | Path | None,
    choices: Sequence[WeightsChoice],
    *,
    default: str,
    owner: str,
    accepts_files: bool = True,
    file: WeightsFile | None = None,
) -> ResolvedWeights:
    """Turn a ``weights=`` value into a :class:`ResolvedWeights`, downloading a file if the tag needs one.

    A declared tag wins over a file of the same name; anything else that
    looks like a path (:func:`is_weights_path`) is a file, which must exist.

    Parameters
    ----------
    weights
        A tag of ``choices``, a path, or None for ``default``.
    choices
        The tags the backbone offers.
    default
        The tag used when ``weights`` is None.
    owner
        Who asks, for error messages (``"VGG19"``).
    accepts_files
        Whether a path is allowed.
    file
        The downloadable file of the chosen tag when it is known only once the
        backbone is built (the member of a family: ``timm:<model>``); it
        replaces the choice's own ``file``.

    Raises
    ------
    BackboneError
        For an unknown tag (the message names the known ones), or a path where
        none is accepted.
    WeightsError
        For a missing file, or a download that cannot be had (the message says
        where to put the file and which tags need no download).
    """
    value = default if weights is None or weights == "" else weights
    by_tag = {choice.tag: choice for choice in choices}
    if isinstance(value, str) and value in by_tag:
        choice = by_tag[value]
        wanted = file or choice.file
        if wanted is None:
            return ResolvedWeights(choice.tag, choice.description, None, choice)
        return ResolvedWeights(choice.tag, wanted.resolved_urls()[0], _fetch_for(wanted, choice, choices), choice)
    if is_weights_path(value):
        if not accepts_files:
            raise BackboneError(f"{owner} takes no weights file ({value}); choose {_allowed(choices, False)}")
        path = Path(value).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}; give the path of an existing file, or choose {_allowed(choices, False)}")
        return ResolvedWeights(f"file:{value}", str(value), path, None)
    raise BackboneError(f"unknown weights {value!r} for {owner}; choose {_allowed(choices, accepts_files)}")


def _allowed(choices: Sequence[WeightsChoice], accepts_files: bool) -> str:
    return ", ".join(choice.tag for choice in choices) + (" or a path to a weights file" if accepts_files else "")


def _fetch_for(file: WeightsFile, choice: WeightsChoice, choices: Sequence[WeightsChoice]) -> Path:
    """``fetch(file)``, with a message naming what else works: the choice's hint, and the tags that need no download."""
    try:
        return fetch(file)
    except WeightsError as exc:
        offline = [f"weights={c.tag!r}" for c in choices if c.file is None and c.tag != choice.tag]
        hint = f" {choice.hint}" if choice.hint else ""
        without = f" For a run without any download use {' or '.join(offline)}." if offline else ""
        raise WeightsError(f"weights={choice.tag!r} are unavailable: {exc}{hint}{without}") from None
