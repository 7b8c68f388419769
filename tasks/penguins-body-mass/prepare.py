"""Prepare penguins-body-mass: playground rows generated from the palmerpenguins data (see docs/tasks.md)."""

from __future__ import annotations

import palmerpenguins
import pandas as pd

from dojo_nb.tasks.playground import TabularSpec

COLUMNS = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "sex", "year", "body_mass_g"]


def load_source() -> pd.DataFrame:
    return palmerpenguins.load_penguins().dropna(subset=["body_mass_g"])[COLUMNS]


SPEC = TabularSpec("penguins-body-mass", load_source, target="body_mass_g", kind="regression",
                   n_train=50_000, n_test=20_000, submission_kind="value", id_prefix="pm",
                   clusters=6, target_decimals=0, decimals=1,
                   missing={"bill_length_mm": 0.03, "flipper_length_mm": 0.02, "island": 0.02})
prepare = SPEC.prepare
