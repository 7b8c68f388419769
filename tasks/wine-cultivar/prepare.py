"""Prepare wine-cultivar: playground rows generated from scikit-learn's wine data (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_wine

from dojo_nb.tasks.playground import TabularSpec


def load_source() -> pd.DataFrame:
    data = load_wine(as_frame=True)
    frame = data.data.copy()
    frame.columns = [c.replace("/", "_").replace(" ", "_") for c in frame.columns]
    frame["cultivar"] = pd.Categorical.from_codes(data.target, data.target_names).astype(str)
    return frame


SPEC = TabularSpec("wine-cultivar", load_source, target="cultivar", kind="classification",
                   n_train=50_000, n_test=20_000, submission_kind="label", id_prefix="btl",
                   flip=0.04, decimals=3, missing={"magnesium": 0.05, "ash": 0.03, "hue": 0.04})
prepare = SPEC.prepare
