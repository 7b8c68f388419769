"""Prepare synthetic-binary-logloss: scikit-learn's make_classification with the task's secret seed.

The one deliberately small task (3,000 rows): the fast fixture of the test suite. Its source is
a generator, not a table, so the secret seed alone keeps its answers out of reach.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from dojo_nb.tasks.playground import random_ids
from dojo_nb.tasks.authoring import split_rows, write_competition
from dojo_nb.tasks.secret import task_seed

COLUMNS = [f"f{i:02d}" for i in range(20)]


def generate(seed: int) -> pd.DataFrame:
    X, y = make_classification(n_samples=3000, n_features=20, n_informative=6, n_redundant=4,
                               flip_y=0.05, class_sep=0.8, random_state=seed % 2**32)
    frame = pd.DataFrame(X.round(5), columns=COLUMNS)
    frame["target"] = y
    return frame


def rows() -> tuple[int, int]:
    """Train and test rows: the same at every task size (the suite's small task)."""
    return 2100, 900


def load_source() -> pd.DataFrame:
    """The generator at its documented example seed (11): a legitimate, unrelated draw."""
    return generate(11)


def build(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_rows(generate(seed), test_size=0.3, stratify="target", seed=seed % 2**32)


def prepare(raw, public, private):
    seed = task_seed("synthetic-binary-logloss")
    train, test = build(seed)
    ids = random_ids(np.random.default_rng(seed + 1), len(train) + len(test), "s")
    write_competition(public, private, train, test, target="target", kind="probability", ids=ids,
                      seed=seed % 2**32)
