"""Prepare wine-cultivar: scikit-learn's bundled wine recognition data (UCI). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_wine

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    data = load_wine(as_frame=True)
    frame = data.data.copy()
    frame.columns = [c.replace("/", "_").replace(" ", "_") for c in frame.columns]
    frame["cultivar"] = pd.Categorical.from_codes(data.target, data.target_names).astype(str)
    train, test = split_rows(frame, test_size=0.4, stratify="cultivar")
    write_competition(public, private, train, test, target="cultivar", kind="label")
