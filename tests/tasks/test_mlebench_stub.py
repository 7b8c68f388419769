"""dojo-nb's stand-in `mlebench` helpers: the checks and values graders rely on.

Expected values come from scikit-learn / numpy directly or are worked out by hand here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from dojo_nb.tasks import grading
from dojo_nb.tasks.mlebench_loader import ensure_mlebench, grade_entry, load_grade_fn
from dojo_nb.tasks.mlebench_stub.competitions import utils as cu
from dojo_nb.tasks.mlebench_stub.grade_helpers import InvalidSubmissionError
from dojo_nb.tasks.mlebench_stub.metrics import average_precision_at_k, dice_coefficient, mean_average_precision_at_k
from dojo_nb.tasks.mlebench_stub.utils import load_answers, read_csv


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    answers = pd.DataFrame({"id": [3, 1, 2], "y": [1, 0, 1]})
    submission = pd.DataFrame({"id": [1, 2, 3], "y": [0.1, 0.7, 0.9]})
    return submission, answers


def test_auroc_inputs_align_by_id() -> None:
    sub, ans = _frames()
    out = cu.prepare_for_auroc_metric(sub, ans, id_col="id", target_col="y")
    assert out["y_true"].tolist() == [0, 1, 1] and out["y_score"].tolist() == [0.1, 0.7, 0.9]


@pytest.mark.parametrize("change, words", [
    (lambda s: s.drop(columns="y"), "no 'y' column"),
    (lambda s: s.drop(columns="id"), "no 'id' column"),
    (lambda s: s.iloc[:2], "2 rows"),
    (lambda s: s.assign(y=["a", "b", "c"]), "numeric"),
    (lambda s: s.assign(y=[0.1, 1.5, 0.2]), "[0, 1]"),
    (lambda s: s.assign(id=[1, 2, 4]), "not the answers'"),
])
def test_auroc_refusals(change, words: str) -> None:
    sub, ans = _frames()
    with pytest.raises(InvalidSubmissionError, match=None) as info:
        cu.prepare_for_auroc_metric(change(sub), ans, id_col="id", target_col="y")
    assert words in str(info.value)


def test_auroc_broken_answers_are_assertions() -> None:
    sub, ans = _frames()
    with pytest.raises(AssertionError):
        cu.prepare_for_auroc_metric(sub, ans.drop(columns="y"), id_col="id", target_col="y")


def test_accuracy_inputs() -> None:
    ans = pd.DataFrame({"k": ["b", "a"], "t": [True, False]})
    sub = pd.DataFrame({"k": ["a", "b"], "t": [False, False]})
    out = cu.prepare_for_accuracy_metric(sub, ans, target_column="t", id_column="k")
    assert out["y_true"].tolist() == [False, True] and out["y_pred"].tolist() == [False, False]
    with pytest.raises(InvalidSubmissionError, match="rows"):
        cu.prepare_for_accuracy_metric(sub.iloc[:1], ans, target_column="t", id_column="k")
    with pytest.raises(InvalidSubmissionError, match="'k'"):
        cu.prepare_for_accuracy_metric(sub.assign(k=["a", "c"]), ans, target_column="t", id_column="k")


def test_one_hot_and_log_loss_inputs() -> None:
    labels = pd.DataFrame({"id": ["b", "a", "c"], "author": ["X", "Y", "X"]})
    one_hot = cu.df_to_one_hot(labels, id_column="id", target_column="author", classes=["X", "Y"])
    assert one_hot.to_dict("list") == {"id": ["b", "a", "c"], "X": [1, 0, 1], "Y": [0, 1, 0]}
    sub = pd.DataFrame({"id": ["a", "b", "c"], "Y": [2.0, 0.0, 1.0], "X": [0.0, 1.0, 1.0]})
    out = cu.one_hot_dfs_to_log_loss_inputs(sub, one_hot, id_column="id", apply_softmax=True)
    assert out["y_true"].tolist() == [[0, 1], [1, 0], [1, 0]]  # sorted by id, answers' column order
    assert np.allclose(out["y_pred"], softmax(np.array([[0.0, 2.0], [1.0, 0.0], [1.0, 1.0]]), axis=-1))
    raw = cu.one_hot_dfs_to_log_loss_inputs(sub, one_hot, id_column="id", apply_softmax=False)
    assert raw["y_pred"].tolist() == [[0.0, 2.0], [1.0, 0.0], [1.0, 1.0]]
    with pytest.raises(InvalidSubmissionError, match="lacks"):
        cu.one_hot_dfs_to_log_loss_inputs(sub.drop(columns="X"), one_hot)
    with pytest.raises(AssertionError):
        cu.one_hot_dfs_to_log_loss_inputs(sub.assign(id=["a", "b", "z"]), one_hot)
    assert cu.is_one_hot_encoded(np.array([[0, 1], [1, 0]])) and not cu.is_one_hot_encoded(np.array([[0.5, 0.5]]))


def test_rle_round_trip() -> None:
    mask = np.zeros((4, 3), dtype=bool)
    mask[1:3, 0] = True
    mask[0, 2] = True
    runs = cu.rle_encode(mask.astype(int))
    assert runs == [2, 2, 9, 1]  # column-major, 1-based: rows 2-3 of column 1, row 1 of column 3
    assert (cu.rle_decode(" ".join(map(str, runs)), 4, 3) == mask).all()
    assert not cu.rle_decode("", 4, 3).any()
    with pytest.raises(AssertionError):
        cu.rle_decode("3 2 2 1", 4, 3)  # starts not increasing
    assert [m.shape for m in cu.rles_to_masks(["1 1", ""], [2, 3], [2, 1])] == [(2, 2), (3, 1)]


def test_ranking_metrics() -> None:
    assert average_precision_at_k({"a"}, ["b", "a", "c"], k=5) == pytest.approx(0.5)
    assert average_precision_at_k({"a", "c"}, ["a", "a", "c"], k=5) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision_at_k({"a"}, ["b", "c", "d", "e", "f", "a"], k=5) == 0.0
    assert average_precision_at_k(set(), ["a"], k=5) == 0.0
    assert mean_average_precision_at_k([{"a"}, {"b"}], [["a"], ["c", "b"]], k=5) == pytest.approx(0.75)
    a = np.array([[1, 1], [0, 0]])
    b = np.array([[1, 0], [0, 0]])
    assert dice_coefficient(a, b) == pytest.approx(2 / 3)
    assert np.isnan(dice_coefficient(np.zeros(3), np.zeros(3)))
    assert dice_coefficient(np.zeros(3), np.zeros(3), both_empty_value=1.0) == 1.0


def test_readers(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,x\n1,0.1000000000000000055511151231257827\n")
    frame = read_csv(tmp_path / "a.csv")
    assert frame["x"].iloc[0] == 0.1  # round-trip parsing
    (tmp_path / "e.csv").write_text("")
    assert read_csv(tmp_path / "e.csv").empty
    (tmp_path / "a.jsonl").write_text('{"k": 1}\n{"k": [2]}\n')
    assert load_answers(tmp_path / "a.jsonl") == [{"k": 1}, {"k": [2]}]
    assert load_answers(tmp_path / "a.csv").shape == (1, 2)
    with pytest.raises(ValueError):
        load_answers(tmp_path / "a.json")


def test_alias_and_entry(tmp_path: Path) -> None:
    assert ensure_mlebench() in ("stand-in", "installed")
    if sys.modules["mlebench"].__name__ == "dojo_nb.tasks.mlebench_stub":
        from mlebench.grade_helpers import InvalidSubmissionError as Aliased
        assert Aliased is InvalidSubmissionError
    assert grade_entry("mlebench.competitions.spaceship-titanic.grade:grade") == "grade:grade"
    assert grade_entry("mlebench.competitions.x.sub.scoring:score") == "sub.scoring:score"
    assert grade_entry(None) == "grade:grade"


def test_a_grader_that_cannot_load_says_why(tmp_path: Path) -> None:
    (tmp_path / "grade.py").write_text("import module_that_is_not_there\n\ndef grade(s, a):\n    return 0.0\n")
    with pytest.raises(ModuleNotFoundError, match="module_that_is_not_there"):
        load_grade_fn(tmp_path)
    (tmp_path / "grade.py").write_text("from .helper import VALUE\n\ndef grade(s, a):\n    return VALUE\n")
    (tmp_path / "helper.py").write_text("VALUE = 0.5\n")
    assert load_grade_fn(tmp_path)(None, None) == 0.5  # reloaded: the failed import left nothing cached
    assert grading._Invalid  # the grading module's refusal type, reused by mlebench_grading
