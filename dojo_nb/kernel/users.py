"""The unprivileged uid a local kernel runs as when the driver is root.

A root driver must never hand a cell uid 0: even with every capability dropped, uid 0
still owns (and so may write) root's files, ``/proc/sys`` among them. Each kernel gets its
own uid/gid from ``BASE_UID`` upwards (``DOJO_NB_SANDBOX_UID_BASE`` moves the range): slot
*n* is held by an ``flock`` on ``<runtime>/uids/<n>.lock`` for the kernel's life, so
concurrent episodes, even from different drivers, never share a uid, and a killed driver's
slots free themselves (the kernel drops the lock with its file descriptors).

A driver that is not root cannot change uid: its kernels run as its own (unprivileged) user.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass

from dojo_nb import paths

BASE_UID = int(os.environ.get("DOJO_NB_SANDBOX_UID_BASE", "300000"))
SLOTS = 10_000


@dataclass
class SandboxUser:
    """A held uid/gid; `release` (or process exit) frees the slot."""

    uid: int
    gid: int
    _fd: int | None = None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def allocate() -> SandboxUser | None:
    """A fresh unprivileged uid for one kernel, or None when the driver is not root."""
    if os.geteuid() != 0:
        return None
    folder = paths.runtime_dir() / "uids"
    folder.mkdir(exist_ok=True, mode=0o700)
    for slot in range(SLOTS):
        fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        uid = BASE_UID + slot
        return SandboxUser(uid=uid, gid=uid, _fd=fd)
    raise RuntimeError(f"all {SLOTS} sandbox uids from {BASE_UID} are in use")
