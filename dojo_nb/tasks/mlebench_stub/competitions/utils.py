"""Input preparation for common metrics, with the checks MLE-bench's graders rely on.

Problems with the submission raise InvalidSubmissionError; problems with the answers (a broken
competition, not a bad submission) are assertions, as in MLE-bench.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import softmax

from ..grade_helpers import InvalidSubmissionError

_log = logging.getLogger(__name__)


def df_to_one_hot(df: pd.DataFrame, id_column: str, target_column: str, classes: list[str]) -> pd.DataFrame:
    """One row per input row: the id, then a 0/1 column per class (1 at the row's label)."""
    out = pd.DataFrame(0, index=df.index, columns=[id_column, *classes])
    out[id_column] = df[id_column]
    for index, label in zip(df.index, df[target_column]):
        out.loc[index, label] = 1
    return out


def is_one_hot_encoded(xs: np.ndarray) -> bool:
    """Every entry 0 or 1 and every row summing to 1."""
    if not isinstance(xs, np.ndarray) or xs.ndim != 2:
        raise AssertionError("expected a 2-D numpy array")
    binary = bool(np.all((xs == 0) | (xs == 1)))
    return bool(binary and np.allclose(xs.sum(axis=-1), 1))


def one_hot_dfs_to_log_loss_inputs(submission_one_hot: pd.DataFrame, answers_one_hot: pd.DataFrame,
                                   id_column: str = "id", apply_softmax: bool = True) -> dict:
    """Align a probability submission with one-hot answers (by id, in the answers' column order)."""
    wanted = list(answers_one_hot.columns)
    absent = set(wanted) - set(submission_one_hot.columns)
    if absent:
        raise InvalidSubmissionError(f"the submission lacks column(s) the answers have: {sorted(absent)}")
    if id_column not in submission_one_hot.columns:
        raise InvalidSubmissionError(f"the submission has no {id_column!r} column")
    if id_column not in answers_one_hot.columns:
        raise AssertionError(f"the answers have no {id_column!r} column")
    sub = submission_one_hot[wanted].sort_values(by=id_column).reset_index(drop=True)
    ans = answers_one_hot.sort_values(by=id_column).reset_index(drop=True)
    if sub[id_column].tolist() != ans[id_column].tolist():
        differing = len(set(sub[id_column]) ^ set(ans[id_column]))
        raise AssertionError(f"the submission's {id_column} values differ from the answers' "
                             f"({differing} id(s) in one but not the other)")
    y_true = ans.drop(columns=[id_column]).to_numpy()
    y_pred = sub.drop(columns=[id_column]).to_numpy()
    if apply_softmax:
        if is_one_hot_encoded(y_pred):
            _log.warning("apply_softmax is set but the submission is one-hot already: not applied")
        else:
            y_pred = softmax(y_pred, axis=-1)
    return {"y_true": y_true, "y_pred": y_pred}


def rle_decode(rle_string: str, height: int, width: int) -> np.ndarray:
    """A (height, width) boolean mask from 1-based, column-major "start length" pairs."""
    if not isinstance(rle_string, str):
        raise AssertionError(f"expected an RLE string, got {type(rle_string)}: {rle_string}")
    if not isinstance(height, int) or not isinstance(width, int):
        raise AssertionError("height and width must be integers")
    if not rle_string.strip():
        return np.zeros((height, width), dtype=bool)
    numbers = [int(t) for t in rle_string.split()]
    starts, lengths = numbers[0::2], numbers[1::2]
    if starts != sorted(starts):
        raise AssertionError("RLE starts must be in increasing order")
    if any(s <= 0 for s in starts) or any(n <= 0 for n in lengths):
        raise AssertionError("RLE starts and lengths must be positive")
    flat = np.zeros(height * width, dtype=bool)
    for start, length in zip(starts, lengths):
        lo, hi = start - 1, start - 1 + length
        if flat[lo:hi].any():
            raise AssertionError("RLE runs overlap")
        flat[lo:hi] = True
    return flat.reshape((width, height)).T


def rle_encode(x: np.ndarray, fg_val: int = 1) -> list[int]:
    """Inverse of rle_decode: [start, length, ...] over the column-major flattening."""
    positions = np.flatnonzero(x.T.flatten() == fg_val)
    runs: list[int] = []
    previous = -2
    for p in positions:
        if p != previous + 1:
            runs += [int(p) + 1, 0]
        runs[-1] += 1
        previous = p
    return runs


def rles_to_masks(rl_encodings: list[str], image_heights: list[int], image_widths: list[int]) -> list[np.ndarray]:
    return [rle_decode(r, height=h, width=w) for r, h, w in zip(rl_encodings, image_heights, image_widths)]


def get_ids_from_tf_records(tf_record_path: Path, id_feature: str = "image_name") -> list[str]:
    """Ids stored in a TFRecord file (needs TensorFlow, imported only here)."""
    import tensorflow as tf

    ids = []
    for record in tf.data.TFRecordDataset(Path(tf_record_path).as_posix()):
        example = tf.train.Example.FromString(record.numpy())
        ids.append(example.features.feature[id_feature].bytes_list.value[0].decode("utf-8"))
    return ids


def prepare_for_accuracy_metric(submission: pd.DataFrame, answers: pd.DataFrame,
                                target_column: str, id_column: str) -> dict:
    """y_true and y_pred aligned by id, after checking the submission's length, columns and ids."""
    for column in (target_column, id_column):
        if column not in answers.columns:
            raise AssertionError(f"the answers have no {column!r} column")
    if len(submission) != len(answers):
        raise InvalidSubmissionError(f"the submission has {len(submission)} rows; the answers have {len(answers)}")
    for column in (target_column, id_column):
        if column not in submission.columns:
            raise InvalidSubmissionError(f"the submission has no {column!r} column")
    submission = submission.sort_values(id_column)
    answers = answers.sort_values(id_column)
    if (submission[id_column].values != answers[id_column].values).any():
        raise InvalidSubmissionError(f"the submission's {id_column!r} values are not the answers'")
    return {"y_true": answers[target_column].to_numpy(), "y_pred": submission[target_column].to_numpy()}


def prepare_for_auroc_metric(submission: pd.DataFrame, answers: pd.DataFrame, id_col: str, target_col: str) -> dict:
    """y_true and y_score aligned by id, after checking columns, length, numeric range and ids."""
    for column in (id_col, target_col):
        if column not in answers.columns:
            raise AssertionError(f"the answers have no {column!r} column")
    for column in (id_col, target_col):
        if column not in submission.columns:
            raise InvalidSubmissionError(f"the submission has no {column!r} column")
    if len(submission) != len(answers):
        raise InvalidSubmissionError(f"the submission has {len(submission)} rows; the answers have {len(answers)}")
    try:
        pd.to_numeric(submission[target_col])
    except ValueError:
        raise InvalidSubmissionError(
            f"{target_col!r} must be numeric; its values are of type {submission[target_col].dtype}") from None
    if submission[target_col].min() < 0 or submission[target_col].max() > 1:
        raise InvalidSubmissionError(f"{target_col!r} holds probabilities: every value must be in [0, 1]")
    submission = submission.sort_values(id_col)
    answers = answers.sort_values(id_col)
    if (submission[id_col].values != answers[id_col].values).any():
        raise InvalidSubmissionError(f"the submission's {id_col!r} values are not the answers'")
    return {"y_true": answers[target_col].to_numpy(), "y_score": submission[target_col].to_numpy()}
