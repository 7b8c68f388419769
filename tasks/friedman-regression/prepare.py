"""Prepare friedman-regression: scikit-learn's make_friedman1 generator (Friedman, 1991; fixed seed, no download). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import make_friedman1

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    X, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=5)
    frame = pd.DataFrame(X.round(6), columns=[f"x{i}" for i in range(10)])
    frame["y"] = y.round(6)
    train, test = split_rows(frame, test_size=0.3)
    write_competition(public, private, train, test, target="y", kind="value")
