"""Prepare randhie-visits: statsmodels' randhie dataset (RAND Health Insurance Experiment). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from statsmodels.datasets import randhie

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    frame = randhie.load_pandas().data.copy()
    frame = frame[[c for c in frame.columns if c != "mdvis"] + ["mdvis"]]
    frame = frame.sample(n=6000, random_state=7).reset_index(drop=True)
    train, test = split_rows(frame, test_size=0.3)
    write_competition(public, private, train, test, target="mdvis", kind="value")
