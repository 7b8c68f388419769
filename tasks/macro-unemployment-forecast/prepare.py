"""Prepare macro-unemployment-forecast: statsmodels' macrodata dataset (US quarterly macroeconomic data, 1959-2009). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from statsmodels.datasets import macrodata

from dojo_nb.tasks.preparing import split_time, write_competition


def prepare(raw, public, private):
    data = macrodata.load_pandas().data
    frame = data[["year", "quarter", "realgdp", "realcons", "realinv", "cpi", "tbilrate", "infl", "unemp"]].copy()
    frame[["year", "quarter"]] = frame[["year", "quarter"]].astype(int)
    train, test = split_time(frame, horizon=16)
    test = test[["year", "quarter", "unemp"]]
    write_competition(public, private, train, test, target="unemp", kind="value")
