"""MLE-Dojo competitions import in place and grade as MLE-Dojo's interface grades them.

The three fixtures (tests/tasks/fixtures/mledojo, made by make_fixtures.py) follow MLE-Dojo's
layout with our own data and metric code. Expected scores are computed here independently, with
scikit-learn and numpy on the fixture files; position scores with MLE-Dojo's formula by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from dojo_nb.tasks import list_tasks, load_task
from dojo_nb.tasks.mledojo_import import import_data_dir
from dojo_nb.tasks.mlebench_remove import remove_imported
from dojo_nb.tasks.grading import grade_submission, validate_submission

FIXTURES = Path(__file__).parent / "fixtures" / "mledojo"
DATA = FIXTURES / "data"
CODE = FIXTURES / "MLE-Dojo" / "mledojo" / "competitions"
IDS = ["nomad2018-predict-transparent-conductors", "random-acts-of-pizza", "spaceship-titanic"]
CLI = [sys.executable, "-m", "dojo_nb.cli"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def imported(cache: Path) -> dict[str, object]:
    outcomes = import_data_dir(DATA, CODE)
    assert [o.competition for o in outcomes if o.imported] == IDS, [o.message for o in outcomes]
    return {cid: load_task(cid) for cid in IDS}


def _answers(cid: str) -> pd.DataFrame:
    return pd.read_csv(DATA / cid / "data" / "private" / "test_answer.csv")


def _rmsle(truth: pd.DataFrame, pred: pd.DataFrame) -> float:
    truth, pred = truth.sort_values("id").reset_index(drop=True), pred.sort_values("id").reset_index(drop=True)
    cols = ["formation_energy_ev_natom", "bandgap_energy_ev"]
    return float(np.mean([np.sqrt(np.mean((np.log(pred[c] + 1) - np.log(truth[c] + 1)) ** 2)) for c in cols]))


def _submissions(cid: str) -> dict[str, pd.DataFrame]:
    """sample, valid, perfect, shuffled, missing-column and wrong-ids files of a competition."""
    answers = _answers(cid)
    key, target = answers.columns[0], answers.columns[1]
    rng = np.random.default_rng(5)
    valid = answers.copy()
    if cid == "spaceship-titanic":
        valid.loc[:6, target] = ~valid.loc[:6, target]  # 7 wrong
    elif cid == "random-acts-of-pizza":
        valid[target] = (0.6 * answers[target] + 0.7 * rng.random(len(answers))).round(4)
    else:
        valid[answers.columns[1:]] = (answers[answers.columns[1:]] * 1.15).round(4)
    wrong = answers.copy()
    wrong.loc[0, key] = wrong.loc[0, key] + 10**6 if cid.startswith("nomad") else "not-an-id"
    return {"sample": pd.read_csv(DATA / cid / "data" / "public" / "sample_submission.csv"), "valid": valid,
            "perfect": answers, "shuffled": answers.sample(frac=1.0, random_state=3),
            "missing-column": answers.drop(columns=[target]), "wrong-ids": wrong}


def _expected(cid: str, kind: str, frame: pd.DataFrame) -> float | str:
    """The score, or a fragment of the refusal, MLE-Dojo gives with the fixture's metric code."""
    answers = _answers(cid)
    target = answers.columns[1]
    if kind == "missing-column":
        return f"Columns missing from the submission: {target}"
    if kind == "wrong-ids":
        return "PassengerId values of the submission differ" if cid == "spaceship-titanic" else \
            "first column of the submission does not hold the answers' ids"
    merged = answers.merge(frame, on=answers.columns[0], suffixes=("", "_pred"))
    if cid == "spaceship-titanic":
        return accuracy_score(merged[target], merged[f"{target}_pred"])
    if cid == "random-acts-of-pizza":
        return roc_auc_score(merged[target], merged[f"{target}_pred"])
    return _rmsle(answers, frame)


CASES = [(cid, kind) for cid in IDS for kind in ("sample", "valid", "perfect", "shuffled", "missing-column", "wrong-ids")]


@pytest.mark.parametrize("cid,kind", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_grades_match_independent_scores(cid: str, kind: str, imported, tmp_path: Path) -> None:
    task = imported[cid]
    frame = _submissions(cid)[kind]
    path = tmp_path / "submission.csv"
    frame.to_csv(path, index=False)
    expected = _expected(cid, kind, frame)
    report = grade_submission(task, path)
    if isinstance(expected, str):
        assert not report.valid and expected in report.message, report.message
        assert not validate_submission(task, path).ok
        return
    assert report.valid, report.message
    assert report.private_score == pytest.approx(expected, abs=1e-12)
    assert report.extra["mledojo"]["helpers"] == "stand-in"
    print(f"\n{cid} {kind}: {report.private_score:.6f} (expected {expected:.6f})")


def _position(score: float, board: Path, higher: bool) -> float:
    scores = sorted(pd.read_csv(board)["score"], reverse=higher)
    p = next((i + 1 for i, s in enumerate(scores) if (score >= s if higher else score <= s)), len(scores) + 1)
    return (len(scores) - p + 1) / len(scores)


@pytest.mark.parametrize("cid", IDS)
def test_position_scores_and_facts(cid: str, imported, tmp_path: Path) -> None:
    task = imported[cid]
    path = tmp_path / "valid.csv"
    _submissions(cid)["valid"].to_csv(path, index=False)
    report = grade_submission(task, path)
    higher = cid != "nomad2018-predict-transparent-conductors"
    assert task.lower_is_better is not higher and report.lower_is_better is not higher
    info = CODE / cid / "info"
    assert report.private_position_score == pytest.approx(_position(report.private_score, info / "private_leaderboard.csv", higher))
    # The per-submit score is the grader on the hashed public subset (MLE-Dojo's answers have no
    # split), so its position is on the public board; the private one is on the whole file.
    assert report.public_score is not None
    assert report.public_position_score == pytest.approx(_position(report.public_score, info / "public_leaderboard.csv", higher))
    assert task.id_column == _answers(cid).columns[0]
    assert task.description.startswith("### Description")
    assert task.type == {"spaceship-titanic": "binary", "random-acts-of-pizza": "binary"}.get(cid, "regression")


def test_bulk_cli_splits_and_untouched_raw(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    before = {str(p.relative_to(data)): p.stat().st_mtime_ns for p in data.rglob("*")}
    env = {**os.environ, "DOJO_NB_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([*CLI, "tasks", "import-mledojo", "--data-dir", str(data), "--competitions-dir", str(CODE)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "3 of 3 imported" in out.stdout, out.stdout + out.stderr

    def ids(split: str) -> list[str]:
        got = subprocess.run([*CLI, "tasks", "list", "--split", split, "--json"], capture_output=True, text=True, env=env)
        assert got.returncode == 0, got.stdout + got.stderr
        return [t["id"] for t in json.loads(got.stdout)]

    assert ids("mledojo") == IDS
    assert ids("mledojo-mle-lite") == ["nomad2018-predict-transparent-conductors", "random-acts-of-pizza"]
    assert ids("mledojo-training") == ["spaceship-titanic"]
    assert ids("mlebench") == []
    sample = tmp_path / "s.csv"
    shutil.copy(data / "spaceship-titanic" / "data" / "public" / "sample_submission.csv", sample)
    graded = subprocess.run([*CLI, "grade", "spaceship-titanic", str(sample), "--json"], capture_output=True, text=True, env=env)
    assert json.loads(graded.stdout)["valid"], graded.stdout
    for cid in IDS:  # prepare.py (which deletes raw/) never ran; nothing of the user's changed
        assert (data / cid / "raw" / f"{cid}.zip").is_file()
    assert {str(p.relative_to(data)): p.stat().st_mtime_ns for p in data.rglob("*")} == before


def test_missing_parts_are_reported_per_competition(cache: Path, tmp_path: Path) -> None:
    data, code = tmp_path / "data", tmp_path / "competitions"
    shutil.copytree(DATA, data)
    shutil.copytree(CODE, code)
    (data / "spaceship-titanic" / "data" / "private" / "test_answer.csv").unlink()
    (code / "random-acts-of-pizza" / "utils" / "metric.py").unlink()
    by_id = {o.competition: o for o in import_data_dir(data, code)}
    assert "not prepared" in by_id["spaceship-titanic"].message and "test_answer.csv" in by_id["spaceship-titanic"].message
    assert "unknown grader" in by_id["random-acts-of-pizza"].message
    assert by_id["nomad2018-predict-transparent-conductors"].imported
    assert [t.id for t in list_tasks("mledojo")] == ["nomad2018-predict-transparent-conductors"]
    remove_imported("nomad2018-predict-transparent-conductors")
    assert list_tasks("mledojo") == []
