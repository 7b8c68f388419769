"""Prepare fair-marriage-rating: statsmodels' fair dataset (Fair, 1978: Redbook survey of married women). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from statsmodels.datasets import fair

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    frame = fair.load_pandas().data.copy()
    for col in ["rate_marriage", "religious", "educ", "occupation", "occupation_husb"]:
        frame[col] = frame[col].astype(int)
    frame = frame[[c for c in frame.columns if c != "rate_marriage"] + ["rate_marriage"]]
    train, test = split_rows(frame, test_size=0.3, stratify="rate_marriage")
    write_competition(public, private, train, test, target="rate_marriage", kind="label")
