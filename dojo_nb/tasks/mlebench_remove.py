"""Removing an imported task: its folder and every cached prepared copy, never the user's data.

An import in place holds only links to the user's prepared folders; removing the links and the
task folder leaves those folders exactly as they were.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from dojo_nb.paths import cache_dir
from dojo_nb.tasks.catalogue import imported_dir
from dojo_nb.tasks.spec import TaskError


def _drop(path: Path) -> None:
    """Rename aside, then delete: a removal is never seen half done. Links are removed, not followed."""
    if not path.exists() and not path.is_symlink():
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.removing-", dir=path.parent))
    path.rename(trash / path.name)
    shutil.rmtree(trash, ignore_errors=True)  # rmtree unlinks symlinks; it never descends into them


def remove_imported(task_id: str) -> Path:
    """Remove imported task `task_id`; return the folder it had. TaskError when there is none."""
    folder = imported_dir() / task_id
    if not (folder / "config.yaml").is_file():
        raise TaskError(f"no imported task {task_id!r} in {imported_dir()} (built-in tasks cannot be removed)")
    _drop(cache_dir() / "tasks" / task_id)
    _drop(folder)
    return folder
