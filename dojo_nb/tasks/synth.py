"""A seeded Gaussian-copula synthesizer: new rows with a source table's marginals and dependence.

Each column is mapped to normal scores through its empirical distribution (categorical and
discrete columns through their cumulative frequencies, with a random point inside each
value's interval), the scores' correlation is estimated, and new rows are drawn from that
multivariate normal and mapped back. Continuous values are interpolated between source
quantiles, so generated rows are new points, not copies. A mixture (one copula per group,
e.g. per class) keeps structure that one Gaussian dependence would blur.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

_MAX_DISCRETE = 12  # numeric columns with at most this many distinct values are sampled as discrete


@dataclass
class _Column:
    name: str
    missing: float
    discrete: bool
    values: np.ndarray  # sorted distinct values (discrete) or sorted observations (continuous)
    cdf: np.ndarray = field(default_factory=lambda: np.array([]))  # cumulative frequencies (discrete)
    integer: bool = False
    dtype: str = "float"

    def scores(self, col: pd.Series, rng: np.random.Generator) -> np.ndarray:
        """Normal scores of the observed values (NaN where missing)."""
        out = np.full(len(col), np.nan)
        seen = col.notna().to_numpy()
        vals = col[seen].to_numpy()
        if self.discrete:
            idx = np.searchsorted(self.values, vals) if self.dtype != "object" else \
                np.array([list(self.values).index(v) for v in vals])
            lo = np.concatenate([[0.0], self.cdf])[idx]
            hi = self.cdf[idx]
            u = lo + (hi - lo) * rng.random(len(idx))
        else:
            ranks = pd.Series(vals.astype(float)).rank(method="average").to_numpy()
            u = (ranks - 0.5) / len(vals)
        out[seen] = ndtri(np.clip(u, 1e-6, 1 - 1e-6))
        return out

    def invert(self, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.discrete:
            picked = self.values[np.minimum(np.searchsorted(self.cdf, u), len(self.values) - 1)]
        else:
            n = len(self.values)
            grid = (np.arange(n) + 0.5) / n
            picked = np.interp(u, grid, self.values)
            if self.integer:
                picked = np.round(picked)
        out = pd.Series(picked, dtype=object if self.dtype == "object" else float)
        if self.missing > 0:
            out[rng.random(len(out)) < self.missing] = np.nan
        return out.to_numpy()


def _describe(col: pd.Series) -> _Column:
    seen = col.dropna()
    missing = 1.0 - len(seen) / max(1, len(col))
    if not pd.api.types.is_numeric_dtype(col) or seen.nunique() <= _MAX_DISCRETE:
        counts = seen.value_counts(sort=False)
        try:
            counts = counts.sort_index()
        except TypeError:
            pass
        dtype = "float" if pd.api.types.is_numeric_dtype(col) else "object"
        values = counts.index.to_numpy(dtype=float if dtype == "float" else object)
        return _Column(col.name, missing, True, values, np.cumsum(counts.to_numpy()) / counts.sum(), dtype=dtype)
    values = np.sort(seen.to_numpy(dtype=float))
    integer = bool(np.all(values == np.round(values)))
    return _Column(col.name, missing, False, values, integer=integer)


@dataclass
class GaussianCopula:
    """One copula over all columns of a table."""

    columns: list[_Column]
    chol: np.ndarray

    @classmethod
    def fit(cls, frame: pd.DataFrame, rng: np.random.Generator, shrink: float = 0.05) -> "GaussianCopula":
        cols = [_describe(frame[c]) for c in frame.columns]
        z = np.column_stack([c.scores(frame[c.name], rng) for c in cols])
        z = np.where(np.isnan(z), 0.0, z)  # missing cells carry no dependence
        corr = np.corrcoef(z, rowvar=False) if z.shape[1] > 1 else np.ones((1, 1))
        corr = np.nan_to_num(corr, nan=0.0)
        corr = (1 - shrink) * corr + shrink * np.eye(len(cols))
        np.fill_diagonal(corr, 1.0)
        return cls(cols, np.linalg.cholesky(corr))

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        z = rng.standard_normal((n, len(self.columns))) @ self.chol.T
        u = ndtr(z)
        return pd.DataFrame({c.name: c.invert(u[:, i], rng) for i, c in enumerate(self.columns)})


@dataclass
class MixtureCopula:
    """One copula per group of rows; groups are drawn with their source frequencies."""

    groups: list[object]
    weights: np.ndarray
    parts: list[GaussianCopula]

    @classmethod
    def fit(cls, frame: pd.DataFrame, groups: pd.Series, rng: np.random.Generator) -> "MixtureCopula":
        keys = sorted(groups.unique(), key=str)
        parts = [GaussianCopula.fit(frame[(groups == k).to_numpy()].reset_index(drop=True), rng) for k in keys]
        weights = np.array([(groups == k).mean() for k in keys], dtype=float)
        return cls(keys, weights / weights.sum(), parts)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
        """Rows and, for each row, the group it was drawn from (in random order)."""
        counts = rng.multinomial(n, self.weights)
        frames, labels = [], []
        for key, part, count in zip(self.groups, self.parts, counts):
            if count:
                frames.append(part.sample(int(count), rng))
                labels += [key] * int(count)
        frame = pd.concat(frames, ignore_index=True)
        order = rng.permutation(n)
        return frame.iloc[order].reset_index(drop=True), np.asarray(labels, dtype=object)[order]
