"""Prepare star98-math: playground rows generated from statsmodels' star98 school data (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from statsmodels.datasets import star98

from dojo_nb.tasks.playground import TabularSpec

FEATURES = ["LOWINC", "PERASIAN", "PERBLACK", "PERHISP", "PERMINTE", "AVYRSEXP", "AVSALK",
            "PERSPENK", "PTRATIO", "PCTAF", "PCTCHRT", "PCTYRRND"]


def load_source() -> pd.DataFrame:
    """California school districts, 1998: the share of pupils above the national math median."""
    data = star98.load_pandas().data
    frame = data[FEATURES].rename(columns=str.lower).copy()
    frame["pct_above_median"] = 100 * data["NABOVE"] / (data["NABOVE"] + data["NBELOW"])
    return frame


SPEC = TabularSpec("star98-math", load_source, target="pct_above_median", kind="regression",
                   n_train=50_000, n_test=20_000, submission_kind="value", id_prefix="sch",
                   clusters=5, target_decimals=2, target_min=0.0, target_max=100.0,
                   missing={"avsalk": 0.04, "pctaf": 0.06, "pctchrt": 0.03})
prepare = SPEC.prepare
