"""Playground forecasting tasks: many related series simulated from a model of one source series.

The source is decomposed into a local trend, a mean seasonal profile and a residual; an
autoregressive model is fitted to the residual. Each generated series gets its own level,
slope, seasonal amplitude and noise scale around the source's, and new innovations from the
secret seed: the series share the source's structure, but their futures are not in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dojo_nb.tasks.authoring import write_competition
from dojo_nb.tasks.secret import task_seed
from dojo_nb.tasks.size import scaled


def fit_ar(x: np.ndarray, order: int) -> tuple[np.ndarray, float]:
    """Least-squares AR(order) coefficients and innovation standard deviation of a centred series."""
    rows = np.column_stack([x[order - i - 1: len(x) - i - 1] for i in range(order)])
    coef, *_ = np.linalg.lstsq(rows, x[order:], rcond=None)
    resid = x[order:] - rows @ coef
    return coef, float(resid.std())


def seasonal_profile(x: np.ndarray, period: int) -> np.ndarray:
    """Mean deviation from a centred moving average at each position of the season."""
    if period <= 1:
        return np.zeros(1)
    kernel = np.ones(period) / period
    smooth = np.convolve(x, kernel, mode="same")
    dev = (x - smooth)[period: len(x) - period]
    phase = np.arange(period, len(x) - period) % period
    profile = np.array([dev[phase == p].mean() for p in range(period)])
    return profile - profile.mean()


@dataclass(frozen=True)
class SeriesSpec:
    task_id: str
    load_source: Callable[[], pd.Series]  # one regular series, indexed by its dates
    target: str
    n_series: int
    length: int  # steps per series, history + horizon
    horizon: int
    period: int = 1
    trend: bool = True
    sqrt: bool = False  # model the square root (counts such as sunspot numbers)
    ar_order: int = 3
    floor: float | None = None
    decimals: int = 3
    series_prefix: str = "s"
    date_format: str = "%Y-%m-%d"
    spread: float = 0.25  # log-normal spread of each series' slope, amplitude and noise scale

    def source(self) -> pd.Series:
        return self.load_source().astype(float).interpolate().dropna()

    def rows(self) -> tuple[int, int]:
        """Train and test rows at the current task size."""
        n = scaled(self.n_series, floor=80)
        return n * (self.length - self.horizon), n * self.horizon

    def _model(self) -> dict:
        y = self.source().to_numpy()
        x = np.sqrt(np.maximum(y, 0)) if self.sqrt else y
        window = max(2 * self.period, 8)
        smooth = pd.Series(x).rolling(window, center=True, min_periods=1).mean().to_numpy() if self.trend else np.full(len(x), x.mean())
        profile = seasonal_profile(x, self.period)
        season = profile[np.arange(len(x)) % len(profile)] if self.period > 1 else 0.0
        resid = x - smooth - season
        coef, sigma = fit_ar(resid - resid.mean(), self.ar_order)
        return {"x": x, "smooth": smooth, "profile": profile, "coef": coef, "sigma": sigma}

    def simulate(self, seed: int) -> np.ndarray:
        """An (n_series, length) array of values."""
        rng = np.random.default_rng(seed)
        m = self._model()
        x, smooth, profile, coef, sigma = m["x"], m["smooth"], m["profile"], m["coef"], m["sigma"]
        n, length, burn = scaled(self.n_series, floor=80), self.length, 200
        out = np.empty((n, length))
        for i in range(n):
            start = int(rng.integers(0, max(1, len(x) - length)))
            base = smooth[start: start + length]
            if len(base) < length:
                base = np.resize(base, length)
            if self.trend:
                slope = (base[-1] - base[0]) / max(1, length - 1)
                factor = rng.lognormal(0, self.spread)
                base = base[0] + (base - base[0]) * factor + rng.normal(0, 0.5) * slope * np.arange(length)
                base = base + rng.normal(0, 0.05 * (abs(base.mean()) + 1e-9))
            else:
                base = np.full(length, x.mean() * rng.lognormal(0, self.spread / 2))
            phase = int(rng.integers(0, len(profile)))
            season = np.resize(np.roll(profile, -phase), length) * rng.lognormal(0, self.spread)
            eps = rng.standard_normal(length + burn) * sigma * rng.lognormal(0, self.spread)
            noise = np.zeros(length + burn)
            for t in range(len(coef), length + burn):
                noise[t] = coef @ noise[t - len(coef): t][::-1] + eps[t]
            value = base + season + noise[burn:]
            if self.sqrt:
                value = np.maximum(value, 0) ** 2
            if self.floor is not None:
                value = np.maximum(value, self.floor)
            out[i] = value
        return np.round(out, self.decimals)

    def dates(self) -> list[str]:
        index = self.source().index[-self.length:]
        if isinstance(index, pd.DatetimeIndex):
            return [d.strftime(self.date_format) for d in index]
        return [str(v) for v in index]

    def build(self, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        values = self.simulate(seed)
        dates = self.dates()
        rng = np.random.default_rng(seed + 2)
        names = [f"{self.series_prefix}{v:03d}" for v in rng.permutation(len(values))]
        long = pd.DataFrame({"series_id": np.repeat(names, self.length),
                             "date": np.tile(dates, len(values)), self.target: values.ravel()})
        future = np.tile(np.arange(self.length) >= self.length - self.horizon, len(values))
        return long[~future].reset_index(drop=True), long[future].reset_index(drop=True)

    def prepare(self, raw, public: Path, private: Path) -> None:
        seed = task_seed(self.task_id)
        train, test = self.build(seed)
        ids = [f"{s}_{d}" for s, d in zip(pd.concat([train, test])["series_id"], pd.concat([train, test])["date"])]
        write_competition(Path(public), Path(private), train, test, target=self.target, kind="value",
                          ids=ids, seed=seed % 2**32)
