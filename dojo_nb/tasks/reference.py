"""Reference solutions: a ladder from a constant prediction to tuned gradient boosting.

The built-in leaderboards are made from these (scripts/build_leaderboards.py), so every
position score measures an agent against real, reproducible solutions, not invented ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from dojo_nb.tasks.prepare import PreparedData
from dojo_nb.tasks.spec import Task


@dataclass(frozen=True)
class Reference:
    name: str
    predict: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]  # (train, test) -> submission


def feature_columns(task: Task, train: pd.DataFrame, test: pd.DataFrame) -> list[str]:
    """Columns present in both train and test, other than the id and the target."""
    skip = {task.id_column, task.train_target, *task.target_columns}
    return [c for c in train.columns if c in test.columns and c not in skip]


def _preprocessor(frame: pd.DataFrame, columns: list[str], scale: bool) -> ColumnTransformer:
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in columns if c not in numeric]
    num_steps = [SimpleImputer(strategy="median")] + ([StandardScaler()] if scale else [])
    parts = [("num", make_pipeline(*num_steps), numeric)]
    if categorical:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                           OneHotEncoder(handle_unknown="ignore", sparse_output=False)), categorical))
    return ColumnTransformer(parts)


def _submission(task: Task, test: pd.DataFrame, values, classes=None) -> pd.DataFrame:
    sub = pd.DataFrame({task.id_column: test[task.id_column]})
    if task.submission_kind == "probability" and len(task.target_columns) > 1:
        probs = np.asarray(values)
        order = [list(classes).index(c) if c in list(classes) else None for c in task.target_columns]
        for col, idx in zip(task.target_columns, order):
            sub[col] = probs[:, idx] if idx is not None else 0.0
    else:
        sub[task.target_columns[0]] = values
    return sub


def _tabular(task: Task, name: str, model, subset: str, scale: bool = False) -> Reference:
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        # One OpenMP thread: gradient boosting slows down tenfold when its threads fight other work.
        with threadpool_limits(limits=1):
            return _fit_predict(train, test)

    def _fit_predict(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        cols = feature_columns(task, train, test)
        if subset == "half":
            cols = cols[: max(1, len(cols) // 2)]
        pipe = make_pipeline(_preprocessor(train, cols, scale), clone(model))
        y = train[task.train_target]
        if task.type in ("binary", "multiclass", "image"):
            y = y.astype(str)
        pipe.fit(train[cols], y)
        if task.submission_kind == "probability":
            probs = pipe.predict_proba(test[cols])
            classes = list(pipe.classes_)
            if len(task.target_columns) == 1:
                return _submission(task, test, probs[:, classes.index("1")])
            return _submission(task, test, probs, classes)
        pred = pipe.predict(test[cols])
        if task.metric == "rmsle":
            pred = np.clip(pred.astype(float), 0, None)
        return _submission(task, test, pred)

    return Reference(f"{name}-{subset}", predict)


def _time_features(task: Task, frame: pd.DataFrame, offset: int) -> pd.DataFrame:
    t = np.arange(offset, offset + len(frame), dtype=float)
    period = float(task.extra.get("season_length", 1) or 1)
    feats = pd.DataFrame({"t": t})
    if period > 1:
        for k in (1, 2):
            feats[f"sin{k}"] = np.sin(2 * np.pi * k * t / period)
            feats[f"cos{k}"] = np.cos(2 * np.pi * k * t / period)
    return feats


def _forecast(task: Task, name: str, how: str) -> Reference:
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        y = train[task.train_target].to_numpy(dtype=float)
        h = len(test)
        period = int(task.extra.get("season_length", 1) or 1)
        if how == "mean":
            pred = np.full(h, y.mean())
        elif how == "last":
            pred = np.full(h, y[-1])
        elif how == "recent-mean":
            pred = np.full(h, y[-max(period, 4):].mean())
        elif how == "drift":
            pred = y[-1] + (y[-1] - y[0]) / (len(y) - 1) * np.arange(1, h + 1)
        elif how == "seasonal-naive":
            season = y[-period:] if period > 1 else y[-1:]
            pred = np.resize(season, h)
        elif how.startswith("ses-"):
            alpha, level = float(how[4:]), y[0]
            for value in y[1:]:
                level = alpha * value + (1 - alpha) * level
            pred = np.full(h, level)
        elif how in ("holt", "holt-winters"):
            from statsmodels.tsa.holtwinters import ExponentialSmoothing

            seasonal = "add" if how == "holt-winters" and period > 1 and len(y) >= 2 * period else None
            fit = ExponentialSmoothing(y, trend="add", damped_trend=True, seasonal=seasonal,
                                       seasonal_periods=period if seasonal else None).fit()
            pred = fit.forecast(h)
        else:
            xtr, xte = _time_features(task, train, 0), _time_features(task, test, len(train))
            window = {"trend": len(y), "trend-season": len(y), "trend-last-half": len(y) // 2,
                      "trend-season-last-half": len(y) // 2,
                      "local-trend-season": min(len(y), max(4 * period, 20))}[how]
            cols = ["t"] if how.startswith("trend") and "season" not in how else list(xtr.columns)
            model = Ridge(alpha=1e-3).fit(xtr[cols].iloc[-window:], y[-window:])
            pred = model.predict(xte[cols])
        return _submission(task, test, pred)

    return Reference(name, predict)


def ladder(task: Task) -> list[Reference]:
    """Every reference solution for a task, weakest ideas first."""
    if task.type == "forecasting":
        return [_forecast(task, n, n) for n in
                ("mean", "last", "recent-mean", "drift", "seasonal-naive", "ses-0.2", "ses-0.5", "holt", "holt-winters",
                 "trend", "trend-season", "trend-last-half", "trend-season-last-half", "local-trend-season")]
    refs: list[Reference] = []
    classify = task.type in ("binary", "multiclass", "image")
    for subset in ("all", "half"):
        if classify:
            refs += [
                _tabular(task, "constant-prior", DummyClassifier(strategy="prior"), subset),
                _tabular(task, "logistic-C0.01", LogisticRegression(C=0.01, max_iter=2000), subset, scale=True),
                _tabular(task, "logistic-C1", LogisticRegression(C=1.0, max_iter=2000), subset, scale=True),
                _tabular(task, "knn-25", KNeighborsClassifier(25), subset, scale=True),
                _tabular(task, "knn-5", KNeighborsClassifier(5), subset, scale=True),
                _tabular(task, "tree-d2", DecisionTreeClassifier(max_depth=2, random_state=0), subset),
                _tabular(task, "tree-d6", DecisionTreeClassifier(max_depth=6, random_state=0), subset),
            ]
            refs += [_tabular(task, f"forest-s{s}", RandomForestClassifier(200, min_samples_leaf=2, random_state=s, n_jobs=1), subset) for s in (0, 1)]
            refs += [_tabular(task, f"gbm-lr{lr}-s{s}", HistGradientBoostingClassifier(learning_rate=lr, max_iter=200, random_state=s), subset)
                     for lr in (0.05, 0.1) for s in (0,)]
        else:
            refs += [
                _tabular(task, "constant-mean", DummyRegressor(strategy="mean"), subset),
                _tabular(task, "constant-median", DummyRegressor(strategy="median"), subset),
                _tabular(task, "ridge-a10", Ridge(alpha=10.0), subset, scale=True),
                _tabular(task, "ridge-a0.1", Ridge(alpha=0.1), subset, scale=True),
                _tabular(task, "knn-25", KNeighborsRegressor(25), subset, scale=True),
                _tabular(task, "knn-5", KNeighborsRegressor(5), subset, scale=True),
                _tabular(task, "tree-d3", DecisionTreeRegressor(max_depth=3, random_state=0), subset),
            ]
            refs += [_tabular(task, f"forest-s{s}", RandomForestRegressor(200, min_samples_leaf=3, random_state=s, n_jobs=1), subset) for s in (0, 1)]
            refs += [_tabular(task, f"gbm-lr{lr}-s{s}", HistGradientBoostingRegressor(learning_rate=lr, max_iter=200, random_state=s), subset)
                     for lr in (0.05, 0.1) for s in (0,)]
    return refs


def constant_reference(task: Task) -> Reference:
    """The weakest sensible submission: the prior / mean / historical mean."""
    return ladder(task)[0]


def run_ladder(task: Task, data: PreparedData) -> Iterator[tuple[Reference, pd.DataFrame]]:
    """Yield each reference with its submission for the task's test set."""
    train = pd.read_csv(data.public_dir / "train.csv")
    test = pd.read_csv(data.public_dir / "test.csv")
    for ref in ladder(task):
        yield ref, ref.predict(train, test)
