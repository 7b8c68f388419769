"""A baseline agent that needs no LLM and no network.

It works through a task the way a careful person would, one cell at a time: look at the
files, load and inspect, build features, cross-validate a simple model, write, validate and
submit; then try a stronger model and keep it only if its cross-validated score is better.
Its cells are plain pandas/scikit-learn code a person can read and re-run.

It has three approaches, tried in this order and each at most once, so it never loops:
the tabular plan (a train.csv, a test.csv and a sample_submission.csv, one label to predict);
a model from whatever the input files are (`dojo_nb.agents.baseline_cells`: the sample
submission's columns, CSV/JSON/JSON-lines tables also inside zips, images in zips or folders,
text columns); and the sample submission copied as it is. A cell that fails falls back once
to its simpler version when it has one; otherwise, like a file that does not validate, it
ends the approach and the next one starts.
"""

from __future__ import annotations

import re
import textwrap
from collections import deque
from typing import Any

from dojo_nb.agents.baseline_cells import SAMPLE_COPY, generic_cells

#: A step of a plan: the action, the simpler action tried once if it fails, whether the rest needs it.
Step = tuple[dict[str, Any], dict[str, Any] | None, bool]
#: Marks a plan's cell that may fail without giving up the approach (the stronger model).
OPTIONAL: dict[str, Any] = {"optional": True}


def top_level_inputs(reset_text: str, input_dir: str) -> set[str]:
    """The names of the files at the top of INPUT_DIR, as the reset text lists them."""
    if not input_dir:
        return set()
    return set(re.findall(rf"^\s+{re.escape(input_dir)}/([^/\s]+)\s+\(", reset_text, re.MULTILINE))

# Cells are templates; {placeholders} are filled from the task's metadata (never the answers).

_LOOK = """\
import os
for name in sorted(os.listdir(INPUT_DIR)):
    print(f"{{name:30s}} {{os.path.getsize(os.path.join(INPUT_DIR, name)):>10,d}} bytes")
"""

_LOAD = """\
import numpy as np
import pandas as pd

train = pd.read_csv(os.path.join(INPUT_DIR, "train.csv"))
test = pd.read_csv(os.path.join(INPUT_DIR, "test.csv"))
sample = pd.read_csv(os.path.join(INPUT_DIR, "sample_submission.csv"))
print("train", train.shape, "test", test.shape, "sample", sample.shape)
print(train.head())
print(train.dtypes.value_counts())
"""

_INSPECT = {
    "classification": """\
TARGET = {target!r}
print(train[TARGET].value_counts().sort_index())
print("missing values per column:", train.isna().sum()[lambda s: s > 0].to_dict())
""",
    "regression": """\
TARGET = {target!r}
print(train[TARGET].describe())
print("missing values per column:", train.isna().sum()[lambda s: s > 0].to_dict())
""",
}

_FEATURES_TABULAR = """\
ID = {id_column!r}
features = [c for c in test.columns if c != ID and c in train.columns]
categorical = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
both = pd.get_dummies(pd.concat([train[features], test[features]], keys=["train", "test"]),
                      columns=categorical, dummy_na=True, dtype=float)
both = both.fillna(both.loc["train"].median(numeric_only=True))
X, X_test = both.loc["train"], both.loc["test"]
y = train[TARGET]
print(f"{{X.shape[1]}} features from {{len(features)}} columns ({{len(categorical)}} categorical, one-hot encoded)")
"""

_FEATURES_FORECAST = """\
ID = {id_column!r}
series = train[TARGET].astype(float).to_numpy()
horizon = len(test)
# Seasonality from the calendar columns, else from the autocorrelation of the detrended series.
if "quarter" in train.columns:
    period = 4
elif "month" in train.columns:
    period = 12
elif "date" in train.columns:
    step_days = pd.to_datetime(train["date"]).diff().dt.days.median()
    period = 52 if 6 <= step_days <= 8 else (12 if 28 <= step_days <= 31 else (7 if step_days == 1 else 0))
else:
    detrended = series - np.polyval(np.polyfit(np.arange(len(series)), series, 1), np.arange(len(series)))
    acf = [np.corrcoef(detrended[:-lag], detrended[lag:])[0, 1] for lag in range(2, max(3, len(series) // 3))]
    period = int(np.argmax(acf) + 2) if acf and max(acf) > 0.2 else 0
print("history", len(series), "horizon", horizon, "season length guess", period)

def time_features(start, n, period):
    t = np.arange(start, start + n, dtype=float)
    cols = {{"t": t}}
    if period and period > 1:
        for k in (1, 2):
            cols[f"sin{{k}}"] = np.sin(2 * np.pi * k * t / period)
            cols[f"cos{{k}}"] = np.cos(2 * np.pi * k * t / period)
    return pd.DataFrame(cols)
"""

_SCORERS = {
    "accuracy": "'accuracy'", "macro_f1": "'f1_macro'", "roc_auc": "'roc_auc'",
    "log_loss": "'neg_log_loss'", "rmse": "'neg_root_mean_squared_error'",
    "rmsle": "'neg_root_mean_squared_error'", "mae": "'neg_mean_absolute_error'", "r2": "'r2'",
    "quadratic_weighted_kappa": "make_scorer(cohen_kappa_score, weights='quadratic')",
    "balanced_accuracy": "'balanced_accuracy'", "mape": "'neg_mean_absolute_percentage_error'",
    "medae": "'neg_median_absolute_error'",
}

_CV_TABULAR = """\
from sklearn.metrics import make_scorer, cohen_kappa_score
from sklearn.model_selection import {splitter}, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import {simple_import}

cv = {splitter}(n_splits=5, shuffle=True, random_state=SEED)
scoring = {scorer}
y_fit = {y_fit}
simple = make_pipeline(StandardScaler(), {simple})
scores = cross_val_score(simple, X, y_fit, cv=cv, scoring=scoring)
best_cv = scores.mean()
print(f"simple model CV {metric} (sklearn sign convention): {{best_cv:.5f}} +/- {{scores.std():.5f}}")
"""

_WRITE_TABULAR = """\
def write_submission(model):
    model.fit(X, y_fit)
    sub = pd.DataFrame({{ID: test[ID]}})
{write_body}
    sub.to_csv(SUBMISSION_PATH, index=False)
    print("wrote", SUBMISSION_PATH, sub.shape)
    print(sub.head())

write_submission(simple)
"""

_WRITE_BODIES = {
    "label": "    sub[TARGET] = model.predict(X_test)",
    "value": "    sub[TARGET] = model.predict(X_test)",
    "value_log": "    sub[TARGET] = np.clip(np.expm1(model.predict(X_test)), 0, None)",
    "binary_probability": "    sub[{column!r}] = model.predict_proba(X_test)[:, list(model.classes_).index(1)]",
    "multi_probability": textwrap.indent(textwrap.dedent("""\
        probs = model.predict_proba(X_test)
        classes = [str(c) for c in model.classes_]
        for column in {columns!r}:
            sub[column] = probs[:, classes.index(column)] if column in classes else 0.0"""), "    "),
}

_STRONG_TABULAR = """\
from sklearn.ensemble import {strong_class}

strong = {strong_class}(max_iter=300, learning_rate=0.05, random_state=SEED)
strong_scores = cross_val_score(strong, X, y_fit, cv=cv, scoring=scoring)
print(f"gradient boosting CV: {{strong_scores.mean():.5f}} +/- {{strong_scores.std():.5f}} (simple model: {{best_cv:.5f}})")
if strong_scores.mean() > best_cv:
    best_cv = strong_scores.mean()
    write_submission(strong)
    print("KEPT: gradient boosting is better in cross-validation; submission rewritten")
else:
    print("KEPT: the simple model (gradient boosting was not better); submission unchanged")
"""

_CV_FORECAST = """\
from sklearn.linear_model import Ridge

def forecast(history, n, how, period):
    if how == "last":
        return np.full(n, history[-1])
    if how == "recent-mean":
        return np.full(n, history[-max(period or 1, 4):].mean())
    window = len(history) if how == "trend+season" else max(len(history) // 2, 4)
    Xh = time_features(len(history) - window, window, period)
    model = Ridge(alpha=1e-3).fit(Xh, history[-window:])
    return model.predict(time_features(len(history), n, period))

def holdout_error(how, period):
    h = min(horizon, len(series) // 3)
    guess = forecast(series[:-h], h, how, period)
    return float(np.sqrt(np.mean((guess - series[-h:]) ** 2)))

candidates = {{(how, p): holdout_error(how, p) for how in ("last", "recent-mean", "trend+season", "recent-trend+season")
              for p in sorted({{0, period}})}}
for key, err in sorted(candidates.items(), key=lambda kv: kv[1]):
    print(f"{{key[0]:22s}} period={{key[1]:<3d}} holdout RMSE {{err:.4f}}")
best_how, best_period = min(candidates, key=candidates.get)
best_cv = -candidates[(best_how, best_period)]
"""

_WRITE_FORECAST = """\
def write_forecast(values):
    sub = pd.DataFrame({{ID: test[ID], TARGET: values}})
    sub.to_csv(SUBMISSION_PATH, index=False)
    print("wrote", SUBMISSION_PATH, sub.shape)
    print(sub.head())

write_forecast(forecast(series, horizon, best_how, best_period))
"""

_STRONG_FORECAST = """\
from statsmodels.tsa.holtwinters import ExponentialSmoothing

def holt(history, n):
    seasonal = "add" if period and period > 1 and len(history) >= 2 * period else None
    fit = ExponentialSmoothing(history, trend="add", damped_trend=True, seasonal=seasonal,
                               seasonal_periods=period if seasonal else None).fit()
    return fit.forecast(n)

h = min(horizon, len(series) // 3)
holt_err = float(np.sqrt(np.mean((holt(series[:-h], h) - series[-h:]) ** 2)))
print(f"damped Holt(-Winters) holdout RMSE {{holt_err:.4f}} (best so far {{-best_cv:.4f}})")
if -holt_err > best_cv:
    best_cv = -holt_err
    write_forecast(holt(series, horizon))
    print("KEPT: Holt-Winters is better on the holdout; submission rewritten")
else:
    print("KEPT: the earlier forecast; submission unchanged")
"""

_FALLBACK_SUBMISSION = """\
import shutil
shutil.copy(os.path.join(INPUT_DIR, "sample_submission.csv"), SUBMISSION_PATH)
print("fell back to the sample submission (a constant prediction)")
"""


class BaselineAgent:
    """A scripted, careful data scientist: no LLM, no network, a valid submission on every task."""

    name = "baseline"

    def __init__(self, **_: Any) -> None:
        self._queue: deque[Step] = deque()
        self._stages: deque[tuple[str, list[Step]]] = deque()
        self._last: Step | None = None
        self.task: dict[str, Any] = {}
        self.stage = ""
        self.failures = 0

    # --- protocol -------------------------------------------------------------------------
    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self.task = dict(info.get("task") or {})
        self.failures = 0
        files = top_level_inputs(str(observation.get("text") or ""), str((info.get("paths") or {}).get("INPUT_DIR", "")))
        self._stages = deque(self._stage_plans(files))
        self._queue = deque()
        self._last = None
        self._next_stage()

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        last, self._last = self._last, None
        if (last is not None and last[0].get("type") == "execute_code"
                and observation.get("status") in ("error", "timeout", "crashed")):
            self.failures += 1
            err = (observation.get("error") or {})
            what = f"{err.get('ename', observation.get('status'))}: {err.get('evalue', '')}".strip()[:300]
            _, fallback, required = last
            if fallback is not None:
                self._queue.appendleft((fallback, None, required))
                return {"type": "add_markdown",
                        "text": f"That cell failed ({what}). Falling back to a simpler version."}
            if required:
                return {"type": "add_markdown",
                        "text": f"That cell failed ({what}), and the rest of this approach needs it. "
                                f"{self._next_stage()}"}
        grading = observation.get("grading") or {}
        if observation.get("action_type") == "validate" and grading.get("valid") is False:
            self.failures += 1
            return {"type": "add_markdown",
                    "text": f"Validation failed ({str(grading.get('message', ''))[:300]}). {self._next_stage()}"}
        if not self._queue:
            self._next_stage()
        if not self._queue:
            return {"type": "submit", "final": True}
        self._last = self._queue.popleft()
        return self._last[0]

    def _next_stage(self) -> str:
        """Drop what is left of the current approach and start the next one (each is tried once)."""
        if not self._stages:
            self._queue = deque([({"type": "submit", "final": True}, None, False)])
            self.stage = "end"
            return "Nothing else to try: ending with what is on disk."
        self.stage, steps = self._stages.popleft()
        self._queue = deque(steps)
        return f"Next: {self.stage}."

    # --- the plan -------------------------------------------------------------------------
    def _stage_plans(self, files: set[str]) -> list[tuple[str, list[Step]]]:
        """The approaches, in the order they are tried: each runs only if the one before gave up."""
        t = self.task
        stages: list[tuple[str, list[Step]]] = []
        classic = {"train.csv", "test.csv", "sample_submission.csv"} <= files or not files
        targets = list(t.get("target_columns") or [])
        # one target, or one probability column per class of a single label column (penguins-species)
        one_label = len(targets) <= 1 or (list(t.get("classes") or []) == targets
                                          and t.get("label_column") not in targets)
        if classic and one_label:
            stages.append(("the tabular plan (train.csv, test.csv)",
                           [(a, None if f is OPTIONAL else f, a.get("type") == "execute_code" and f is not OPTIONAL)
                            for a, f in self._classic_plan()]))

        def md(text: str) -> Step:
            return ({"type": "add_markdown", "text": text}, None, False)

        def code(src: str) -> Step:
            return ({"type": "execute_code", "code": src}, None, True)

        load, features, model = generic_cells(t)
        stages.append(("a model from whatever the input files are", [
            md("**Plan.** Find the sample submission (its columns are the ids and targets to predict) and "
               "the training and test data whatever their format (CSV, JSON, JSON lines, inside zips), turn "
               "their columns into features (TF-IDF for text, one-hot for categories, a few grey pixels per "
               "image), fit one simple model per target and write the predictions in the sample's order."),
            code(load), code(features), code(model),
            ({"type": "validate"}, None, False), ({"type": "submit"}, None, False),
            ({"type": "submit", "final": True}, None, False)]))
        stages.append(("the sample submission", [
            md("Copy the sample submission (a constant prediction) so that a valid file is on disk."),
            code(SAMPLE_COPY), ({"type": "validate"}, None, False), ({"type": "submit"}, None, False),
            ({"type": "submit", "final": True}, None, False)]))
        return stages

    # --- the plan -------------------------------------------------------------------------
    def _classic_plan(self) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """The train.csv/test.csv/sample_submission.csv plan (one target column)."""
        t = self.task
        kind = t.get("submission_kind", "value")
        task_type = t.get("type", "regression")
        target = t.get("label_column") or (t.get("target_columns") or ["target"])[0]
        fill = {"target": target, "id_column": t.get("id_column", "id"), "metric": t.get("metric", "")}

        def code(src: str) -> dict[str, Any]:
            return {"type": "execute_code", "code": src.format(**fill)}

        def md(text: str) -> dict[str, Any]:
            return {"type": "add_markdown", "text": text}

        fallback_sub = code(_FALLBACK_SUBMISSION)
        plan: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
            (md(f"**Plan.** Task `{t.get('id')}` ({task_type}, metric `{t.get('metric')}`, "
                f"{'lower' if t.get('lower_is_better') else 'higher'} is better). Look at the files, "
                "load and inspect the data, build features, cross-validate a simple model, submit it, "
                "then try gradient boosting and keep it only if cross-validation says it is better."), None),
            (code(_LOOK), None),
            (code(_LOAD), None),
        ]
        classification = task_type in ("binary", "multiclass", "image")
        plan.append((code(_INSPECT["classification" if classification else "regression"]), None))
        if task_type == "forecasting":
            plan += [
                (code(_FEATURES_FORECAST), None),
                (md("Validate forecasters on the last part of the history (a time-ordered holdout), "
                    "never on shuffled folds."), None),
                (code(_CV_FORECAST + "\n" + _WRITE_FORECAST), fallback_sub),
            ]
            strong = (code(_STRONG_FORECAST), OPTIONAL)
            strong_note = md("Try damped Holt-Winters exponential smoothing against the best simple forecaster.")
        else:
            plan.append((code(_FEATURES_TABULAR), None))
            probability = kind == "probability"
            columns = list(t.get("target_columns") or [target])
            if kind == "label" and classification:
                body = _WRITE_BODIES["label"]
            elif probability and len(columns) == 1:
                body = _WRITE_BODIES["binary_probability"].format(column=columns[0])
            elif probability:
                body = _WRITE_BODIES["multi_probability"].format(columns=columns)
            elif t.get("metric") == "rmsle":
                body = _WRITE_BODIES["value_log"]
            else:
                body = _WRITE_BODIES["value"]
            regression_like = not classification
            cv_fill = {
                "splitter": "StratifiedKFold" if classification else "KFold",
                "scorer": _SCORERS.get(t.get("metric", ""), "None"),
                "simple_import": "LogisticRegression" if classification else "Ridge",
                "simple": "LogisticRegression(max_iter=2000, C=1.0)" if classification else "Ridge(alpha=1.0)",
                "y_fit": "np.log1p(y.clip(lower=0))" if t.get("metric") == "rmsle" else "y",
                "metric": t.get("metric", ""),
            }
            if t.get("metric") == "quadratic_weighted_kappa":
                cv_fill["scorer"] = "make_scorer(cohen_kappa_score, weights='quadratic')"
            cv_src = _CV_TABULAR.format(**cv_fill).replace("{", "{{").replace("}", "}}")
            write_src = _WRITE_TABULAR.replace("{write_body}", body.replace("{", "{{").replace("}", "}}"))
            simpler = dict(cv_fill, simple="DummyClassifier()" if classification else "DummyRegressor()",
                           simple_import="LinearRegression\nfrom sklearn.dummy import DummyClassifier, DummyRegressor")
            simpler_src = _CV_TABULAR.format(**simpler).replace("{", "{{").replace("}", "}}")
            plan.append((code(cv_src + "\n" + write_src),
                         code(simpler_src + "\n" + write_src)))
            strong_class = "HistGradientBoostingClassifier" if classification else "HistGradientBoostingRegressor"
            strong = (code(_STRONG_TABULAR.replace("{strong_class}", strong_class)), OPTIONAL)
            strong_note = md("Try gradient boosting (histogram-based, 300 rounds, learning rate 0.05) "
                             "with the same folds; keep it only if its CV score is better.")
            del regression_like
        plan += [
            ({"type": "validate"}, None),
            ({"type": "submit"}, None),
            (strong_note, None),
            strong,
            ({"type": "validate"}, None),
            ({"type": "submit"}, None),
            (md("Done: the submission on disk is the better of the two models by my own validation."), None),
            ({"type": "submit", "final": True}, None),
        ]
        return plan
