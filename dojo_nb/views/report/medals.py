"""The medal thresholds of a task, for the pages that explain a score (report, run index).

The final grade keeps them (``final.medal_thresholds``, written by `dojo_nb.env.ending`); an
episode from before that is shown the task's leaderboard on this installation
(`dojo_nb.tasks.leaderboard`, read once per task), and the page says so. An episode of a task
this installation does not have shows none.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Mapping

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


def recorded_thresholds(final: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    """The thresholds an episode's final grade kept (episodes since they were recorded)."""
    found = final.get("medal_thresholds")
    if not isinstance(found, Mapping):
        return ()
    out = []
    for k in (*MEDALS, "median"):
        v = found.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append((k, float(v)))
    return tuple(out)


def thresholds_text(task_id: str, lower_is_better: bool, final: Mapping[str, Any] | None = None) -> str:
    """e.g. ``gold ≥ 0.97 · silver ≥ 0.95 · bronze ≥ 0.93 · median 0.9`` (≤ when lower is better).

    The episode's own record first; else this installation's board, and the text says so."""
    found, where = recorded_thresholds(final or {}), ""
    if not found:
        found, where = medal_thresholds(task_id), " (this installation's board; the episode recorded none)"
    if not found:
        return "unknown (the episode recorded none and the task's leaderboard is not on this installation)"
    op = "≤" if lower_is_better else "≥"
    return " · ".join(f"{k} {op} {v:.6g}" if k != "median" else f"median {v:.6g}" for k, v in found) + where


__all__ = ["MEDALS", "medal_thresholds", "recorded_thresholds", "thresholds_text"]
