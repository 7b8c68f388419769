"""Medals as MLE-bench decides them: at, just past and just short of every threshold.

The expected thresholds are written out here from Kaggle's progression rules (the positions per
board size), independently of dojo_nb.tasks.mlebench_ranking. MLE-bench rounds the score to 5
decimals before comparing, so a score 3e-6 short of a threshold still earns it and 7e-6 short
does not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dojo_nb.tasks import load_task
from dojo_nb.tasks.mlebench_import import import_mlebench
from dojo_nb.tasks.mlebench_ranking import rank
from dojo_nb.tasks.grading import grade_submission

FIXTURES = Path(__file__).parent / "fixtures" / "mlebench"

# board size -> 1-based positions of the gold, silver and bronze thresholds
POSITIONS = {
    20: (2, 4, 8), 99: (9, 19, 39), 100: (10, 20, 40), 150: (10, 30, 60), 249: (10, 49, 99),
    250: (10, 50, 100), 600: (11, 50, 100), 999: (11, 50, 100), 1000: (12, 50, 100), 2500: (15, 125, 250),
}


def _board(n: int, lower: bool) -> pd.Series:
    """Distinct 5-decimal scores, best first, 1e-3 apart."""
    values = np.round(0.5 + np.arange(n) * 1e-3 * (1 if lower else -1) + (0 if lower else 2.0), 5)
    return pd.Series(values)


@pytest.mark.parametrize("lower", [False, True], ids=["higher-better", "lower-better"])
@pytest.mark.parametrize("n", sorted(POSITIONS))
def test_every_threshold(n: int, lower: bool) -> None:
    board = _board(n, lower)
    sign = -1 if lower else 1  # +sign is better
    names = ("gold", "silver", "bronze")
    for name, pos, worse in zip(names, POSITIONS[n], (*names[1:], None)):
        t = float(board.iloc[pos - 1])
        assert rank(t, board).thresholds[name] == t
        assert rank(t, board).medal == name, (n, name, "at")
        assert rank(t + sign * 3e-6, board).medal == name, (n, name, "a hair better")
        assert rank(t - sign * 3e-6, board).medal == name, (n, name, "short by less than the rounding")
        # 7e-6 short rounds past the threshold: the next medal down (thresholds are 1e-3 apart), or none
        assert rank(t - sign * 7e-6, board).medal == worse, (n, name, "short by more than the rounding")
    assert rank(float(board.iloc[0]) + sign * 1.0, board).medal == "gold"
    assert rank(float(board.iloc[-1]) - sign * 1.0, board).medal is None


def test_bronze_miss_by_rounding_gets_nothing() -> None:
    board = _board(100, lower=False)
    bronze = float(board.iloc[39])
    assert rank(bronze - 7e-6, board).medal is None
    assert rank(bronze - 3e-6, board).medal == "bronze"


def test_median_is_strict() -> None:
    board = pd.Series([0.9, 0.8, 0.7, 0.6])  # median 0.75
    assert not rank(0.75, board).above_median
    assert rank(0.750006, board).above_median
    assert not rank(0.750004, board).above_median  # rounds to 0.75
    lower = pd.Series([0.1, 0.2, 0.3, 0.4])
    assert rank(0.24, lower).above_median and not rank(0.25, lower).above_median


def test_perfect_scores_fill_every_medal() -> None:
    """aerial-cactus's board: gold = silver = bronze = 1.0; 0.999996 rounds to 1.0 and is gold."""
    board = pd.Series([1.0] * 30 + list(np.linspace(0.9999, 0.8, 30)))
    r = rank(0.999996, board)
    assert r.thresholds["gold"] == r.thresholds["silver"] == r.thresholds["bronze"] == 1.0
    assert r.medal == "gold" and r.score == 1.0
    assert rank(0.999994, board).medal is None  # rounds to 0.99999
    assert rank(round(0.999995, 5), board).medal == rank(0.999995, board).medal  # Python's round, as MLE-bench's


def test_none_and_nan_get_nothing() -> None:
    board = pd.Series([0.9, 0.8])
    assert rank(None, board).medal is None and rank(float("nan"), board).medal is None


def test_rounding_decides_through_grading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A denoising submission whose RMSE is 3e-6 worse than gold's still gets gold (MLE-bench's rounding)."""
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path / "cache"))
    competition = tmp_path / "denoising-dirty-documents"
    shutil.copytree(FIXTURES / competition.name, competition)
    board = pd.read_csv(competition / "leaderboard.csv")
    gold = float(board["score"].iloc[3])  # 40 teams: gold is position 4
    silver = float(board["score"].iloc[7])
    task = load_task(import_mlebench(competition, competition / "prepared").name)
    answers = pd.read_csv(competition / "prepared" / "private" / "answers.csv")
    for delta, medal in ((gold + 3e-6, "gold"), (gold + 7e-6, "silver"), (silver + 3e-6, "silver")):
        path = tmp_path / "s.csv"
        answers.assign(value=answers["value"] + delta).to_csv(path, index=False)
        report = grade_submission(task, path)
        assert report.private_score == pytest.approx(delta, abs=1e-12)
        assert report.medal == medal, (delta, report.extra)
        assert report.extra["mlebench"]["rounded_score"] == round(delta, 5)
