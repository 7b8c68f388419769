"""The medal thresholds of a task, for the pages that explain a score (report, run index).

An episode records its medal but not the scores that would have earned one, so they are read
from the task's leaderboard on this installation (`dojo_nb.tasks.leaderboard`), once per task.
An episode of a task this installation does not have simply shows none.
"""

from __future__ import annotations

import math
from functools import lru_cache

MEDALS = ("gold", "silver", "bronze")


@lru_cache(maxsize=256)
def medal_thresholds(task_id: str) -> tuple[tuple[str, float], ...]:
    """(name, score) for gold, silver, bronze and median; empty when the task or its board is unknown."""
    try:
        from dojo_nb.tasks import load_task
        from dojo_nb.tasks.leaderboard import load_leaderboard

        found = load_leaderboard(load_task(task_id)).thresholds()
    except Exception:  # noqa: BLE001 - unknown task, no board, unreadable board: nothing to show
        return ()
    return tuple((k, float(found[k])) for k in (*MEDALS, "median")
                 if k in found and math.isfinite(float(found[k])))


def thresholds_text(task_id: str, lower_is_better: bool) -> str:
    """e.g. ``gold ≥ 0.97 · silver ≥ 0.95 · bronze ≥ 0.93 · median 0.9`` (≤ when lower is better)."""
    found = medal_thresholds(task_id)
    if not found:
        return "unknown (the task's leaderboard is not on this installation)"
    op = "≤" if lower_is_better else "≥"
    return " · ".join(f"{k} {op} {v:.6g}" if k != "median" else f"median {v:.6g}" for k, v in found)


__all__ = ["MEDALS", "medal_thresholds", "thresholds_text"]
