"""This test driver's own kernel and sandbox processes, for checks that none outlive a close.

Only ipykernel and bwrap descendants count: the grading helper is a child too, but it lives as
long as the driver by design.
"""

from __future__ import annotations

import psutil


def driver_kernels() -> set[int]:
    found = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and any(k in " ".join(p.cmdline()) for k in ("ipykernel", "bwrap")):
                found.add(p.pid)
        except psutil.Error:
            continue
    return found
