"""Importing a competition in MLE-bench's layout: what the importer writes, refuses and cleans up.

Fixture competitions are ours (tests/tasks/fixtures/mlebench/<id>). tiny-regression's grader
imports a helper only the test stub package (fixtures/mlebench_stub) has, standing for an
installed `mlebench`; the others use dojo-nb's own stand-in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dojo_nb.tasks import load_task, mlebench_import as importer
from dojo_nb.tasks.catalogue import imported_dir
from dojo_nb.tasks.mlebench_import import import_mlebench
from dojo_nb.tasks.cache import prepared_root
from dojo_nb.tasks.spec import TaskError
from dojo_nb.tasks.grading import grade_submission

FIXTURES = Path(__file__).parent / "fixtures"
MLEBENCH = FIXTURES / "mlebench"
TINY = MLEBENCH / "tiny-regression"
STUB = FIXTURES / "mlebench_stub"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_mlebench(monkeypatch: pytest.MonkeyPatch):
    """Forget every `mlebench` module for the test and put the previous ones back afterwards."""
    saved = {k: v for k, v in sys.modules.items() if k == "mlebench" or k.startswith("mlebench.")}
    for name in saved:
        del sys.modules[name]
    yield
    for name in [k for k in sys.modules if k == "mlebench" or k.startswith("mlebench.")]:
        del sys.modules[name]
    sys.modules.update(saved)


def _copy(cid: str, tmp_path: Path) -> Path:
    dest = tmp_path / "src" / cid
    shutil.copytree(MLEBENCH / cid, dest)
    return dest


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_installed_mlebench_is_used(tmp_path: Path) -> None:
    """With a `mlebench` importable (here the test stub, on PYTHONPATH of a fresh process), graders use it."""
    env = {**os.environ, "DOJO_NB_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(STUB), *filter(None, [os.environ.get("PYTHONPATH")])])}
    run = [sys.executable, "-m", "dojo_nb.cli"]
    out = subprocess.run([*run, "tasks", "import-mlebench", str(TINY), "--prepared", str(TINY / "prepared")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    answers = pd.read_csv(TINY / "prepared" / "private" / "test.csv")
    perfect, bad = tmp_path / "perfect.csv", tmp_path / "bad.csv"
    answers.to_csv(perfect, index=False)
    answers.iloc[:-1].to_csv(bad, index=False)
    good = subprocess.run([*run, "grade", "tiny-regression", str(perfect), "--json"], capture_output=True, text=True, env=env)
    report = json.loads(good.stdout)
    assert report["valid"], report["message"]
    assert report["private_score"] == pytest.approx(0.0) and report["medal"] == "gold"
    assert report["extra"]["mlebench"]["helpers"] == "installed"
    refused = subprocess.run([*run, "grade", "tiny-regression", str(bad), "--json"], capture_output=True, text=True, env=env)
    assert "same length" in json.loads(refused.stdout)["message"]  # the stub's InvalidSubmissionError text


def test_stand_in_without_mlebench(cache: Path, no_mlebench) -> None:
    cid = "random-acts-of-pizza"
    task = load_task(import_mlebench(MLEBENCH / cid, MLEBENCH / cid / "prepared").name)
    report = grade_submission(task, task.folder / "data" / "public" / "sampleSubmission.csv")
    assert report.valid and report.private_score == 0.5
    assert report.extra["mlebench"]["helpers"] == "stand-in"


EXPECTED = {  # id: (type, submission kind, metric, lower is better, id column, target columns)
    "spaceship-titanic": ("binary", "label", "accuracy", False, "PassengerId", ("Transported",)),
    "spooky-author-identification": ("multiclass", "probability", "multi-class-log-loss", True, "id", ("EAP", "HPL", "MWS")),
    "random-acts-of-pizza": ("binary", "probability", "auc-roc", False, "request_id", ("requester_received_pizza",)),
    "detecting-insults-in-social-commentary": ("binary", "probability", "auc-roc", False, "Comment", ("Insult",)),
    "aerial-cactus-identification": ("image", "probability", "auc-roc", False, "id", ("has_cactus",)),
    "nomad2018-predict-transparent-conductors": ("regression", "value", "mean-column-wise-rmsle", True, "id",
                                                 ("formation_energy_ev_natom", "bandgap_energy_ev")),
    "denoising-dirty-documents": ("regression", "value", "root_mean_squared_error", True, "id", ("value",)),
    "whale-categorization-playground": ("image", "label", "MAP@5", False, "Image", ("Id",)),
    "tensorflow2-question-answering": ("multiclass", "label", "micro-f1-score", False, "example_id", ("PredictionString",)),
}


@pytest.mark.parametrize("cid", sorted(EXPECTED))
def test_facts_come_from_the_competition(cid: str, cache: Path) -> None:
    task = load_task(import_mlebench(MLEBENCH / cid, MLEBENCH / cid / "prepared").name)
    kind, sub_kind, metric, lower, ident, targets = EXPECTED[cid]
    assert (task.type, task.submission_kind, task.metric, task.lower_is_better) == (kind, sub_kind, metric, lower)
    assert (task.id_column, task.target_columns) == (ident, targets)
    assert (task.folder / "mlebench_config.yaml").is_file() and (task.folder / "grade.py").is_file()
    assert (task.folder / "data" / "public" / "sample_submission.csv").is_file()


def test_sibling_modules_are_imported(cache: Path) -> None:
    cid = "spooky-author-identification"
    task = load_task(import_mlebench(MLEBENCH / cid, MLEBENCH / cid / "prepared").name)
    assert (task.folder / "classes.py").is_file()
    report = grade_submission(task, task.folder / "data" / "public" / "sample_submission.csv")
    assert report.valid, report.message


def test_lfs_pointer_leaderboard_is_refused_cleanly(cache: Path, tmp_path: Path) -> None:
    src = _copy("spaceship-titanic", tmp_path)
    (src / "leaderboard.csv").write_text("version https://git-lfs.github.com/spec/v1\n"
                                         "oid sha256:" + "0" * 64 + "\nsize 125841\n")
    with pytest.raises(TaskError, match="git lfs pull"):
        import_mlebench(src, src / "prepared")
    assert _leftovers(imported_dir()) == []
    (src / "leaderboard.csv").write_text("teamId,score\n1,0.9\n2,0.8\n")  # fetched: the next import works
    assert load_task(import_mlebench(src, src / "prepared").name).metric == "accuracy"


def test_leaderboard_without_scores_is_a_clear_error(cache: Path, tmp_path: Path) -> None:
    src = _copy("spaceship-titanic", tmp_path)
    (src / "leaderboard.csv").write_text("teamId,points\n1,0.9\n")
    with pytest.raises(TaskError, match="no 'score' column"):
        import_mlebench(src, src / "prepared")
    assert _leftovers(imported_dir()) == []


def test_failed_import_leaves_nothing(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_copytree = shutil.copytree

    def failing_copytree(src, dst, *args, **kwargs):
        calls.append(src)
        if Path(src).name == "private":
            raise OSError(28, "No space left on device")
        return real_copytree(src, dst, *args, **kwargs)

    monkeypatch.setattr(importer.shutil, "copytree", failing_copytree)
    cid = "spaceship-titanic"
    with pytest.raises(OSError):
        import_mlebench(MLEBENCH / cid, MLEBENCH / cid / "prepared")
    assert calls and _leftovers(imported_dir()) == []


def test_half_made_folder_does_not_block(cache: Path) -> None:
    cid = "spaceship-titanic"
    half = imported_dir() / cid
    (half / "data").mkdir(parents=True)  # what the old importer left after a crash: no config.yaml
    (half / "grade.py").write_text("")
    task = load_task(import_mlebench(MLEBENCH / cid, MLEBENCH / cid / "prepared").name)
    assert task.metric == "accuracy" and (task.folder / "config.yaml").is_file()


def test_overwrite_regrades_with_the_new_answers_and_code(cache: Path, tmp_path: Path) -> None:
    src = _copy("spaceship-titanic", tmp_path)
    task = load_task(import_mlebench(src, src / "prepared").name)
    sample = src / "prepared" / "public" / "sample_submission.csv"
    assert grade_submission(task, sample).private_score == pytest.approx(18 / 40)
    old_cache = prepared_root(task)
    assert old_cache.is_dir()
    with pytest.raises(TaskError, match="already imported"):
        import_mlebench(src, src / "prepared")
    answers = src / "prepared" / "private" / "test.csv"
    frame = pd.read_csv(answers)
    frame["Transported"] = False
    frame.to_csv(answers, index=False)
    task = load_task(import_mlebench(src, src / "prepared", overwrite=True).name)
    assert not old_cache.exists()
    assert grade_submission(task, sample).private_score == pytest.approx(1.0)  # the new answers, without `tasks prepare --force`
    grade = src / "grade.py"
    grade.write_text(grade.read_text().replace("return accuracy_score(", "return 0.25 + 0 * accuracy_score("))
    task = load_task(import_mlebench(src, src / "prepared", overwrite=True).name)
    assert grade_submission(task, sample).private_score == pytest.approx(0.25)  # and the new grader, not a cached module
    assert [p for p in _leftovers(imported_dir()) if p.startswith(".")] == []


def test_config_records_the_mlebench_facts(cache: Path) -> None:
    cid = "detecting-insults-in-social-commentary"
    dest = import_mlebench(MLEBENCH / cid, MLEBENCH / cid / "prepared")
    cfg = yaml.safe_load((dest / "config.yaml").read_text())
    assert cfg["version"].startswith("mlebench-")
    assert cfg["mlebench"] == {"competition_type": "simple", "answers": "test.csv",
                               "sample_submission": "sample_submission_null.csv", "grade_entry": "grade:grade",
                               "awards_medals": True}


def test_cli_import(tmp_path: Path) -> None:
    env = {**os.environ, "DOJO_NB_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "dojo_nb.cli", "tasks", "import-mlebench", str(TINY), "--prepared", str(TINY / "prepared")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "tiny-regression" in out.stdout and "rmse" in out.stdout and "lower is better" in out.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode == 2 and "already imported" in again.stdout
