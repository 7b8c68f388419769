"""Prepare penguins-species: playground rows generated from the palmerpenguins data (see docs/tasks.md)."""

from __future__ import annotations

import palmerpenguins
import pandas as pd

from dojo_nb.tasks.playground import TabularSpec

COLUMNS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year", "species"]


def load_source() -> pd.DataFrame:
    return palmerpenguins.load_penguins()[COLUMNS]


SPEC = TabularSpec("penguins-species", load_source, target="species", kind="classification",
                   n_train=20_000, n_test=8_000, submission_kind="probability",
                   classes=("Adelie", "Chinstrap", "Gentoo"), id_prefix="pg", flip=0.03, decimals=1,
                   missing={"bill_depth_mm": 0.03, "body_mass_g": 0.02, "sex": 0.05})
prepare = SPEC.prepare
