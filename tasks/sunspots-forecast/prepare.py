"""Prepare sunspots-forecast: yearly activity of many simulated stars, modelled on statsmodels' sunspots series (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from statsmodels.datasets import sunspots


def load_source() -> pd.Series:
    data = sunspots.load_pandas().data
    return pd.Series(data["SUNACTIVITY"].to_numpy(), index=data["YEAR"].astype(int).to_numpy())


from dojo_nb.tasks.series import SeriesSpec  # noqa: E402

SPEC = SeriesSpec("sunspots-forecast", load_source, target="sunactivity", n_series=250, length=220,
                  horizon=11, period=1, trend=False, sqrt=True, ar_order=9, floor=0.0,
                  series_prefix="star-", decimals=1, spread=0.12)
prepare = SPEC.prepare
