"""Ranking and mask metrics some graders import from `mlebench.metrics`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_precision_at_k(actual: set, predicted: list, k: int) -> float:
    """AP@k: precision at each rank holding a first-time hit, averaged over min(|actual|, k)."""
    if not actual:
        return 0.0
    seen: set = set()
    hits = 0
    total = 0.0
    for rank, item in enumerate(list(predicted)[:k], start=1):
        if item in actual and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / min(len(actual), k)


def mean_average_precision_at_k(actual: Sequence[set], predicted: Sequence[list], k: int) -> float:
    """MAP@k over paired rows."""
    return float(np.mean([average_precision_at_k(a, p, k) for a, p in zip(actual, predicted)]))


def dice_coefficient(predicted_mask: np.ndarray, true_mask: np.ndarray,
                     both_empty_value: float = np.nan) -> float:
    """2|A∩B| / (|A|+|B|); `both_empty_value` when neither mask has a pixel."""
    if predicted_mask.shape != true_mask.shape:
        raise AssertionError(f"mask shapes differ: {predicted_mask.shape} vs {true_mask.shape}")
    denominator = np.sum(predicted_mask) + np.sum(true_mask)
    if denominator == 0:
        return both_empty_value
    return float(2 * np.sum(predicted_mask * true_mask) / denominator)
