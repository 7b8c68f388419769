"""Reference solutions: a ladder from a constant prediction to tuned gradient boosting (and one that also learns from the source dataset).

Each built-in task's leaderboard is made from these at its first preparation, on this
installation's own draw of the data (tasks/leaderboard_build.py), so every position score and
medal measures an agent against real, reproducible solutions, not invented ones.
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

from dojo_nb.tasks.cache import PreparedData
from dojo_nb.tasks.spec import Task


#: Bump when a rung changes: a cached board made by another ladder is rebuilt (leaderboard_build.py).
LADDER_VERSION = "3"


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


def _tabular(task: Task, name: str, model, subset: str, scale: bool = False, *, with_source: bool = False,
             max_rows: int | None = None) -> Reference:
    def predict(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        # One OpenMP thread: gradient boosting slows down tenfold when its threads fight other work.
        with threadpool_limits(limits=1):
            return _fit_predict(train, test)

    def _fit_predict(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
        cols = feature_columns(task, train, test)
        if subset == "half":
            cols = cols[: max(1, len(cols) // 2)]
        if with_source:  # the source dataset is a legitimate extra resource: add its rows
            extra = source_rows(task)
            train = pd.concat([train, extra[[c for c in extra.columns if c in train.columns]]], ignore_index=True)
        if max_rows is not None and len(train) > max_rows:
            train = train.sample(n=max_rows, random_state=0)
        pipe = make_pipeline(_preprocessor(train, cols, scale), clone(model))
        y = train[task.train_target]
        log_target = task.metric == "rmsle"
        if task.type in ("binary", "multiclass", "image"):
            y = y.astype(str)
        elif log_target:
            y = np.log1p(np.clip(y.astype(float), 0, None))
        pipe.fit(train[cols], y)
        if task.submission_kind == "probability":
            probs = pipe.predict_proba(test[cols])
            classes = list(pipe.classes_)
            if len(task.target_columns) == 1:
                return _submission(task, test, probs[:, classes.index("1")])
            return _submission(task, test, probs, classes)
        pred = pipe.predict(test[cols])
        if log_target:
            pred = np.clip(np.expm1(pred.astype(float)), 0, None)
        return _submission(task, test, pred)

    return Reference(f"{name}-{subset}", predict)


def source_rows(task: Task) -> pd.DataFrame:
    """The task's source dataset in the columns of its train.csv (see docs/tasks.md)."""
    from dojo_nb.tasks.cache import source_table

    return source_table(task)


def _tabular_ladder(task: Task) -> list[Reference]:
    """About fifteen solutions from a constant to tuned boosting, cheap enough to run at first prepare.

    Every installation draws its own rows (its secret seed), so its leaderboard is built from
    this ladder on its own draw (see leaderboard_build.py): the ladder's cost is part of the
    first `dojo-nb run` of a task, which is why the slow ideas see a subsample.
    """
    classify = task.type in ("binary", "multiclass", "image")
    if classify:
        gbm = HistGradientBoostingClassifier
        refs = [
            _tabular(task, "constant-prior", DummyClassifier(strategy="prior"), "all"),
            _tabular(task, "logistic-C0.01", LogisticRegression(C=0.01, max_iter=300), "half", scale=True),
            _tabular(task, "logistic-C0.01", LogisticRegression(C=0.01, max_iter=300), "all", scale=True),
            _tabular(task, "logistic-C1", LogisticRegression(C=1.0, max_iter=300), "all", scale=True),
            _tabular(task, "knn-25", KNeighborsClassifier(25), "all", scale=True, max_rows=5_000),
            _tabular(task, "tree-d2", DecisionTreeClassifier(max_depth=2, random_state=0), "all"),
            _tabular(task, "tree-d6", DecisionTreeClassifier(max_depth=6, random_state=0), "half"),
            _tabular(task, "tree-d6", DecisionTreeClassifier(max_depth=6, random_state=0), "all"),
            _tabular(task, "forest-s0", RandomForestClassifier(40, min_samples_leaf=3, max_samples=0.25,
                                                               random_state=0, n_jobs=1), "all"),
        ]
    else:
        gbm = HistGradientBoostingRegressor
        refs = [
            _tabular(task, "constant-mean", DummyRegressor(strategy="mean"), "all"),
            _tabular(task, "constant-median", DummyRegressor(strategy="median"), "all"),
            _tabular(task, "ridge-a10", Ridge(alpha=10.0), "half", scale=True),
            _tabular(task, "ridge-a10", Ridge(alpha=10.0), "all", scale=True),
            _tabular(task, "knn-25", KNeighborsRegressor(25), "all", scale=True, max_rows=5_000),
            _tabular(task, "tree-d3", DecisionTreeRegressor(max_depth=3, random_state=0), "all"),
            _tabular(task, "tree-d6", DecisionTreeRegressor(max_depth=6, random_state=0), "half"),
            _tabular(task, "tree-d6", DecisionTreeRegressor(max_depth=6, random_state=0), "all"),
            _tabular(task, "forest-s0", RandomForestRegressor(40, min_samples_leaf=5, max_samples=0.25,
                                                              random_state=0, n_jobs=1), "all"),
        ]
    # Ten-class boosting on 64 pixels costs ten trees a round: the image task's plain boosting
    # rungs learn from 6,000 images, so its first preparation stays within a minute or two.
    rows = 6_000 if task.type == "image" else None
    refs.append(_tabular(task, "gbm-lr0.1-s0", gbm(learning_rate=0.1, max_iter=100, random_state=0), "half",
                         max_rows=rows))
    refs += [_tabular(task, f"gbm-lr0.1-s{s}", gbm(learning_rate=0.1, max_iter=100, random_state=s), "all",
                      max_rows=rows) for s in (0, 1)]
    tuned = dict(learning_rate=0.08, max_iter=300, max_leaf_nodes=31, l2_regularization=1.0,
                 early_stopping=True, validation_fraction=0.1, n_iter_no_change=20, random_state=0)
    refs.append(_tabular(task, "gbm-tuned", gbm(**tuned), "all"))
    refs.append(_tabular(task, "gbm-tuned-with-source", gbm(**tuned), "all", with_source=True))
    return refs


def ladder(task: Task) -> list[Reference]:
    """Every reference solution for a task, weakest ideas first."""
    if task.type == "forecasting":
        from dojo_nb.tasks.forecasting import forecast_ladder

        return forecast_ladder(task)
    return _tabular_ladder(task)


def constant_reference(task: Task) -> Reference:
    """The weakest sensible submission: the prior / mean / historical mean."""
    return ladder(task)[0]


def run_ladder(task: Task, data: PreparedData) -> Iterator[tuple[Reference, pd.DataFrame]]:
    """Yield each reference with its submission for the task's test set."""
    train = pd.read_csv(data.public_dir / "train.csv")
    test = pd.read_csv(data.public_dir / "test.csv")
    for ref in ladder(task):
        yield ref, ref.predict(train, test)
