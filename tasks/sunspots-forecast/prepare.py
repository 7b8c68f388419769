"""Prepare sunspots-forecast: statsmodels' sunspots dataset (yearly sunspot numbers, 1700-2008). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from statsmodels.datasets import sunspots

from dojo_nb.tasks.preparing import split_time, write_competition


def prepare(raw, public, private):
    frame = sunspots.load_pandas().data.rename(columns={"YEAR": "year", "SUNACTIVITY": "sunactivity"})
    frame["year"] = frame["year"].astype(int)
    train, test = split_time(frame, horizon=20)
    write_competition(public, private, train, test, target="sunactivity", kind="value")
