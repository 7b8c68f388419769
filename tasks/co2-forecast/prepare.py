"""Prepare co2-forecast: statsmodels' co2 dataset (weekly Mauna Loa CO2, 1958-2001). Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

from statsmodels.datasets import co2

from dojo_nb.tasks.preparing import split_time, write_competition


def prepare(raw, public, private):
    series = co2.load_pandas().data["co2"].interpolate()
    frame = series.rename("co2").rename_axis("date").reset_index()
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    train, test = split_time(frame, horizon=104)
    write_competition(public, private, train, test, target="co2", kind="value")
