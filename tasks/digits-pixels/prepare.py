"""Prepare digits-pixels: scikit-learn's bundled optical recognition of handwritten digits data (UCI): 8x8 grey images. Deterministic (fixed seed); writes the uniform dojo-nb layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits

from dojo_nb.tasks.preparing import split_rows, write_competition


def prepare(raw, public, private):
    data = load_digits()
    columns = [f"px_{r}_{c}" for r in range(8) for c in range(8)]
    frame = pd.DataFrame(data.data.astype(np.int64), columns=columns)
    frame["digit"] = data.target.astype(int)
    train, test = split_rows(frame, test_size=0.4, stratify="digit")
    write_competition(public, private, train, test, target="digit", kind="label")
