"""Prepare synthetic-binary-logloss: scikit-learn's make_classification generator (fixed seed, no download). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import make_classification

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    X, y = make_classification(n_samples=3000, n_features=20, n_informative=6, n_redundant=4,
                               flip_y=0.05, class_sep=0.8, random_state=11)
    frame = pd.DataFrame(X.round(5), columns=[f"f{i:02d}" for i in range(20)])
    frame["target"] = y
    train, test = split_rows(frame, test_size=0.3, stratify="target")
    write_competition(public, private, train, test, target="target", kind="probability")
