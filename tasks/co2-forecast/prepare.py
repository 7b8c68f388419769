"""Prepare co2-forecast: weekly CO2 at many simulated stations, modelled on statsmodels' Mauna Loa co2 series (see docs/tasks.md)."""

from __future__ import annotations

import pandas as pd
from statsmodels.datasets import co2

from dojo_nb.tasks.series import SeriesSpec


def load_source() -> pd.Series:
    return co2.load_pandas().data["co2"]


SPEC = SeriesSpec("co2-forecast", load_source, target="co2", n_series=250, length=230, horizon=26,
                  period=52, trend=True, ar_order=3, series_prefix="station-", decimals=2)
prepare = SPEC.prepare
