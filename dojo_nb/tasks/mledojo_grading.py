"""Scoring and placing a submission as MLE-Dojo's own interface does.

MLE-Dojo reads both files with plain `pandas.read_csv`, calls the metric's
`validate_submission(submission, answers)` and then `evaluate(answers, submission)` on the same
two frames (so whatever validation changes in them, evaluation sees), and places the raw score on
each of the public and private leaderboards: position p of N (first entry it reaches or beats)
gives (N - p + 1) / N.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from dojo_nb.tasks.mledojo_loader import load_metric_class
from dojo_nb.tasks.spec import Task


def metric_file(task: Task) -> Path:
    return task.folder / "utils" / "metric.py"


def grade_function(task: Task) -> Callable[[pd.DataFrame, pd.DataFrame], float]:
    """A grade(submission, answers) that validates then evaluates with the competition's metric."""
    metrics = load_metric_class(metric_file(task))()

    def grade(submission: pd.DataFrame, answers: pd.DataFrame) -> float:
        metrics.validate_submission(submission, answers)
        return metrics.evaluate(answers, submission)

    return grade


def read_frame(path) -> pd.DataFrame:
    """As MLE-Dojo reads a submission or its answers."""
    return pd.read_csv(path)


def position_score(score: float, board: Path, higher_is_better: bool) -> float | None:
    """MLE-Dojo's position score of `score` on one leaderboard file (scores in its second column)."""
    if not board.is_file():
        return None
    scores = pd.read_csv(board).iloc[:, 1].to_numpy()
    if len(scores) == 0:
        return None
    ordered = sorted(scores, reverse=higher_is_better)
    position = next((i + 1 for i, s in enumerate(ordered) if (score >= s if higher_is_better else score <= s)),
                    len(ordered) + 1)
    return (len(ordered) - position + 1) / len(ordered)
