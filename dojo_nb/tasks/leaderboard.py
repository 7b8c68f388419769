"""Leaderboards: where a score would rank, MLE-Dojo's position score, MLE-bench's medals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dojo_nb.tasks.spec import Task


@dataclass(frozen=True)
class Leaderboard:
    """Scores of the entries on a task's private (`score`) and public (`publicScore`) boards."""

    private: np.ndarray
    public: np.ndarray
    lower_is_better: bool
    tolerance: float = 1e-9  # scores this close count as ties (leaderboard.csv stores rounded scores)

    def _board(self, which: str) -> np.ndarray:
        board = self.private if which == "private" else self.public
        return board[~np.isnan(board)]

    def _better(self, a: np.ndarray | float, b: float) -> np.ndarray | bool:
        """a beats b by more than the tolerance."""
        return a < b - self.tolerance if self.lower_is_better else a > b + self.tolerance

    def position(self, score: float, which: str = "private") -> int:
        """1-based rank the score would take: one plus the entries strictly better than it."""
        board = self._board(which)
        return 1 + int(np.sum(self._better(board, score)))

    def position_score(self, score: float | None, which: str = "private") -> float:
        """MLE-Dojo's (total - position + 1) / total, in [0, 1]; 0 for a missing score."""
        board = self._board(which)
        if score is None or not math.isfinite(score) or len(board) == 0:
            return 0.0
        total = len(board)
        return max(0.0, min(1.0, (total - self.position(score, which) + 1) / total))

    def thresholds(self) -> dict[str, float]:
        """Scores needed for gold, silver, bronze (Kaggle's progression rules as MLE-bench applies them: ranks rounded down)."""
        board = np.sort(self._board("private"))
        if not self.lower_is_better:
            board = board[::-1]
        n = len(board)
        if n == 0:
            return {}
        if n < 100:
            ranks = {"gold": max(1, int(n * 0.1)), "silver": max(1, int(n * 0.2)),
                     "bronze": max(1, int(n * 0.4))}
        elif n < 250:
            ranks = {"gold": 10, "silver": int(n * 0.2), "bronze": int(n * 0.4)}
        elif n < 1000:
            ranks = {"gold": 10 + int(n * 0.002), "silver": 50, "bronze": 100}
        else:
            ranks = {"gold": 10 + int(n * 0.002), "silver": int(n * 0.05),
                     "bronze": int(n * 0.1)}
        out = {name: float(board[min(rank, n) - 1]) for name, rank in ranks.items()}
        out["median"] = float(np.median(board))
        return out

    def medal(self, score: float | None) -> str | None:
        if score is None or not math.isfinite(score):
            return None
        t = self.thresholds()
        for name in ("gold", "silver", "bronze"):
            if name in t and not self._better(t[name], score):  # reaching the threshold (within tolerance) earns it
                return name
        return None

    def above_median(self, score: float | None) -> bool:
        if score is None or not math.isfinite(score) or "median" not in self.thresholds():
            return False
        return bool(self._better(score, self.thresholds()["median"]))


def read_leaderboard_csv(path, lower_is_better: bool, tolerance: float = 1e-9) -> Leaderboard:
    """MLE-bench's leaderboard.csv (a `score` column) plus, where present, our `publicScore`."""
    frame = pd.read_csv(path)
    if "score" not in frame.columns:
        raise ValueError(f"{path}: leaderboard has no 'score' column")
    private = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
    public_col = frame["publicScore"] if "publicScore" in frame.columns else frame["score"]
    public = pd.to_numeric(public_col, errors="coerce").to_numpy(dtype=float)
    return Leaderboard(private=private, public=public, lower_is_better=lower_is_better, tolerance=tolerance)


def leaderboard_path(task: Task) -> Path:
    """Where the task's board is: its folder's leaderboard.csv, or for a built-in task the one
    built from its references on this installation's draw (prepared on first use)."""
    from dojo_nb.tasks.leaderboard_build import builds_reference_board, ensure_reference_board

    if builds_reference_board(task):
        from dojo_nb.tasks.cache import prepare_task

        return ensure_reference_board(task, prepare_task(task))
    return task.folder / "leaderboard.csv"


def load_leaderboard(task: Task) -> Leaderboard:
    """The task's board (see `leaderboard_path`); an empty one when it has none."""
    path = leaderboard_path(task)
    if not path.is_file():
        return Leaderboard(np.array([]), np.array([]), task.lower_is_better, task.tolerance)
    return read_leaderboard_csv(path, task.lower_is_better, task.tolerance)
