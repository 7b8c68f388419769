"""Scores people can compare across tasks: the fraction of the gap closed (MLRC-Bench style).

``gap_closed = (score - reference) / (top - reference)``, in the metric's own direction:
0 is the task's trivial reference (its ``sample_submission.csv``, a constant prediction,
graded on the private answers like any submission), 1 is the top of the task's private
leaderboard; below 0 is worse than the trivial reference, above 1 beats the board. None
when a side is missing or the two coincide.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dojo_nb.tasks.leaderboard import load_leaderboard
from dojo_nb.tasks.spec import Task
from dojo_nb.tasks.grading import grade_submission


def board_size(task: Task) -> int:
    """Entries of the private board the position score counts (MLE-Dojo's own board when imported)."""
    mledojo = task.folder / "info" / "private_leaderboard.csv"
    if (task.extra.get("mlebench") or {}).get("format") == "mledojo" and mledojo.is_file():
        import pandas as pd

        return int(len(pd.read_csv(mledojo)))
    board = load_leaderboard(task)
    return int(np.sum(~np.isnan(board.private)))


def leaderboard_top(task: Task) -> float | None:
    """The best private score on the task's leaderboard."""
    board = load_leaderboard(task).private
    board = board[~np.isnan(board)]
    if len(board) == 0:
        return None
    return float(board.min() if task.lower_is_better else board.max())


def sample_path(task: Task) -> Path | None:
    from dojo_nb.tasks.cache import prepare_task

    found = sorted(prepare_task(task).public_dir.glob("sample_submission*.csv"))
    return found[0] if found else None


def reference_score(task: Task) -> float | None:
    """The trivial reference's private score: the sample submission graded (None if it cannot be)."""
    try:
        path = sample_path(task)
        if path is None:
            return None
        report = grade_submission(task, path)
    except Exception:  # noqa: BLE001 - no reference: no gap, never a lost episode
        return None
    score = getattr(report, "private_score", None)
    return float(score) if report.valid and score is not None and math.isfinite(score) else None


def gap_closed(score: float | None, reference: float | None, top: float | None,
               lower_is_better: bool) -> float | None:
    """The fraction of the reference-to-top gap a score closes (see the module docstring)."""
    if score is None or reference is None or top is None:
        return None
    span = (reference - top) if lower_is_better else (top - reference)
    if not math.isfinite(span) or abs(span) < 1e-12:
        return None
    gain = (reference - score) if lower_is_better else (score - reference)
    return float(gain / span)


def gap_facts(task: Task) -> dict[str, Any]:
    """Reference and top of a task, computed once per env (the reference costs one grading)."""
    return {"reference_score": reference_score(task), "leaderboard_top": leaderboard_top(task),
            "reference": "sample_submission"}


__all__ = ["board_size", "gap_closed", "gap_facts", "leaderboard_top", "reference_score"]
