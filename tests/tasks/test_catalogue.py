"""Every built-in task prepares, validates its sample, and its leaderboard ranks real solutions sensibly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dojo_nb.tasks import list_tasks, load_task
from dojo_nb.tasks.reference import constant_reference, ladder

TASKS = list_tasks()


def test_catalogue_is_broad() -> None:
    assert len(TASKS) >= 15
    types = {t.type for t in TASKS}
    assert {"binary", "multiclass", "regression", "forecasting", "image"} <= types
    metrics = {t.metric for t in TASKS}
    assert {"accuracy", "roc_auc", "log_loss", "macro_f1", "rmse", "rmsle", "mae", "quadratic_weighted_kappa"} <= metrics
    assert {t.split for t in TASKS} == {"train", "eval"}


def test_unknown_task_lists_known_ids() -> None:
    with pytest.raises(KeyError, match="iris-species"):
        load_task("no-such-task")


@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_task_end_to_end(task, tmp_path: Path) -> None:
    data = task.prepare()
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        assert (data.public_dir / name).is_file(), name
    assert not any(p.name == "answers.csv" for p in data.public_dir.iterdir())
    test = pd.read_csv(data.public_dir / "test.csv")
    assert task.train_target not in test.columns  # the answers are not in the public data

    sample = data.public_dir / "sample_submission.csv"
    assert task.validate(sample).ok, task.validate(sample).message

    train = pd.read_csv(data.public_dir / "train.csv")
    constant = tmp_path / "constant.csv"
    constant_reference(task).predict(train, test).to_csv(constant, index=False)
    low = task.grade(constant)
    assert low.valid, low.message
    assert low.private_position_score <= 0.5, f"constant prediction ranks too high: {low}"
    assert low.medal is None and not low.above_median

    # The leaderboard's top entry, re-run from its reference solution here, must rank near the top
    # (running the whole ladder again is scripts/build_leaderboards.py's job, and too slow for CI).
    board = pd.read_csv(task.folder / "leaderboard.csv")
    top = board.sort_values("score", ascending=task.lower_is_better)["teamName"].iloc[0].removeprefix("ref-")
    refs = {ref.name: ref for ref in ladder(task)}
    assert top in refs, f"leaderboard entry {top!r} is not a reference solution in the ladder"
    best_path = tmp_path / "best.csv"
    refs[top].predict(train, test).to_csv(best_path, index=False)
    best = task.grade(best_path)
    assert best.valid, f"{top}: {best.message}"
    assert best is not None
    assert best.private_position_score >= 0.9, f"best reference ranks too low: {best}"
    assert best.medal == "gold"
    assert best.private_position_score > low.private_position_score


def test_prepare_is_cached_and_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = load_task("iris-species")
    first = task.prepare()
    before = (first.public_dir / "train.csv").read_bytes()
    again = task.prepare()
    assert again.root == first.root
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path))  # a fresh cache prepares the same bytes
    fresh = task.prepare()
    assert fresh.root != first.root
    assert (fresh.public_dir / "train.csv").read_bytes() == before
