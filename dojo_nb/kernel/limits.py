"""Process limits applied to a local kernel between fork and exec.

These are the fallback and the first line: under a root driver the kernel also joins its
own control groups (`dojo_nb.kernel.cgroups`), which count every kind of memory and every
process and bound the CPU set whatever the cell asks. Without cgroups:

- memory: ``RLIMIT_DATA`` = ``memory_mb``. Since Linux 4.7 it counts the heap and private
  writable mappings (NumPy/pandas arrays, thread stacks), but not the large ``PROT_NONE``
  reservations that glibc arenas and OpenBLAS make, which ``RLIMIT_AS`` would count and
  which break NumPy at realistic limits. Going over raises ``MemoryError`` in the cell.
- CPU: the kernel is pinned to ``ceil(cpus)`` CPUs with ``sched_setaffinity`` (rotating
  between kernels so parallel episodes spread out), and BLAS/OpenMP thread counts are set
  to match in its environment (see `thread_env`).
- pids: ``RLIMIT_NPROC``; note Linux ignores it for root, so it only binds non-root users.
- no core dumps (``RLIMIT_CORE`` = 0): a segfaulting cell must not litter the disk.
- no orphans: ``PR_SET_PDEATHSIG`` = SIGKILL, so the kernel dies with the thread that
  started it (also after SIGKILL of the driver). That is the *thread*: whoever starts a
  kernel must keep that thread alive for the kernel's lifetime.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import resource
import signal
from typing import Callable

_PR_SET_PDEATHSIG = 1
_rotation = itertools.count()


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def pick_cpus(cpus: float | None) -> set[int] | None:
    """The CPU set for the next kernel, or None to leave affinity alone."""
    if cpus is None or not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    want = max(1, math.ceil(cpus))
    if want >= len(allowed):
        return None
    start = next(_rotation) % len(allowed)
    return {allowed[(start + i) % len(allowed)] for i in range(want)}


def thread_env(cpus: float | None) -> dict[str, str]:
    """Thread counts for BLAS/OpenMP libraries so they do not oversubscribe the pinned CPUs."""
    if cpus is None:
        return {}
    n = str(max(1, math.ceil(cpus)))
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
    return {name: n for name in names}


def make_preexec(
    memory_mb: int | None, cpu_set: set[int] | None, pids: int | None, cgroup_procs: list[str] | None = None
) -> Callable[[], None]:
    """Build the function Popen runs in the child before exec (values computed up front).

    `cgroup_procs`: the ``cgroup.procs`` files of the kernel's control groups; the child
    joins them first, so every process the kernel ever starts is counted there.
    """
    parent_pid = os.getpid()
    libc = _LIBC
    joins = [os.fsencode(p) for p in cgroup_procs or []]

    def preexec() -> None:
        for procs in joins:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")  # "0" is the writing process itself
            finally:
                os.close(fd)
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent_pid:  # the parent already died between fork and prctl
                os._exit(1)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_mb is not None:
            limit = int(memory_mb) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        if pids is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (int(pids), int(pids)))
        if cpu_set:
            os.sched_setaffinity(0, cpu_set)

    return preexec


def limit_hint(error: dict | None, memory_mb: int | None, pids: int | None, disk_mb: int | None,
               tmp_mb: int | None) -> str | None:
    """A sentence naming the sandbox limit a failed cell most likely hit, or None.

    The kernel only sees a plain OSError/MemoryError; the agent deserves to know that it met
    a limit of the sandbox (and which), not a bug of its own.
    """
    if not error:
        return None
    ename = str(error.get("ename", ""))
    evalue = str(error.get("evalue", ""))
    if ename == "MemoryError" and memory_mb:
        return f"the cell ran out of memory: the sandbox allows {memory_mb} MB"
    if ename == "BlockingIOError" and "Resource temporarily unavailable" in evalue and pids:
        return f"no new process could start: the sandbox allows at most {pids} processes and threads"
    if "No space left on device" in evalue or "Errno 28" in evalue:
        where = []
        if disk_mb:
            where.append(f"WORKING_DIR and SUBMISSION_DIR hold at most {disk_mb} MB together")
        if tmp_mb:
            where.append(f"/tmp and /dev/shm hold {tmp_mb} MB each")
        if where:
            return "a disk budget of the sandbox is full: " + "; ".join(where)
    return None
