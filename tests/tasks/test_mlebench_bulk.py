"""Bulk import of an MLE-bench data directory, in place: no copies, clear per-competition messages.

The fixture folder tests/tasks/fixtures/mlebench is laid out so it serves as both the data
directory (`<id>/prepared/{public,private}`) and the competitions directory (`<id>/config.yaml`...).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dojo_nb.tasks import list_tasks, load_task
from dojo_nb.tasks.catalogue import imported_dir
from dojo_nb.tasks.mlebench_bulk import import_data_dir
from dojo_nb.tasks.mlebench_remove import remove_imported
from dojo_nb.tasks.mlebench_splits import LITE
from dojo_nb.tasks.cache import prepare_task, prepared_root
from dojo_nb.tasks.spec import TaskError
from dojo_nb.tasks.grading import grade_submission

MLEBENCH = Path(__file__).parent / "fixtures" / "mlebench"
REAL = sorted(p.name for p in MLEBENCH.iterdir() if (p / "config.yaml").is_file() and p.name != "tiny-regression")
CLI = [sys.executable, "-m", "dojo_nb.cli"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOJO_NB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _blocks(root: Path) -> int:
    """Disk blocks really used under root (links counted once, not followed)."""
    seen, total = set(), 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks
    return total


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_ten_fixtures_import_in_one_command(tmp_path: Path) -> None:
    env = {**os.environ, "DOJO_NB_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([*CLI, "tasks", "import-mlebench", "--data-dir", str(MLEBENCH), "--competitions-dir",
                          str(MLEBENCH), *REAL], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(REAL) == 10 and "10 of 10 imported" in out.stdout
    listed = subprocess.run([*CLI, "tasks", "list", "--split", "mlebench", "--json"], capture_output=True, text=True, env=env)
    assert sorted(t["id"] for t in json.loads(listed.stdout)) == REAL
    lite = subprocess.run([*CLI, "tasks", "list", "--split", "mlebench-lite", "--json"], capture_output=True, text=True, env=env)
    assert sorted(t["id"] for t in json.loads(lite.stdout)) == sorted(set(REAL) & LITE)
    for cid in REAL:
        assert not (tmp_path / "cache" / "imported-tasks" / cid / "data").exists()  # nothing copied


@pytest.mark.parametrize("cid", REAL)
def test_in_place_tasks_grade_their_sample(cid: str, cache: Path, tmp_path: Path) -> None:
    before = _snapshot(MLEBENCH / cid / "prepared")
    [outcome] = import_data_dir(MLEBENCH, MLEBENCH, [cid])
    assert outcome.imported, outcome.message
    task = load_task(cid)
    data = prepare_task(task)
    sample = data.public_dir / "sample_submission.csv"
    assert sample.is_file()
    report = grade_submission(task, shutil.copy(sample, tmp_path / "submission.csv"))  # a link is refused as a submission
    assert report.valid, report.message
    alias = task.extra["mlebench"]["sample_submission"] != "sample_submission.csv"  # a small copy, by our name
    for p in data.public_dir.rglob("*"):
        assert p.is_symlink() != p.is_dir() or (alias and p == sample), p  # folders real, files linked
    assert _snapshot(MLEBENCH / cid / "prepared") == before  # the user's data is untouched


def test_lite_selection_and_splits(cache: Path) -> None:
    outcomes = import_data_dir(MLEBENCH, MLEBENCH, lite=True)
    assert len(outcomes) == 22
    imported = sorted(o.competition for o in outcomes if o.imported)
    assert imported == sorted(set(REAL) & LITE)
    assert all("not prepared" in o.message for o in outcomes if not o.imported)
    assert [t.id for t in list_tasks("mlebench-lite")] == imported
    assert "spaceship-titanic" not in [t.id for t in list_tasks("mlebench")]


def _data_dir(tmp_path: Path) -> tuple[Path, Path]:
    data, code = tmp_path / "data", tmp_path / "competitions"
    for cid in ("spaceship-titanic", "random-acts-of-pizza", "spooky-author-identification"):
        shutil.copytree(MLEBENCH / cid, code / cid, ignore=shutil.ignore_patterns("prepared"))
        shutil.copytree(MLEBENCH / cid / "prepared", data / cid / "prepared")
    shutil.rmtree(data / "random-acts-of-pizza" / "prepared" / "private")  # prepared only half
    (code / "spooky-author-identification" / "leaderboard.csv").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 99\n")
    (data / "no-such-competition" / "prepared" / "public").mkdir(parents=True)
    (data / "no-such-competition" / "prepared" / "private").mkdir()
    return data, code


def test_each_problem_has_its_message_and_the_rest_imports(cache: Path, tmp_path: Path) -> None:
    data, code = _data_dir(tmp_path)
    env = {**os.environ, "DOJO_NB_CACHE": str(cache), "COLUMNS": "250"}
    out = subprocess.run([*CLI, "tasks", "import-mlebench", "--data-dir", str(data), "--competitions-dir", str(code)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 of 4 imported" in out.stdout
    by_id = {o.competition: o for o in import_data_dir(data, code, overwrite=True)}
    assert by_id["spaceship-titanic"].imported
    assert "not prepared" in by_id["random-acts-of-pizza"].message and "mlebench prepare" in by_id["random-acts-of-pizza"].message
    assert "Git LFS pointer" in by_id["spooky-author-identification"].message
    assert "git lfs pull" in by_id["spooky-author-identification"].message
    assert "unknown grader" in by_id["no-such-competition"].message
    assert sorted(p.name for p in imported_dir().iterdir()) == ["spaceship-titanic"]  # no half-made folders


def test_overwrite_drops_the_cached_links_and_remove_keeps_user_data(cache: Path, tmp_path: Path) -> None:
    data, code = _data_dir(tmp_path)
    import_data_dir(data, code, ["spaceship-titanic"])
    task = load_task("spaceship-titanic")
    sample = data / "spaceship-titanic" / "prepared" / "public" / "sample_submission.csv"
    assert grade_submission(task, sample).private_score == pytest.approx(18 / 40)
    old = prepared_root(task)
    assert old.is_dir()
    again = import_data_dir(data, code, ["spaceship-titanic"])[0]
    assert not again.imported and "--overwrite" in again.message
    answers = data / "spaceship-titanic" / "prepared" / "private" / "test.csv"
    frame = pd.read_csv(answers)
    frame["Transported"] = False
    frame.to_csv(answers, index=False)
    assert import_data_dir(data, code, ["spaceship-titanic"], overwrite=True)[0].imported
    assert not old.exists()
    assert grade_submission(load_task("spaceship-titanic"), sample).private_score == pytest.approx(1.0)

    before = _snapshot(data)
    folder = remove_imported("spaceship-titanic")
    assert not folder.exists() and not (cache / "tasks" / "spaceship-titanic").exists()
    assert _snapshot(data) == before
    with pytest.raises(TaskError, match="no imported task"):
        remove_imported("spaceship-titanic")
    env = {**os.environ, "DOJO_NB_CACHE": str(cache), "COLUMNS": "400"}
    out = subprocess.run([*CLI, "tasks", "remove", "iris-species"], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "built-in tasks cannot be removed" in out.stdout


def test_twenty_gb_of_sparse_files_import_in_seconds_without_disk(cache: Path, tmp_path: Path) -> None:
    data, code = tmp_path / "data", tmp_path / "competitions"
    cid = "aerial-cactus-identification"
    shutil.copytree(MLEBENCH / cid, code / cid, ignore=shutil.ignore_patterns("prepared"))
    shutil.copytree(MLEBENCH / cid / "prepared", data / cid / "prepared")
    public = data / cid / "prepared" / "public"
    for i in range(4):  # 4 x 5 GB of images-to-be, allocated nowhere
        with open(public / f"train_part{i}.zip", "wb") as fh:
            fh.truncate(5 * 1024**3)
    nested = public / "extra"
    nested.mkdir()
    with open(nested / "big.bin", "wb") as fh:
        fh.truncate(1024**3)
    size = sum(p.stat().st_size for p in public.rglob("*") if p.is_file())
    assert size >= 21 * 1024**3
    cache.mkdir(parents=True, exist_ok=True)
    disk_before = _blocks(tmp_path)
    t0 = time.monotonic()
    [outcome] = import_data_dir(data, code, [cid])
    task = load_task(cid)
    data_view = prepare_task(task)
    elapsed = time.monotonic() - t0
    assert outcome.imported, outcome.message
    assert elapsed < 10, f"import + prepare took {elapsed:.1f}s"
    assert (data_view.public_dir / "extra" / "big.bin").stat().st_size == 1024**3
    extra_kib = (_blocks(tmp_path) - disk_before) * 512 / 1024
    assert extra_kib < 1024, f"the import used {extra_kib:.0f} KiB"  # task folder + links, a few KiB
    assert grade_submission(task, shutil.copy(data_view.public_dir / "sample_submission.csv", tmp_path / "sub.csv")).valid
    # The view is walkable as an episode walks it: real folders, every file seen with its size, and a
    # hard link made through it shares the user's inode (no bytes written).
    assert sum(p.stat().st_size for p in data_view.public_dir.rglob("*") if p.is_file()) == size
    assert not any(p.is_symlink() for p in data_view.public_dir.rglob("*") if p.is_dir())
    before_link = _blocks(tmp_path)
    os.link(data_view.public_dir / "extra" / "big.bin", tmp_path / "episode-copy.bin")
    assert os.stat(tmp_path / "episode-copy.bin").st_ino == os.stat(nested / "big.bin").st_ino
    assert _blocks(tmp_path) - before_link < 64
    print(f"\n20 GB sparse competition: import + prepare {elapsed:.2f}s, {extra_kib:.0f} KiB of extra disk")


def test_unknown_split_names_the_known_ones(tmp_path: Path) -> None:
    env = {**os.environ, "DOJO_NB_CACHE": str(tmp_path / "cache"), "COLUMNS": "400"}
    for cmd in (["tasks", "list", "--split", "bogus"], ["run", "--split", "bogus"]):
        out = subprocess.run([*CLI, *cmd], capture_output=True, text=True, env=env)
        assert out.returncode == 2 and "mlebench-lite" in out.stdout + out.stderr, out.stdout + out.stderr
