"""Every built-in task prepares, validates its sample, and its leaderboard ranks real solutions sensibly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dojo_nb.tasks import list_tasks, load_task
from dojo_nb.tasks.reference import constant_reference, ladder
from dojo_nb.tasks.secret import SECRET_NAME, secret_path, task_seed
from dojo_nb.tasks.size import published_rows
from dojo_nb.tasks.grading import grade_submission, validate_submission
from dojo_nb.tasks.leaderboard import load_leaderboard
from dojo_nb.tasks.cache import prepare_task

TASKS = list_tasks()
#: One task per family runs in the default `pytest`; every task (new ones too) in `pytest -m slow`.
QUICK = {"synthetic-binary-logloss", "iris-species", "penguins-body-mass", "co2-forecast", "digits-pixels"}
EVERY_TASK = [t if t.id in QUICK else pytest.param(t, marks=pytest.mark.slow) for t in TASKS]



SMALL_TASK = "synthetic-binary-logloss"  # the suite's deliberately small, fast task


def test_catalogue_is_broad() -> None:
    assert len(TASKS) >= 16
    assert sum(t.split == "eval" for t in TASKS) >= 6
    for t in TASKS:  # every task declares the dataset it is generated from (the lookup test uses it)
        assert t.source_dataset.get("package") and t.source_dataset.get("loader"), t.id
    types = {t.type for t in TASKS}
    assert {"binary", "multiclass", "regression", "forecasting", "image"} <= types
    metrics = {t.metric for t in TASKS}
    assert {"accuracy", "roc_auc", "log_loss", "macro_f1", "rmse", "rmsle", "mae", "quadratic_weighted_kappa"} <= metrics
    assert {t.split for t in TASKS} == {"train", "eval"}


def test_ids_are_strings_in_most_tasks() -> None:
    kinds = {t.id: pd.read_csv(prepare_task(t).public_dir / "test.csv", usecols=[t.id_column])[t.id_column].dtype.kind
             for t in TASKS if t.id in ("iris-species", "penguins-species", "breast-cancer", SMALL_TASK)}
    assert kinds["breast-cancer"] in "iu"  # Kaggle's playground ids are integers; ours are mostly strings
    assert all(kind not in "iuf" for tid, kind in kinds.items() if tid != "breast-cancer"), kinds


def test_unknown_task_lists_known_ids() -> None:
    with pytest.raises(KeyError, match="iris-species"):
        load_task("no-such-task")


@pytest.mark.parametrize("task", EVERY_TASK, ids=[t.id for t in TASKS])
def test_task_end_to_end(task, tmp_path: Path) -> None:
    data = prepare_task(task)
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        assert (data.public_dir / name).is_file(), name
    assert not any(p.name == "answers.csv" for p in data.public_dir.iterdir())
    test = pd.read_csv(data.public_dir / "test.csv")
    assert task.train_target not in test.columns  # the answers are not in the public data

    sample = data.public_dir / "sample_submission.csv"
    assert validate_submission(task, sample).ok, validate_submission(task, sample).message

    train = pd.read_csv(data.public_dir / "train.csv")
    assert (len(train), len(test)) == published_rows(task)  # what `tasks list` shows is what is prepared
    assert train[task.id_column].is_unique
    constant = tmp_path / "constant.csv"
    constant_reference(task).predict(train, test).to_csv(constant, index=False)
    low = grade_submission(task, constant)
    assert low.valid, low.message
    assert low.medal is None, f"constant prediction earns a medal: {low}"
    if task.type != "forecasting":  # a series' own long-run mean is a fair forecast of a cycle (sunspots)
        assert low.private_position_score <= 0.5, f"constant prediction ranks too high: {low}"
        assert not low.above_median

    # The board was built at preparation from the reference ladder on this installation's draw:
    # its top entry, re-run from its reference here, lands exactly on its recorded score and takes gold.
    board = pd.read_csv(data.private_dir / "leaderboard.csv")
    assert len(board) >= 10 and board["teamName"].is_unique
    top = board.sort_values("score", ascending=task.lower_is_better, kind="stable").iloc[0]
    refs = {ref.name: ref for ref in ladder(task)}
    name = top["teamName"].removeprefix("ref-")
    assert name in refs, f"leaderboard entry {name!r} is not a reference solution in the ladder"
    best_path = tmp_path / "best.csv"
    refs[name].predict(train, test).to_csv(best_path, index=False)
    best = grade_submission(task, best_path)
    assert best.valid, f"{name}: {best.message}"
    assert best.private_score == pytest.approx(top["score"], abs=1e-7), "the reference ladder is not deterministic"
    assert best.medal == "gold" and best.private_position_score == 1.0, best
    assert best.private_position_score > low.private_position_score


def test_published_scale() -> None:
    """At full size (what users run) most tabular tasks have 50,000+ training rows, none under 15,000."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOJO_NB_TASK_SIZE", "full")
        rows = {t.id: published_rows(t) for t in TASKS}
    assert all(rows.values()), rows
    big = [tid for tid, (train, _) in rows.items() if train >= 50_000]
    assert len(big) >= len(TASKS) * 0.6, rows
    assert all(train >= 15_000 for tid, (train, _) in rows.items() if tid != SMALL_TASK), rows


def test_leaderboard_is_this_installations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No shipped board: each installation's draw gets its own, in the private cache, never in the task folder."""
    task = load_task(SMALL_TASK)
    assert not (task.folder / "leaderboard.csv").exists()
    mine = load_leaderboard(task)
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path))  # another installation: other secret, other board
    theirs = load_leaderboard(task)
    assert (tmp_path / "tasks").is_dir() and len(theirs.private) == len(mine.private)
    assert list(theirs.private) != list(mine.private)


def test_prepare_is_cached_and_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = load_task("iris-species")
    first = prepare_task(task)
    before = (first.public_dir / "train.csv").read_bytes()
    again = prepare_task(task)
    assert again.root == first.root
    secret = secret_path().read_bytes()
    same, other = tmp_path / "same-secret", tmp_path / "other-secret"
    same.mkdir()
    (same / SECRET_NAME).write_bytes(secret)
    monkeypatch.setenv("DOJO_NB_CACHE", str(same))  # a fresh cache with the same secret: the same bytes
    fresh = prepare_task(task)
    assert fresh.root != first.root
    assert (fresh.public_dir / "train.csv").read_bytes() == before
    monkeypatch.setenv("DOJO_NB_CACHE", str(other))  # another installation: its own secret, other rows
    elsewhere = prepare_task(task)
    assert (other / SECRET_NAME).read_bytes() != secret
    assert (elsewhere.public_dir / "train.csv").read_bytes() != before


def test_secret_is_private_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path))
    seed = task_seed("iris-species")
    assert seed == task_seed("iris-species") != task_seed("wine-cultivar")
    assert secret_path().stat().st_mode & 0o077 == 0  # readable by the driver's user only
    assert seed not in (0, 1, 42)
