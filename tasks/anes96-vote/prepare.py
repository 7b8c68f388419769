"""Prepare anes96-vote: statsmodels' anes96 dataset (American National Election Studies, 1996). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from statsmodels.datasets import anes96

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    frame = anes96.load_pandas().data.copy()
    frame["vote"] = frame["vote"].astype(int)
    frame = frame[[c for c in frame.columns if c != "vote"] + ["vote"]]
    train, test = split_rows(frame, test_size=0.35, stratify="vote")
    write_competition(public, private, train, test, target="vote", kind="label")
