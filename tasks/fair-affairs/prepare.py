"""Prepare fair-affairs: statsmodels' fair dataset (Fair, 1978: Redbook survey of married women). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from statsmodels.datasets import fair

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    frame = fair.load_pandas().data.copy()
    frame["had_affair"] = (frame.pop("affairs") > 0).astype(int)
    for col in ["rate_marriage", "religious", "educ", "occupation", "occupation_husb"]:
        frame[col] = frame[col].astype(int)
    train, test = split_rows(frame, test_size=0.3, stratify="had_affair")
    write_competition(public, private, train, test, target="had_affair", kind="probability")
