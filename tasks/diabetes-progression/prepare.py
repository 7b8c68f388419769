"""Prepare diabetes-progression: scikit-learn's bundled diabetes data (Efron et al., 2004). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from sklearn.datasets import load_diabetes

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    data = load_diabetes(as_frame=True)
    frame = data.data.copy()
    frame["progression"] = data.target.astype(float)
    train, test = split_rows(frame, test_size=0.35)
    write_competition(public, private, train, test, target="progression", kind="value")
