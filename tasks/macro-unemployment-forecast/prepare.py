"""Prepare macro-unemployment-forecast: quarterly unemployment of many simulated regions, modelled on statsmodels' macrodata (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from statsmodels.datasets import macrodata

from dojo_nb.tasks.series import SeriesSpec


def load_source() -> pd.Series:
    data = macrodata.load_pandas().data
    quarters = [f"{int(y)}-Q{int(q)}" for y, q in zip(data["year"], data["quarter"])]
    return pd.Series(data["unemp"].to_numpy(), index=quarters)


SPEC = SeriesSpec("macro-unemployment-forecast", load_source, target="unemp", n_series=300,
                  length=180, horizon=8, period=1, trend=True, ar_order=4, floor=1.0,
                  series_prefix="region-", decimals=2, spread=0.3)
prepare = SPEC.prepare
