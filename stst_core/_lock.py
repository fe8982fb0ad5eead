"""One writer per store: an OS file lock held for the whole run.

Two processes writing one store lose data (one's ``--overwrite`` removes what
the other is writing, and the other then marks a store complete whose frames
are gone). So every writer holds an exclusive lock on ``.NAME.lock`` beside
the store ``NAME`` for as long as it writes; a second writer is refused with
one line naming the holder (pid, host, command, since when), which the lock
file records.

The lock is the operating system's (``flock`` on POSIX, ``msvcrt.locking`` on
Windows): it ends with the process that holds it, however that process dies,
so a lock left by a killed run is free again and the next run takes it over
without anyone deleting a file. The file sits *beside* the store, not in it,
because ``--overwrite`` replaces the store's folder. It is left in place
afterwards: removing a lock file that another process may be opening at the
same moment would let two writers hold two different files.

A shared file system whose locks do not reach other machines (some NFS set-ups)
cannot be protected this way; run one writer per store there.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ._errors import STSTError
from ._files import describe_os_error

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False


class StoreLockedError(STSTError):
    """Another process is writing the store."""


def lock_path(store: str | Path) -> Path:
    """The lock file of a store: ``.NAME.lock`` in the store's folder."""
    store = Path(store)
    return store.parent / f".{store.name}.lock"


def lock_holder(store: str | Path) -> dict | None:
    """What the lock file says about its last holder (pid, host, command, since), or None."""
    try:
        return json.loads(lock_path(store).read_text() or "null")
    except (OSError, ValueError):
        return None


@contextmanager
def writing(store: str | Path, what: str = "write") -> Iterator[None]:
    """Hold the store's lock for the ``with`` block, or raise :class:`StoreLockedError` naming its holder.

    Re-entrant within one process would hide bugs, so it is not: a second
    ``writing`` of one store in one process is refused like any other.

    Examples
    --------
    >>> with writing("results/metamer.zarr"):  # doctest: +SKIP
    ...     ...  # create, commit, mark complete
    """
    store = Path(store)
    path = lock_path(store)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise STSTError(f"cannot {what} {store}: its lock file cannot be opened: {describe_os_error(exc)}") from None
    try:
        if not _try_lock(fd):
            raise StoreLockedError(f"{store} is being written by another process ({_describe(lock_holder(store))}); wait for it to finish, or stop it first")
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv[:3]), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(record).encode())
        except OSError as exc:  # a full disk: the store could take no write either; say so of the store
            raise OSError(exc.errno, exc.strerror, str(store)) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _describe(holder: dict | None) -> str:
    if not holder:
        return "its pid is not recorded"
    return f"pid {holder.get('pid')} on {holder.get('host')}, `{holder.get('command')}`, since {holder.get('since')}"


__all__ = ["StoreLockedError", "lock_holder", "lock_path", "writing"]
