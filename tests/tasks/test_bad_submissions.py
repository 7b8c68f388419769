"""Every kind of bad submission gets a precise message from validate and grade, never an exception."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dojo_nb.tasks import load_task
from dojo_nb.tasks.grading import grade_submission, validate_submission
from dojo_nb.tasks.cache import prepare_task

BIN = load_task("breast-cancer")          # probability, one column
MULTI = load_task("penguins-species")     # probability, one column per class
LABEL = load_task("iris-species")         # label
RMSLE = load_task("randhie-visits")       # value, non-negative


def sample(task) -> pd.DataFrame:
    return pd.read_csv(prepare_task(task).public_dir / "sample_submission.csv")


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "submission.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def check(task, path: Path, *fragments: str) -> None:
    v = validate_submission(task, path)
    g = grade_submission(task, path)
    assert not v.ok and not g.valid
    for fragment in fragments:
        assert fragment in v.message, v.message
        assert fragment in g.message, g.message


def test_missing_file(tmp_path: Path) -> None:
    check(BIN, tmp_path / "nope.csv", "no submission file")


def test_binary_bytes(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(os.urandom(2000) + b"\x00")
    check(BIN, path, "binary")


def test_wrong_encoding(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes("id,target\n".encode() + "0,caf\xe9\n".encode("latin-1"))
    check(BIN, path, "not UTF-8")


def test_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text('id,target\n1,"unterminated\n')
    check(BIN, path, "not a readable CSV")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("")
    check(BIN, path, "empty")


def test_too_big(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    with open(path, "wb") as fh:
        fh.truncate(int(BIN.max_submission_mb * 1024 * 1024) + 10)
    check(BIN, path, "over the")


def test_missing_and_extra_columns(tmp_path: Path) -> None:
    frame = sample(BIN).rename(columns={"target": "prediction"})
    check(BIN, write(tmp_path, frame), "missing column(s) 'target'", "unexpected column(s) 'prediction'")


def test_wrong_row_count(tmp_path: Path) -> None:
    check(BIN, write(tmp_path, sample(BIN).iloc[:-3]), "rows; expected")


def test_duplicated_ids(tmp_path: Path) -> None:
    frame = sample(BIN)
    frame.loc[1, "id"] = frame.loc[0, "id"]
    check(BIN, write(tmp_path, frame), "duplicated id")


def test_unknown_ids(tmp_path: Path) -> None:
    frame = sample(BIN)
    frame.loc[0, "id"] = 999999
    check(BIN, write(tmp_path, frame), "not in test.csv", "missing ids")


def test_nan_predictions(tmp_path: Path) -> None:
    frame = sample(BIN)
    frame.loc[2, "target"] = None
    check(BIN, write(tmp_path, frame), "missing/NaN")


def test_non_numeric_predictions(tmp_path: Path) -> None:
    frame = sample(BIN).astype({"target": object})
    frame.loc[2, "target"] = "high"
    check(BIN, write(tmp_path, frame), "non-numeric", "'high'")


def test_csv_injection_is_just_bad_data(tmp_path: Path) -> None:
    frame = sample(BIN).astype({"target": object})
    frame.loc[0, "target"] = "=cmd|' /C calc'!A0"
    check(BIN, write(tmp_path, frame), "non-numeric")


def test_probability_out_of_range(tmp_path: Path) -> None:
    frame = sample(MULTI)
    frame.loc[0, "Adelie"] = 1.5
    check(MULTI, write(tmp_path, frame), "outside [0, 1]")


def test_unknown_label(tmp_path: Path) -> None:
    frame = sample(LABEL)
    frame.loc[0, "species"] = "dandelion"
    check(LABEL, write(tmp_path, frame), "unknown label", "'dandelion'")


def test_negative_for_rmsle(tmp_path: Path) -> None:
    frame = sample(RMSLE)
    frame.loc[0, "mdvis"] = -1
    check(RMSLE, write(tmp_path, frame), "negative")


def test_symlink_to_answers_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "submission.csv"
    link.symlink_to(prepare_task(BIN).answers_path)
    check(BIN, link, "symbolic link")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "random.csv"
    path.write_bytes(blob)
    v = validate_submission(BIN, path)
    g = grade_submission(BIN, path)
    assert not v.ok and not g.valid and v.message and g.message


def test_valid_submission_grades_public_and_private(tmp_path: Path) -> None:
    report = grade_submission(BIN, prepare_task(BIN).public_dir / "sample_submission.csv")
    assert report.valid
    view = report.public_view()
    assert "private_score" not in view and "public_score" in view
