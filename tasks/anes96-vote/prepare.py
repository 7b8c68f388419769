"""Prepare anes96-vote: playground rows generated from statsmodels' anes96 survey (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from statsmodels.datasets import anes96

from dojo_nb.tasks.playground import TabularSpec

PARTY = ["strong_democrat", "weak_democrat", "independent_democrat", "independent",
         "independent_republican", "weak_republican", "strong_republican"]
EDUCATION = ["grade_1_8", "some_high_school", "high_school", "some_college", "college_degree",
             "masters", "phd"]


def load_source() -> pd.DataFrame:
    """anes96 in the task's schema: party id and education as words, the vote as 0/1."""
    frame = anes96.load_pandas().data.drop(columns=["logpopul"]).copy()
    frame["PID"] = [PARTY[int(v)] for v in frame["PID"]]
    frame["educ"] = [EDUCATION[int(v) - 1] for v in frame["educ"]]
    frame["vote"] = frame["vote"].astype(int)
    return frame


SPEC = TabularSpec("anes96-vote", load_source, target="vote", kind="classification",
                   n_train=50_000, n_test=20_000, submission_kind="label", id_prefix="r",
                   flip=0.04, missing={"popul": 0.06, "TVnews": 0.03, "income": 0.05, "age": 0.02})
prepare = SPEC.prepare
