"""One control group per local kernel: memory (every kind), process count and CPU set.

Why cgroups and not rlimits: ``RLIMIT_DATA`` misses shared mappings, ``memfd`` and tmpfs
pages; ``RLIMIT_NPROC`` is ignored for root and shared by every process of a uid;
``sched_setaffinity`` can be undone by the cell. A memory cgroup charges every page the
kernel's processes fault in (anonymous, shared, tmpfs, memfd, page cache), the pids
controller counts every task, and a cpuset bounds what ``sched_setaffinity`` may ask for.

Both layouts are handled: cgroup v2 (one unified tree) and v1 (one tree per controller).
Creating groups needs write access to the tree (root, or a delegated subtree); when that
is missing `unavailable_reason` says why and the local backend falls back to rlimits,
saying at start which limits are weaker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(os.environ.get("DOJO_NB_CGROUP_ROOT", "/sys/fs/cgroup"))
GROUP = "dojo-nb"
_V1_CONTROLLERS = ("memory", "pids", "cpuset")


def layout() -> str | None:
    """``"v2"``, ``"v1"`` or None (no usable cgroup file system)."""
    if (ROOT / "cgroup.controllers").is_file():
        return "v2"
    if all((ROOT / c / "cgroup.procs").is_file() for c in _V1_CONTROLLERS):
        return "v1"
    return None


def _parent_dirs() -> dict[str, Path]:
    """Where this driver's kernel groups go, per controller (v2: one tree)."""
    if layout() == "v2":
        return {"unified": ROOT / GROUP}
    return {c: ROOT / c / GROUP for c in _V1_CONTROLLERS}


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _ensure_parents() -> None:
    """Create the dojo-nb groups; v1 cpusets need cpus/mems copied down, v2 needs controllers enabled."""
    kind = layout()
    for controller, parent in _parent_dirs().items():
        parent.mkdir(exist_ok=True)
        if kind == "v1" and controller == "cpuset":
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read(parent / name).strip():
                    _write(parent / name, _read(parent.parent / name).strip() or "0")
    if kind == "v2":
        wanted = {"memory", "pids", "cpuset", "cpu"}
        for folder in (ROOT, ROOT / GROUP):
            have = set(_read(folder / "cgroup.controllers").split())
            enabled = set(_read(folder / "cgroup.subtree_control").split())
            for name in sorted((wanted & have) - enabled):
                with contextlib.suppress(OSError):
                    _write(folder / "cgroup.subtree_control", f"+{name}")


_reason: str | None | bool = False


def unavailable_reason() -> str | None:
    """None when this process can create kernel cgroups, else one line saying why not."""
    global _reason
    if _reason is not False:
        return _reason  # type: ignore[return-value]
    if os.environ.get("DOJO_NB_NO_CGROUPS", "").strip() not in ("", "0", "false", "no"):
        _reason = "$DOJO_NB_NO_CGROUPS is set"
        return _reason
    kind = layout()
    if kind is None:
        _reason = f"no cgroup file system with memory, pids and cpuset at {ROOT}"
        return _reason
    try:
        _ensure_parents()
        probe = next(iter(_parent_dirs().values())) / f"probe-{os.getpid()}"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError as exc:
        _reason = f"cannot create cgroups under {ROOT} ({exc.strerror or exc}); run the driver as root or delegate a subtree"
        return _reason
    if kind == "v2":
        have = set(_read(ROOT / GROUP / "cgroup.subtree_control").split())
        missing = {"memory", "pids"} - have
        if missing:
            _reason = f"the cgroup v2 controllers {sorted(missing)} cannot be enabled under {ROOT / GROUP}"
            return _reason
    _reason = None
    return None


@dataclass
class KernelCgroup:
    """The control group of one kernel process tree (created by `create`, removed by `remove`)."""

    name: str
    memory_mb: int | None
    pids: int | None
    cpus: set[int] | None
    dirs: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def create(cls, name: str, memory_mb: int | None, pids: int | None, cpus: set[int] | None) -> KernelCgroup:
        _ensure_parents()
        group = cls(name=name, memory_mb=memory_mb, pids=pids, cpus=cpus)
        for controller, parent in _parent_dirs().items():
            folder = parent / name
            folder.mkdir(exist_ok=True)
            group.dirs[controller] = folder
        group._apply()
        return group

    def _dir(self, controller: str) -> Path:
        return self.dirs.get("unified") or self.dirs[controller]

    def _apply(self) -> None:
        v2 = "unified" in self.dirs
        if self.memory_mb is not None:
            limit = str(int(self.memory_mb) * 1024 * 1024)
            if v2:
                _write(self._dir("memory") / "memory.max", limit)
                with contextlib.suppress(OSError):
                    _write(self._dir("memory") / "memory.swap.max", "0")
            else:
                _write(self._dir("memory") / "memory.limit_in_bytes", limit)
                with contextlib.suppress(OSError):  # no swap accounting on this kernel: nothing to cap
                    _write(self._dir("memory") / "memory.memsw.limit_in_bytes", limit)
        if self.pids is not None:
            _write(self._dir("pids") / "pids.max", str(int(self.pids)))
        cpuset = self._dir("cpuset")
        if self.cpus:
            with contextlib.suppress(OSError):
                _write(cpuset / "cpuset.cpus", ",".join(str(c) for c in sorted(self.cpus)))
        if not v2:  # a v1 cpuset admits no task until both are set
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read(cpuset / name).strip():
                    _write(cpuset / name, _read(cpuset.parent / name).strip())

    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a starting child writes its pid to (before exec)."""
        return sorted({str(folder / "cgroup.procs") for folder in self.dirs.values()})

    def oom_kills(self) -> int:
        """How many processes of this group the kernel's OOM killer has ended."""
        folder = self._dir("memory")
        text = _read(folder / ("memory.events" if "unified" in self.dirs else "memory.oom_control"))
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def memory_peak_mb(self) -> float:
        folder = self._dir("memory")
        raw = _read(folder / ("memory.peak" if "unified" in self.dirs else "memory.max_usage_in_bytes")).strip()
        return int(raw) / 2**20 if raw.isdigit() else 0.0

    def pids_in(self) -> list[int]:
        return [int(p) for p in _read(self._dir("pids") / "cgroup.procs").split() if p.isdigit()]

    def kill_all(self) -> None:
        """SIGKILL everything still in the group (a cell's daemonised children included)."""
        folder = self._dir("pids")
        if (folder / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(folder / "cgroup.kill", "1")
        for _ in range(3):
            pids = self.pids_in()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    def remove(self) -> None:
        """Kill what is left and remove the group's folders; safe to call twice."""
        if not self.dirs:
            return
        self.kill_all()
        for folder in self.dirs.values():
            for _ in range(40):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # tasks still exiting
                    time.sleep(0.05)
        self.dirs = {}


def remove_stale() -> list[str]:
    """Remove kernel groups whose driver (the pid in the group's name) is gone."""
    import psutil

    removed: list[str] = []
    if layout() is None:
        return removed
    names: set[str] = set()
    for parent in _parent_dirs().values():
        if parent.is_dir():
            names.update(p.name for p in parent.iterdir() if p.is_dir())
    for name in sorted(names):
        pid_text = name.split("-", 1)[0]
        if pid_text.isdigit() and psutil.pid_exists(int(pid_text)):
            continue
        group = KernelCgroup(name=name, memory_mb=None, pids=None, cpus=None,
                             dirs={c: p / name for c, p in _parent_dirs().items() if (p / name).is_dir()})
        group.remove()
        removed.append(name)
    return removed
