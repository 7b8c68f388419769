"""Prepare iris-species: playground rows generated from scikit-learn's iris data (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_iris

from dojo_nb.tasks.playground import TabularSpec


def load_source() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.data.copy()
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame["species"] = pd.Categorical.from_codes(data.target, data.target_names).astype(str)
    return frame


SPEC = TabularSpec("iris-species", load_source, target="species", kind="classification",
                   n_train=20_000, n_test=8_000, submission_kind="label", id_prefix="flower-",
                   flip=0.03, decimals=2, missing={"sepal_width": 0.03, "petal_width": 0.02})
prepare = SPEC.prepare
