"""Prepare iris-species: scikit-learn's bundled iris data (Fisher, 1936). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_iris

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    data = load_iris(as_frame=True)
    frame = data.data.copy()
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame["species"] = pd.Categorical.from_codes(data.target, data.target_names).astype(str)
    train, test = split_rows(frame, test_size=0.4, stratify="species")
    write_competition(public, private, train, test, target="species", kind="label")
