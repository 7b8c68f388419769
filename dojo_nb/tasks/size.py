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


def published_rows(task) -> tuple[int, int] | None:
    """A built-in task's train and test rows at the current size, from its generator's spec
    (no preparation needed); None when the task folder does not say."""
    if task.source == "imported" or not (task.folder / "prepare.py").is_file():
        return None
    from dojo_nb.tasks.cache import load_prepare_module

    module = load_prepare_module(task)
    spec = getattr(module, "SPEC", None)
    rows = getattr(spec, "rows", None) or getattr(module, "rows", None)
    return tuple(rows()) if callable(rows) else None


def scaled(n: int, floor: int = 1000) -> int:
    """n rows at full size; a tenth (at least `floor`, at most n) when tiny."""
    return n if task_size() == "full" else min(n, max(floor, n // 10))
