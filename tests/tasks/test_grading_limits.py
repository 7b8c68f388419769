"""Grading runs in a limited child: absurd files are refused fast, hungry graders are stopped, scores stay."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from dojo_nb.tasks import load_task
from dojo_nb.tasks.grading import grade_here, grade_submission, validate_here, validate_submission
from dojo_nb.tasks.grading_limits import GradeLimits
from dojo_nb.tasks.cache import prepare_task

TASK = "penguins-species"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def task():
    t = load_task(TASK)
    prepare_task(t)
    return t


@pytest.fixture
def sample(task, tmp_path: Path) -> Path:
    src = sorted(glob.glob(str(prepare_task(task).public_dir / "sample_submission*")))[0]
    dest = tmp_path / "submission.csv"
    shutil.copy(src, dest)
    return dest


@pytest.fixture
def wide_csv(tmp_path: Path) -> Path:
    """A header-only CSV of 800,000 columns (6 MB, under the 50 MB cap)."""
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(800_000)) + "\n")
    return path


def _with_grader(task, tmp_path: Path, body: str):
    """The same task with a grade.py of our own (a copy of its folder)."""
    folder = tmp_path / "task"
    shutil.copytree(task.folder, folder)
    (folder / "grade.py").write_text(body)
    return replace(task, folder=folder)


def test_normal_scores_are_unchanged(task, sample: Path) -> None:
    limited = grade_submission(task, sample).to_dict()
    here = grade_here(task, sample).to_dict()
    assert limited["valid"] and limited == here
    assert validate_submission(task, sample).ok and validate_here(task, sample).ok


def test_800k_column_header_is_refused_before_parsing(task, wide_csv: Path) -> None:
    v = validate_submission(task, wide_csv)
    r = grade_submission(task, wide_csv)
    assert not v.ok and not r.valid
    # "refused" is the header check's word: the file was turned away before pandas read it
    assert "columns" in v.message and "refused" in v.message, v.message


def test_800k_column_header_is_refused_by_the_cli(wide_csv: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", "from dojo_nb.cli import main; main()", "grade", TASK,
                           str(wide_csv), "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert not report["valid"] and "columns" in report["message"] and "refused" in report["message"]


def test_a_hanging_grader_is_stopped(task, sample: Path, tmp_path: Path) -> None:
    slow = _with_grader(task, tmp_path, "import time\ndef grade(sub, answers):\n    time.sleep(60)\n    return 0.0\n")
    t = time.monotonic()
    r = grade_submission(slow, sample, limits=GradeLimits(time_s=2, memory_mb=4096))
    assert time.monotonic() - t < 60  # stopped: the grader alone sleeps 60 s (no speed is asserted)
    assert not r.valid and "grading exceeded 2 s" in r.message, r.message
    v = validate_submission(slow, sample, limits=GradeLimits(time_s=2, memory_mb=4096))
    assert not v.ok and "exceeded 2 s" in v.message


def test_a_grader_that_eats_memory_is_stopped(task, sample: Path, tmp_path: Path) -> None:
    hungry = _with_grader(task, tmp_path, "def grade(sub, answers):\n    x = bytearray(3 << 30)\n    return 0.0\n")
    r = grade_submission(hungry, sample, limits=GradeLimits(time_s=30, memory_mb=1536))
    assert not r.valid and "1,536 MB" in r.message, r.message
    assert grade_submission(task, sample).valid  # the helper goes on serving


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOJO_NB_GRADE_TIMEOUT_S", "7.5")
    monkeypatch.setenv("DOJO_NB_GRADE_MEMORY_MB", "2048")
    assert GradeLimits.from_env() == GradeLimits(time_s=7.5, memory_mb=2048)


def test_the_helper_grades_against_the_drivers_cache_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper may have started under another DOJO_NB_CACHE: it grades against this one."""
    from dojo_nb.tasks import load_task

    task = load_task("synthetic-binary-logloss")
    assert grade_submission(task, prepare_task(task).public_dir / "sample_submission.csv").valid  # helper started here
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path))  # another installation: other secret, other ids
    report = grade_submission(task, prepare_task(task).public_dir / "sample_submission.csv")
    assert report.valid, report.message
