"""Prepare digits-pixels: new 8x8 digit images augmented from scikit-learn's digits (see docs/tasks.md)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from dojo_nb.tasks.images import ImageSpec


def load_source() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return data.images.astype(float), data.target


SPEC = ImageSpec("digits-pixels", load_source, target="digit", n_train=15_000, n_test=5_000)
prepare = SPEC.prepare
