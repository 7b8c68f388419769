"""Prepare breast-cancer: playground rows generated from scikit-learn's breast cancer data (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_breast_cancer

from dojo_nb.tasks.playground import TabularSpec


def load_source() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["target"] = data.target.astype(int)
    return frame


SPEC = TabularSpec("breast-cancer", load_source, target="target", kind="classification",
                   n_train=50_000, n_test=20_000, submission_kind="probability", id_prefix=None,
                   flip=0.05, missing={"mean_smoothness": 0.04, "worst_symmetry": 0.04, "texture_error": 0.08})
prepare = SPEC.prepare
