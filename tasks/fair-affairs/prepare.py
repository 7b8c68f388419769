"""Prepare fair-affairs: playground rows generated from statsmodels' fair survey (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from statsmodels.datasets import fair

from dojo_nb.tasks.playground import TabularSpec

OCCUPATION = {1: "student", 2: "farming_semiskilled_unskilled", 3: "white_collar",
              4: "teacher_nurse_writer", 5: "managerial_business", 6: "professional"}


def load_source() -> pd.DataFrame:
    frame = fair.load_pandas().data.copy()
    frame["had_affair"] = (frame.pop("affairs") > 0).astype(int)
    for col in ["rate_marriage", "religious", "educ"]:
        frame[col] = frame[col].astype(int)
    for col in ["occupation", "occupation_husb"]:
        frame[col] = frame[col].astype(int).map(OCCUPATION)
    return frame


SPEC = TabularSpec("fair-affairs", load_source, target="had_affair", kind="classification",
                   n_train=50_000, n_test=20_000, submission_kind="probability", id_prefix="w",
                   flip=0.03, missing={"religious": 0.04, "occupation_husb": 0.07, "children": 0.02})
prepare = SPEC.prepare
