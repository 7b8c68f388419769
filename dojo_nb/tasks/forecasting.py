"""Reference forecasters for many-series tasks: per-series classics and one global boosted model.

train.csv has series_id, date, target; test.csv the next dates of every series. Each reference
forecasts every series and returns a submission in test.csv's row order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from dojo_nb.tasks.spec import Task

Forecaster = Callable[[np.ndarray, int], np.ndarray]  # (history, horizon) -> forecast


def _period(task: Task) -> int:
    return int(task.extra.get("season_length", 1) or 1)


def _ses(y: np.ndarray, alpha: float) -> float:
    level = y[0]
    for value in y[1:]:
        level = alpha * value + (1 - alpha) * level
    return level


def _fourier(t: np.ndarray, period: int) -> np.ndarray:
    cols = [np.ones_like(t), t]
    if period > 1:
        for k in (1, 2, 3):
            cols += [np.sin(2 * np.pi * k * t / period), np.cos(2 * np.pi * k * t / period)]
    return np.column_stack(cols)


def classic(how: str, period: int) -> Forecaster:
    def forecast(y: np.ndarray, h: int) -> np.ndarray:
        if how == "mean":
            return np.full(h, y.mean())
        if how == "last":
            return np.full(h, y[-1])
        if how == "recent-mean":
            return np.full(h, y[-max(period, 4):].mean())
        if how == "drift":
            return y[-1] + (y[-1] - y[0]) / max(1, len(y) - 1) * np.arange(1, h + 1)
        if how == "seasonal-naive":
            return np.resize(y[-period:], h) if period > 1 else np.full(h, y[-1])
        if how.startswith("ses-"):
            return np.full(h, _ses(y, float(how[4:])))
        window = {"trend-season": len(y), "local-trend-season": min(len(y), max(3 * period, 24))}[how]
        t = np.arange(len(y), dtype=float)[-window:]
        coef, *_ = np.linalg.lstsq(_fourier(t, period), y[-window:], rcond=None)
        return _fourier(np.arange(len(y), len(y) + h, dtype=float), period) @ coef
    return forecast


def _windows(y: np.ndarray, cutoff: int, h: int, period: int) -> np.ndarray:
    """Features of the history y[:cutoff] for steps 1..h, scaled by the recent spread."""
    hist = y[:cutoff]
    recent = hist[-max(2 * period, 24):]
    base, scale = hist[-1], recent.std() + 1e-6
    lags = [(hist[-j] - base) / scale for j in range(2, 9)]
    slope = np.polyfit(np.arange(len(recent)), recent, 1)[0] / scale
    rows = []
    for k in range(1, h + 1):
        seasonal = (hist[-period + (k - 1) % period] - base) / scale if period > 1 and len(hist) >= period else 0.0
        rows.append([k, seasonal, (recent.mean() - base) / scale, slope, *lags])
    return np.asarray(rows)


def global_gbm(period: int, seed: int, extra: list[np.ndarray] = (), own: bool = True
               ) -> Callable[[list[np.ndarray], list[int]], list[np.ndarray]]:
    """One boosted model over all series (and any extra series), trained on past windows.

    `own=False` learns from the extra series alone (how an agent would use only the source)."""
    def fit_predict(histories: list[np.ndarray], horizons: list[int]) -> list[np.ndarray]:
        h = max(horizons)
        need = max(2 * period, 24) + 9
        X, Y = [], []
        for y in (list(histories) if own else []) + list(extra):
            for back in range(1, 9 if own else 400):
                cutoff = len(y) - h - (back - 1) * max(1, h // 2)
                if cutoff < need:
                    break
                feats = _windows(y, cutoff, h, period)
                recent = y[:cutoff][-max(2 * period, 24):]
                X.append(feats)
                Y.append((y[cutoff: cutoff + h] - y[cutoff - 1]) / (recent.std() + 1e-6))
        # Early stopping holds out a seeded tenth, so the two seeds are two different fits, not one twice.
        model = HistGradientBoostingRegressor(learning_rate=0.05, max_iter=300, early_stopping=True,
                                              validation_fraction=0.1, n_iter_no_change=15, random_state=seed)
        with threadpool_limits(limits=1):
            model.fit(np.vstack(X), np.concatenate(Y))
            out = []
            for y, hh in zip(histories, horizons):
                recent = y[-max(2 * period, 24):]
                pred = model.predict(_windows(y, len(y), hh, period))
                out.append(y[-1] + pred * (recent.std() + 1e-6))
        return out
    return fit_predict


def _frames(task: Task, train: pd.DataFrame, test: pd.DataFrame):
    target = task.train_target
    groups = {sid: g[target].astype(float).interpolate().bfill().to_numpy() for sid, g in train.groupby("series_id", sort=False)}
    order = list(dict.fromkeys(test["series_id"]))
    horizons = test.groupby("series_id", sort=False).size().to_dict()
    return groups, order, horizons


def _submit(task: Task, test: pd.DataFrame, forecasts: dict[str, np.ndarray]) -> pd.DataFrame:
    step = test.groupby("series_id", sort=False).cumcount().to_numpy()
    values = [forecasts[s][k] for s, k in zip(test["series_id"], step)]
    return pd.DataFrame({task.id_column: test[task.id_column], task.target_columns[0]: values})


def per_series(task: Task, forecaster: Forecaster):
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        groups, order, horizons = _frames(task, train, test)
        return _submit(task, test, {s: forecaster(groups[s], horizons[s]) for s in order})
    return predict


def pooled(task: Task, seed: int, with_source: bool = False):
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        groups, order, horizons = _frames(task, train, test)
        extra = []
        if with_source:  # the source series is a legitimate extra resource
            from dojo_nb.tasks.cache import source_table

            extra = [source_table(task).to_numpy(dtype=float)]
        preds = global_gbm(_period(task), seed, extra)([groups[s] for s in order], [horizons[s] for s in order])
        return _submit(task, test, dict(zip(order, preds)))
    return predict


def forecast_ladder(task: Task) -> list:
    from dojo_nb.tasks.reference import Reference

    period = _period(task)
    names = ["mean", "last", "recent-mean", "drift", "seasonal-naive", "ses-0.2", "ses-0.5",
             "trend-season", "local-trend-season"]
    refs = [Reference(n, per_series(task, classic(n, period))) for n in names]
    refs += [Reference(f"global-gbm-s{s}", pooled(task, s)) for s in (0, 1)]
    refs.append(Reference("global-gbm-with-source", pooled(task, 0, with_source=True)))
    return refs
