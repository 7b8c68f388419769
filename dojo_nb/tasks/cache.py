"""The task cache: a task's prepare.py run once into the user cache, atomically, keyed by id,
version and size (the authoring kit task folders import is tasks/authoring.py).

A built-in task's leaderboard is part of its preparation (tasks/leaderboard_build.py): the
data is this installation's draw, so the board is made from the reference ladder on it."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dojo_nb.paths import cache_dir
from dojo_nb.tasks.spec import Task, TaskError

_COMPLETE = ".complete"


@dataclass(frozen=True)
class PreparedData:
    """Where a prepared task's files are: `public_dir` goes to the agent, `private_dir` never does."""

    task_id: str
    root: Path

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    @property
    def private_dir(self) -> Path:
        return self.root / "private"

    @property
    def answers_path(self) -> Path:
        return self.private_dir / "answers.csv"


def prepared_root(task: Task) -> Path:
    from dojo_nb.tasks.size import task_size

    size = task_size()
    return cache_dir() / "tasks" / task.id / (task.version if size == "full" else f"{task.version}-{size}")


def _load_prepare(task: Task):
    script = task.folder / "prepare.py"
    if not script.is_file():
        raise TaskError(f"task {task.id}: no prepare.py in {task.folder}")
    spec = importlib.util.spec_from_file_location(f"dojo_nb_task_prepare_{task.id.replace('-', '_')}", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "prepare"):
        raise TaskError(f"{script}: defines no prepare(raw, public, private)")
    return module.prepare


def _in_place(task: Task) -> bool:
    from dojo_nb.tasks.mlebench_inplace import prepared_paths
    return prepared_paths(task) is not None


def prepare_task(task: Task, *, force: bool = False, raw: Path | None = None) -> PreparedData:
    """Prepare once; later calls return at once. Parallel callers race safely (rename is atomic)."""
    root = prepared_root(task)
    data = PreparedData(task.id, root)
    if (root / _COMPLETE).is_file() and not force:
        return data
    if task.source == "imported" and (task.folder / "data").is_dir():
        # Imported tasks arrive prepared; the cache is a copy so both layouts look alike.
        raw = task.folder / "data"
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task.version}-", dir=root.parent))
    try:
        (tmp / "public").mkdir()
        (tmp / "private").mkdir()
        if task.source == "imported" and _in_place(task):  # links to the user's folders, no copy
            from dojo_nb.tasks.mlebench_inplace import link_prepared
            link_prepared(task, tmp / "public", tmp / "private")
        elif task.source == "imported" and raw is not None:
            shutil.copytree(raw / "public", tmp / "public", dirs_exist_ok=True)
            shutil.copytree(raw / "private", tmp / "private", dirs_exist_ok=True)
        else:
            _load_prepare(task)(raw, tmp / "public", tmp / "private")
            from dojo_nb.tasks.leaderboard_build import build_reference_board, builds_reference_board
            if builds_reference_board(task):  # this installation's draw gets its own leaderboard
                build_reference_board(task, PreparedData(task.id, tmp))
        (tmp / _COMPLETE).write_text(task.version)
        if force and root.exists():
            shutil.rmtree(root, ignore_errors=True)
        try:
            os.rename(tmp, root)
        except OSError:
            if not (root / _COMPLETE).is_file():  # someone else's half-finished dir: replace it
                shutil.rmtree(root, ignore_errors=True)
                os.rename(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return data


def load_prepare_module(task: Task):
    """The task's prepare.py as a module (its SPEC / load_source name the source dataset)."""
    script = task.folder / "prepare.py"
    spec = importlib.util.spec_from_file_location(f"dojo_nb_task_module_{task.id.replace('-', '_')}", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_table(task: Task):
    """The source dataset in the task's own schema (a frame, or a series for forecasting)."""
    module = load_prepare_module(task)
    spec = getattr(module, "SPEC", None)
    if spec is not None:
        return spec.source()
    return module.load_source()
