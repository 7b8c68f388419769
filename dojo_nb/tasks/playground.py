"""Playground tabular tasks: rows generated from a source table by a seeded model of it.

Features come from a mixture of Gaussian copulas fitted on the source (one per class, or per
cluster for regression). Class labels are the mixture component a row was drawn from, with a
little label noise; regression targets come from a gradient-boosting model fitted on a
seeded bootstrap of the source plus resampled out-of-fold residuals. The seed is the task's
secret seed, so neither the rows nor the labels can be looked up in the source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import cross_val_predict
from threadpoolctl import threadpool_limits

from dojo_nb.tasks.authoring import write_competition
from dojo_nb.tasks.secret import task_seed
from dojo_nb.tasks.size import scaled
from dojo_nb.tasks.synth import MixtureCopula


def encode_for_trees(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as category codes (NaN stays NaN): enough for tree models on the source."""
    out = frame.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]):
            codes = out[c].astype("category").cat.codes.astype(float)
            out[c] = codes.where(codes >= 0)
    return out


def random_ids(rng: np.random.Generator, n: int, prefix: str | None) -> list:
    """Unique, unordered ids (nothing about a row in them): strings, or integers when prefix is None."""
    raw = rng.choice(16 ** 7, size=n, replace=False) + 16 ** 7
    if prefix is None:
        return [int(v) for v in raw]
    return [f"{prefix}{v:x}" for v in raw]


@dataclass(frozen=True)
class TabularSpec:
    task_id: str
    load_source: Callable[[], pd.DataFrame]  # the source in the task's schema: features + target
    target: str
    kind: str  # "classification" or "regression"
    n_train: int
    n_test: int
    submission_kind: str = "label"
    classes: Sequence[str] = ()
    id_prefix: str | None = ""  # None: integer ids
    flip: float = 0.03  # share of class labels replaced by a class drawn from the prior
    clusters: int = 6  # mixture components for regression
    log_target: bool = False  # model log1p(target): skewed, non-negative targets
    target_decimals: int | None = 3
    target_min: float | None = None
    target_max: float | None = None
    decimals: int = 4
    missing: dict[str, float] = field(default_factory=dict)  # extra missing cells per column

    def rows(self) -> tuple[int, int]:
        """Train and test rows at the current task size."""
        return scaled(self.n_train), scaled(self.n_test)

    def source(self) -> pd.DataFrame:
        return self.load_source().reset_index(drop=True)

    def generate(self, seed: int) -> pd.DataFrame:
        """Train and test rows together (features + target), from one seed."""
        rng = np.random.default_rng(seed)
        src = self.source()
        features = src.drop(columns=[self.target])
        n = scaled(self.n_train) + scaled(self.n_test)
        if self.kind == "classification":
            groups = src[self.target]
            mixture = MixtureCopula.fit(features, groups, rng)
            rows, label = mixture.sample(n, rng)
            flip = rng.random(n) < self.flip
            prior = groups.value_counts(normalize=True)
            label[flip] = rng.choice(prior.index.to_numpy(dtype=object), size=int(flip.sum()), p=prior.to_numpy())
            rows[self.target] = pd.Series(label).astype(src[self.target].dtype).to_numpy()
        else:
            rows = self._regression_rows(src, features, n, rng)
        for col, rate in self.missing.items():
            rows.loc[rng.random(n) < rate, col] = np.nan
        for col in features.columns:
            if pd.api.types.is_float_dtype(rows[col]):
                rows[col] = rows[col].round(self.decimals)
                if rows[col].notna().all() and rows[col].eq(rows[col].round()).all():
                    rows[col] = rows[col].astype(int)
        return rows[list(features.columns) + [self.target]]

    def _regression_rows(self, src: pd.DataFrame, features: pd.DataFrame, n: int,
                         rng: np.random.Generator) -> pd.DataFrame:
        encoded = encode_for_trees(features)
        y = src[self.target].to_numpy(dtype=float)
        y_fit = np.log1p(y) if self.log_target else y
        scaled = (encoded - encoded.mean()) / encoded.std().replace(0, 1)
        k = KMeans(self.clusters, n_init=4, random_state=int(rng.integers(2**31))).fit_predict(scaled.fillna(0))
        mixture = MixtureCopula.fit(features, pd.Series(k), rng)
        rows, _ = mixture.sample(n, rng)
        model = HistGradientBoostingRegressor(learning_rate=0.08, max_iter=100, min_samples_leaf=10,
                                              random_state=int(rng.integers(2**31)))
        oof = cross_val_predict(model, encoded, y_fit, cv=3)
        residuals = y_fit - oof
        boot = rng.integers(0, len(src), len(src))  # a seeded bootstrap: the label model is not the attacker's
        model.fit(encoded.iloc[boot], y_fit[boot])
        levels = {c: features[c].astype("category").cat.categories for c in features.columns
                  if not pd.api.types.is_numeric_dtype(features[c])}
        enc_rows = rows.copy()
        for c, cats in levels.items():
            codes = pd.Categorical(enc_rows[c], categories=cats).codes.astype(float)
            enc_rows[c] = np.where(codes >= 0, codes, np.nan)
        value = model.predict(enc_rows[features.columns].astype(float)) + rng.choice(residuals, n)
        if self.log_target:
            value = np.expm1(value)
        if self.target_min is not None:
            value = np.maximum(value, self.target_min)
        if self.target_max is not None:
            value = np.minimum(value, self.target_max)
        rows[self.target] = np.round(value, self.target_decimals) if self.target_decimals is not None else value
        if self.target_decimals == 0:
            rows[self.target] = rows[self.target].astype(int)
        return rows

    def build(self, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        with threadpool_limits(limits=1):  # OpenMP threads fighting other work slow boosting tenfold
            rows = self.generate(seed)
        n_train = scaled(self.n_train)
        return rows.iloc[:n_train].reset_index(drop=True), rows.iloc[n_train:].reset_index(drop=True)

    def write(self, public: Path, private: Path, seed: int) -> None:
        train, test = self.build(seed)
        rng = np.random.default_rng(seed + 1)
        ids = random_ids(rng, len(train) + len(test), self.id_prefix)
        write_competition(public, private, train, test, target=self.target, kind=self.submission_kind,
                          classes=list(self.classes), ids=ids, seed=seed % 2**32)

    def prepare(self, raw, public: Path, private: Path) -> None:
        self.write(Path(public), Path(private), task_seed(self.task_id))
