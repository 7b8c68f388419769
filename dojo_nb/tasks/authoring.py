"""The authoring kit task folders' prepare.py import (the cache that runs them is tasks/cache.py): one uniform public/private layout for every built-in task.

public/train.csv          id, features..., the target (label_column)
public/test.csv           id, features...
public/sample_submission.csv   id + target_columns, a valid constant submission
private/answers.csv       id, the target, Usage (Public | Private: Kaggle's two leaderboards)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

SEED = 20261122


def split_rows(frame: pd.DataFrame, *, test_size: float = 0.3, stratify: str | None = None,
               seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic random train/test split (stratified on a column when asked)."""
    strat = frame[stratify] if stratify else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=strat)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_time(frame: pd.DataFrame, *, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last `horizon` rows are the future to forecast."""
    return frame.iloc[:-horizon].reset_index(drop=True), frame.iloc[-horizon:].reset_index(drop=True)


def write_competition(public: Path, private: Path, train: pd.DataFrame, test: pd.DataFrame, *,
                      target: str, kind: str, classes: Sequence[str] = (), id_prefix: str = "",
                      public_fraction: float = 0.3, seed: int = SEED, ids_start: int = 0,
                      ids: Sequence[str] | None = None) -> None:
    """Write the uniform layout. `kind` is the submission kind: label, probability or value.

    `ids` (train rows' then test rows') replaces the default running numbers."""
    train = train.copy()
    test = test.copy()
    n_train = len(train)
    if ids is None:
        ids = [f"{id_prefix}{i}" if id_prefix else i for i in range(ids_start, ids_start + n_train + len(test))]
    train.insert(0, "id", list(ids[:n_train]))
    test_ids = list(ids[n_train:n_train + len(test)])
    test.insert(0, "id", test_ids)
    answers = test[["id", target]].copy()
    rng = np.random.default_rng(seed)
    usage = np.where(rng.random(len(answers)) < public_fraction, "Public", "Private")
    if (usage == "Public").sum() == 0:
        usage[0] = "Public"
    if (usage == "Private").sum() == 0:
        usage[-1] = "Private"
    answers["Usage"] = usage
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=[target]).to_csv(public / "test.csv", index=False)
    answers.to_csv(private / "answers.csv", index=False)
    sample = pd.DataFrame({"id": test_ids})
    if kind == "label":
        sample[target] = train[target].mode().iloc[0]
    elif kind == "probability" and classes:
        for c in classes:
            sample[str(c)] = round(1.0 / len(classes), 6)
    elif kind == "probability":
        sample[target] = 0.5
    else:
        sample[target] = round(float(train[target].mean()), 6)
    sample.to_csv(public / "sample_submission.csv", index=False)
