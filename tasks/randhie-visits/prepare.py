"""Prepare randhie-visits: playground rows generated from statsmodels' RAND health insurance data (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from statsmodels.datasets import randhie

from dojo_nb.tasks.playground import TabularSpec


def load_source() -> pd.DataFrame:
    """randhie with the self-rated health dummies folded into one word column."""
    frame = randhie.load_pandas().data.copy()
    health = pd.Series("excellent", index=frame.index)
    health[frame["hlthg"] == 1] = "good"
    health[frame["hlthf"] == 1] = "fair"
    health[frame["hlthp"] == 1] = "poor"
    frame = frame.drop(columns=["hlthg", "hlthf", "hlthp"])
    frame["health"] = health
    frame["idp"] = frame["idp"].astype(int)
    return frame[[c for c in frame.columns if c != "mdvis"] + ["mdvis"]]


SPEC = TabularSpec("randhie-visits", load_source, target="mdvis", kind="regression",
                   n_train=80_000, n_test=30_000, submission_kind="value", id_prefix="hh",
                   clusters=8, log_target=True, target_decimals=0, target_min=0.0,
                   missing={"fmde": 0.04, "physlm": 0.03, "disea": 0.05})
prepare = SPEC.prepare
