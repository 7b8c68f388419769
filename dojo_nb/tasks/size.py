"""Task size: `full` (the catalogue as published) or `tiny` (a tenth of the rows, for test suites).

DOJO_NB_TASK_SIZE=tiny keeps every task's columns, generator and secret seed but draws fewer
rows, so suites that run whole episodes on every task stay fast. Leaderboards are made at full size.
"""

from __future__ import annotations

import os

SIZES = ("full", "tiny")


def task_size() -> str:
    size = os.environ.get("DOJO_NB_TASK_SIZE", "full").strip().lower() or "full"
    if size not in SIZES:
        raise ValueError(f"DOJO_NB_TASK_SIZE={size!r}: must be one of {SIZES}")
    return size


def scaled(n: int, floor: int = 1000) -> int:
    """n rows at full size; a tenth (at least `floor`, at most n) when tiny."""
    return n if task_size() == "full" else min(n, max(floor, n // 10))
