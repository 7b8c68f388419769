"""Medals and the median as MLE-bench decides them, so a dojo-nb grade matches MLE-bench's report.

MLE-bench rounds the grader's score to 5 decimals, reads thresholds off the leaderboard in file
order (best first) by Kaggle's progression rules, and compares with >= / <= (> / < for the
median). Our generic Leaderboard sorts and uses a tolerance instead, which differs near ties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DECIMALS = 5


@dataclass(frozen=True)
class Ranking:
    score: float | None  # the rounded score the decision is made on
    medal: str | None
    above_median: bool
    lower_is_better: bool
    thresholds: dict[str, float]


def round_score(score: float | None) -> float | None:
    return None if score is None else round(float(score), DECIMALS)


def lower_is_better(scores: pd.Series) -> bool:
    """A leaderboard is best first: the first score below the last means lower is better."""
    return bool(len(scores) > 0 and scores.iloc[0] < scores.iloc[-1])


def medal_positions(n_teams: int) -> dict[str, int]:
    """1-based leaderboard positions whose scores are the gold, silver and bronze thresholds."""
    if n_teams < 1:
        raise ValueError("the leaderboard has no entries")
    if n_teams < 100:
        return {"gold": max(1, int(n_teams * 0.1)), "silver": max(1, int(n_teams * 0.2)),
                "bronze": max(1, int(n_teams * 0.4))}
    if n_teams < 250:
        return {"gold": 10, "silver": max(1, int(n_teams * 0.2)), "bronze": max(1, int(n_teams * 0.4))}
    if n_teams < 1000:
        return {"gold": 10 + int(n_teams * 0.002), "silver": 50, "bronze": 100}
    return {"gold": 10 + int(n_teams * 0.002), "silver": max(1, int(n_teams * 0.05)),
            "bronze": max(1, int(n_teams * 0.1))}


def thresholds(scores: pd.Series) -> dict[str, float]:
    out = {name: float(scores.iloc[pos - 1]) for name, pos in medal_positions(len(scores)).items()}
    out["median"] = float(scores.median())
    return out


def rank(score: float | None, scores: pd.Series) -> Ranking:
    """The medal (or None) and above-median flag MLE-bench gives `score` on this leaderboard."""
    lower = lower_is_better(scores)
    limits = thresholds(scores)
    rounded = round_score(score)
    if rounded is None or (isinstance(rounded, float) and math.isnan(rounded)):
        return Ranking(rounded, None, False, lower, limits)

    def reaches(limit: float) -> bool:
        return rounded <= limit if lower else rounded >= limit

    medal = next((name for name in ("gold", "silver", "bronze") if reaches(limits[name])), None)
    above = rounded < limits["median"] if lower else rounded > limits["median"]
    return Ranking(rounded, medal, bool(above), lower, limits)


def leaderboard_scores(path: Path) -> pd.Series:
    """The `score` column of an MLE-bench leaderboard.csv, in file order."""
    frame = pd.read_csv(path)
    if "score" not in frame.columns:
        raise ValueError(f"{path}: the leaderboard has no 'score' column")
    return frame["score"]
