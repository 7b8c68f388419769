"""The kernel's ipc socket files: sealed once the kernel is up, cleared before a restart.

The kernel binds its ZeroMQ sockets as files in the shared socket folder, which is sticky
and root-owned; the files it makes are its own, so it could unlink one and plant a symlink
in its place, and a later reconnect of the driver would then follow that link anywhere on
the host. Once the kernel answers, a root driver makes every socket file its own (`seal`):
in a sticky folder the kernel can then remove none of them. Before the next kernel starts
in the same folder the driver removes them (`clear`), so the new one can bind again.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

#: Files of the driver in the socket folder; everything else there is the kernel's.
DRIVER_FILES = ("c.json", "heartbeat", "dojo_ipykernel_launcher.py")
#: The kernel launcher the driver copies beside the sockets (`dojo_nb.kernel.launcher`).
LAUNCHER = "dojo_ipykernel_launcher.py"  # the name says what it is to process listings


def seal(socket_dir: Path | None) -> list[str]:
    """Give the kernel's socket files to root; remove anything else it made. Returns what was removed."""
    if socket_dir is None or os.geteuid() != 0:
        return []
    removed = []
    for entry in os.scandir(socket_dir):
        if entry.name in DRIVER_FILES:
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISSOCK(st.st_mode):
            os.lchown(entry.path, 0, 0)
        else:  # a link or file planted beside the sockets: never left for the driver to meet
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def clear(socket_dir: Path | None) -> None:
    """Remove the kernel's socket files (the next kernel binds the same names)."""
    if socket_dir is None or not socket_dir.is_dir():
        return
    for entry in os.scandir(socket_dir):
        if entry.name not in DRIVER_FILES and not entry.is_dir(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
