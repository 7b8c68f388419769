"""An imported competition without a public/private split: per-submit scores on a hashed public
subset only, the final score the competition's own grader on the whole file (real grading,
real kernel)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

import dojo_nb
from dojo_nb.tasks import load_task
from dojo_nb.tasks.mlebench_grading import grade_function
from dojo_nb.tasks.mlebench_import import import_mlebench
from dojo_nb.tasks.grading import grade_submission

MLEBENCH = Path(__file__).parent / "fixtures" / "mlebench"
CID = "spaceship-titanic"


@pytest.fixture
def task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path / "cache"))
    return load_task(import_mlebench(MLEBENCH / CID, MLEBENCH / CID / "prepared").name)


def _public(ids: pd.Series) -> pd.Series:
    """The documented rule, written again here: sha256(id)[:8] below 30% of 2**64."""
    cut = int(0.3 * 2**64)
    return ids.map(lambda v: int.from_bytes(hashlib.sha256(str(v).strip().encode()).digest()[:8], "big") < cut)


def _submission(answers: pd.DataFrame, wrong: pd.Series) -> pd.DataFrame:
    """Right on every row except `wrong` (a boolean mask)."""
    sub = answers[["PassengerId", "Transported"]].copy()
    sub.loc[wrong, "Transported"] = ~sub.loc[wrong, "Transported"].astype(bool)
    return sub


def test_grade_public_on_the_subset_final_on_the_whole_file(task, tmp_path: Path) -> None:
    answers = pd.read_csv(MLEBENCH / CID / "prepared" / "private" / "test.csv")
    public = _public(answers["PassengerId"])
    assert 0 < public.sum() < len(answers)
    # Wrong on every private row and right on every public one: the two scores cannot agree.
    sub = _submission(answers, ~public)
    path = tmp_path / "sub.csv"
    sub.to_csv(path, index=False)
    report = grade_submission(task, path)
    assert report.valid, report.message
    assert report.public_score == 1.0
    grade = grade_function(task)
    whole = grade(pd.read_csv(path), answers.copy())
    assert report.private_score == whole == pytest.approx(public.mean())
    only_public = grade(sub[public.to_numpy()].reset_index(drop=True), answers[public].reset_index(drop=True))
    assert report.public_score == only_public


def test_an_episode_shows_only_the_public_subset_score(task, tmp_path: Path) -> None:
    answers = pd.read_csv(MLEBENCH / CID / "prepared" / "private" / "test.csv")
    public = _public(answers["PassengerId"])
    wrong = pd.Series([i % 3 == 0 for i in range(len(answers))])  # some rows wrong on both sides
    sub_file = tmp_path / "mine.csv"
    _submission(answers, wrong).to_csv(sub_file, index=False)
    env = dojo_nb.make(task.id, out_dir=tmp_path / "ep", max_steps=6)
    try:
        env.reset()
        shutil.copy(sub_file, env.submission_host_path)
        obs, *_ = env.step({"type": "submit"})
        expected_public = 1 - wrong[public].mean()
        assert obs["grading"]["public_score"] == round(expected_public, 5)
        assert "private" not in obs["text"].lower().replace("the private score is shown only", "")
        obs, _, terminated, _, info = env.step({"type": "submit", "final": True})
        assert terminated
    finally:
        env.close()
    final = info["final"]
    grade = grade_function(task)
    assert final["private_score"] == grade(pd.read_csv(sub_file), answers.copy()) == pytest.approx(1 - wrong.mean())
    assert final["private_score"] != pytest.approx(final["public_score"])
