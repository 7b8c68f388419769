"""Finding tasks: the built-in catalogue plus any imported ones, and the splits that select them.

Built-in tasks carry their split ("train" or "eval"). Imported competitions are selected by suite:
"mlebench" (every imported MLE-bench competition), "mlebench-lite" (those of MLE-bench's Lite
split), "mledojo" and "mledojo-<group>" (MLE-Dojo's own groups, e.g. mledojo-mle-lite).
"""

from __future__ import annotations

import functools
from pathlib import Path

from dojo_nb.paths import cache_dir, catalogue_dir
from dojo_nb.tasks.spec import Task, TaskError, load_task_folder


def imported_dir() -> Path:
    """Where `dojo-nb tasks import-mlebench` puts the tasks it makes."""
    return cache_dir() / "imported-tasks"


def _task_folders() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for root, source in ((catalogue_dir(), "builtin"), (imported_dir(), "imported")):
        if root.is_dir():
            found += [(p, source) for p in sorted(root.iterdir()) if (p / "config.yaml").is_file()]
    return found


@functools.lru_cache(maxsize=None)
def _load(folder: Path, source: str, mtime: float) -> Task:
    return load_task_folder(folder, source=source)


BASE_SPLITS = ("train", "eval")
SUITES = ("mlebench", "mlebench-lite", "mledojo")


def _in_suite(task: Task, suite: str) -> bool:
    from dojo_nb.tasks.mlebench_splits import LITE

    info = task.extra.get("mlebench") if isinstance(task.extra.get("mlebench"), dict) else None
    dojo = task.extra.get("mledojo") if isinstance(task.extra.get("mledojo"), dict) else None
    if suite == "mlebench":
        return info is not None and dojo is None
    if suite == "mlebench-lite":
        return info is not None and dojo is None and task.id in LITE
    if suite == "mledojo":
        return dojo is not None
    if suite.startswith("mledojo-") and dojo is not None:
        return suite[len("mledojo-"):] in (dojo.get("splits") or [])
    return False


def known_splits() -> list[str]:
    """Every split name that selects something, or could: the base splits, the suites, MLE-Dojo's groups."""
    groups = set()
    for folder, source in _task_folders():
        if source == "imported":
            dojo = _load(folder, source, (folder / "config.yaml").stat().st_mtime).extra.get("mledojo")
            groups |= {f"mledojo-{g}" for g in ((dojo or {}).get("splits") or [])} if isinstance(dojo, dict) else set()
    return [*BASE_SPLITS, *SUITES, *sorted(groups)]


def is_split(name: str) -> bool:
    return name in BASE_SPLITS or name in SUITES or name.startswith("mledojo-")


def list_tasks(split: str | None = None) -> list[Task]:
    """Every task, sorted by id; `split` keeps a base split ("train"/"eval") or an imported suite."""
    tasks = [_load(f, s, (f / "config.yaml").stat().st_mtime) for f, s in _task_folders()]
    if split in BASE_SPLITS:
        tasks = [t for t in tasks if t.split == split]
    elif split is not None:
        tasks = [t for t in tasks if _in_suite(t, split)]
    return sorted(tasks, key=lambda t: t.id)


def load_task(task_id: str) -> Task:
    """The task with this id; a KeyError lists the ids that exist when it is unknown."""
    for folder, source in _task_folders():
        if folder.name == task_id:
            task = _load(folder, source, (folder / "config.yaml").stat().st_mtime)
            if task.id == task_id:
                return task
    for task in list_tasks():
        if task.id == task_id:
            return task
    known = ", ".join(t.id for t in list_tasks()) or "(none)"
    raise KeyError(f"unknown task {task_id!r}; known tasks: {known}")


__all__ = ["Task", "TaskError", "imported_dir", "is_split", "known_splits", "list_tasks", "load_task"]
