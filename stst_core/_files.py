"""Output files that are whole or absent: written to a temporary sibling, then renamed into place.

A full disk or a crash halfway through ``report.json`` would otherwise leave a
truncated file under the name a script or a person trusts. Every file the
toolkit writes (JSON, CSV, figures, model cards; videos have their own
temporary sibling) goes through :func:`atomic_output`, a folder of frames
through :func:`atomic_folder`. When the machine says no
(a full disk, a read-only folder), :func:`describe_os_error` says so in one line
with what to do.
"""

from __future__ import annotations

import errno
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_output(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed to ``path`` when the block ends without an error.

    The temporary name is hidden and keeps the suffix (``.NAME.partial-PID.png``),
    so that writers that choose a format from it (matplotlib) choose the right
    one; ``suffix`` replaces it (a frame folder's ``.part``, so that a reader
    never takes a frame being written for one). On an error the temporary file
    is removed, ``path`` is left as it was, and an ``OSError`` names ``path``.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_output(folder / "report.json") as tmp:
    ...     _ = tmp.write_text(json.dumps({"ok": True}))
    >>> sorted(p.name for p in folder.iterdir())
    ['report.json']
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}{path.suffix if suffix is None else suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename in (None, str(tmp)):  # say which file the user asked for, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A hidden sibling folder to fill; it replaces ``path`` (a folder, or nothing) whole when the block ends without an error.

    The folder at ``path`` is always either the old one or the new one, whole
    (a frame folder that lost its last frames or its ``meta.json`` to a full
    disk would read back as a shorter video). On an error the new folder is
    removed and an ``OSError`` names ``path``.
    """
    path = Path(path)
    where = path.absolute()  # so that "." has a name to take siblings of
    tmp = where.with_name(f".{where.name}.partial-{os.getpid()}")
    previous = where.with_name(f".{where.name}.previous-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # what a killed writer with this process id left
    try:
        tmp.mkdir()
        yield tmp
        if where.exists():  # a folder cannot replace a full one in one rename: the old one goes aside first
            os.replace(where, previous)
            try:
                os.replace(tmp, where)
            except OSError:
                os.replace(previous, where)
                raise
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(tmp, where)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.filename is None or str(exc.filename).startswith(str(tmp)):  # name the folder the user asked for
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomically(path: str | Path, text: str) -> Path:
    """``Path(path).write_text(text)``, whole or not at all (:func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)


# what to do about the errors the machine gives (not bugs): said after the cause
OS_ERROR_ADVICE = {
    errno.ENOSPC: "free some space, or write somewhere else",
    errno.EDQUOT: "free some space, or write somewhere else",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.EACCES: "check the permissions, or write somewhere else",
    errno.EPERM: "check the permissions, or write somewhere else",
}


@contextmanager
def zarr_writes(path: str | Path) -> Iterator[None]:
    """Writes to the Zarr store at ``path``: on a failure, the writes still in flight end first, and an ``OSError`` names ``path``.

    zarr writes chunks concurrently on an event loop of its own, and a failed
    call returns at the first error while the others still run: a clean-up
    would race them (a removed folder made again), and the interpreter would
    print their errors at exit. zarr's own errors name no file.
    """
    try:
        yield
    except BaseException as exc:
        settle_zarr()
        if isinstance(exc, OSError) and exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def settle_zarr(timeout: float = 60.0) -> None:
    """Wait for every task on zarr's event loop to end, collecting their errors (they are the one already raised)."""
    import asyncio

    from zarr.core.sync import sync

    async def others_done():
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        sync(others_done(), timeout=timeout)
    except Exception:  # noqa: BLE001 - only tidiness is at stake; the error being raised is what matters
        pass


def describe_os_error(exc: OSError) -> str:
    """``PATH: No space left on device (ENOSPC); free some space, or write somewhere else``."""
    where = f"{exc.filename}: " if exc.filename else ""
    code = f" ({errno.errorcode.get(exc.errno, exc.errno)})" if exc.errno else ""
    advice = OS_ERROR_ADVICE.get(exc.errno, "")
    return f"{where}{exc.strerror or exc}{code}" + (f"; {advice}" if advice else "")


__all__ = ["atomic_folder", "atomic_output", "write_text_atomically"]
