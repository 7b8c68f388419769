"""Clean up after drivers that died without closing their kernels (``dojo-nb kernel gc``).

A SIGKILLed driver cannot run its clean-up: its kernels die with it (bwrap's
``--die-with-parent``, the container watchdog), but what it made on the host stays:
containers, socket folders (with their HMAC keys), control groups and mounted disks. Each
carries the driver's pid in its name or labels, so what belongs to a dead driver is known.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import psutil

from dojo_nb import paths
from dojo_nb.kernel import cgroups, disk


@dataclass
class Collected:
    """What one gc run removed, by kind."""

    containers: list[str] = field(default_factory=list)
    socket_dirs: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    disks: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"removed {len(self.containers)} container(s), {len(self.socket_dirs)} socket folder(s), "
                f"{len(self.cgroups)} cgroup(s), {len(self.disks)} disk(s)")


def _driver_pid(name: str) -> int | None:
    """The pid in ``k<pid>-xxxx`` / ``t<pid>-xxxx`` / ``d<pid>-xxxx`` (None for folders of older versions)."""
    head = name[1:].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def remove_stale_socket_dirs() -> list[str]:
    """Local (``k``), template (``t``) and docker (``d``) socket folders whose driver process is gone."""
    removed = []
    for folder in sorted(paths.runtime_dir().glob("[kdt]*")):
        pid = _driver_pid(folder.name)
        if pid is None or not folder.is_dir() or psutil.pid_exists(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def collect(all_hosts: bool = False, docker: bool = True) -> Collected:
    """Remove everything left by dead drivers on this machine (containers only with `docker`)."""
    done = Collected()
    if docker:
        from dojo_nb.kernel.docker import docker_unavailable_reason, gc as docker_gc

        reason = docker_unavailable_reason()
        if reason is None or "image" in reason:
            done.containers = docker_gc(all_hosts=all_hosts)
    done.disks = disk.remove_stale()
    if cgroups.unavailable_reason() is None:
        done.cgroups = cgroups.remove_stale()
    done.socket_dirs = remove_stale_socket_dirs()
    return done
