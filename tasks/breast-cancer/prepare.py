"""Prepare breast-cancer: scikit-learn's bundled Wisconsin diagnostic breast cancer data (UCI). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from sklearn.datasets import load_breast_cancer

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    data = load_breast_cancer(as_frame=True)
    frame = data.data.copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["target"] = data.target.astype(int)
    train, test = split_rows(frame, test_size=0.4, stratify="target")
    write_competition(public, private, train, test, target="target", kind="probability")
