"""Prepare diabetes-progression: playground rows generated from scikit-learn's diabetes data (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_diabetes

from dojo_nb.tasks.playground import TabularSpec


def load_source() -> pd.DataFrame:
    """The unscaled data: age in years, sex as F/M, blood serum measurements s1..s6."""
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.data.copy()
    frame["sex"] = frame["sex"].map({1.0: "F", 2.0: "M"})
    frame["progression"] = data.target.astype(float)
    return frame


SPEC = TabularSpec("diabetes-progression", load_source, target="progression", kind="regression",
                   n_train=50_000, n_test=20_000, submission_kind="value", id_prefix="pt",
                   target_decimals=1, target_min=25.0,
                   missing={"bp": 0.03, "s1": 0.05, "s4": 0.05, "sex": 0.01})
prepare = SPEC.prepare
