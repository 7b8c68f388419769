"""The prepared-data cache of a task imported in place: links to the user's folders, no copies.

A bulk import leaves MLE-bench's (or MLE-Dojo's) prepared folders where they are. Its cache entry
holds one symbolic link per file of the user's public/ and private/, plus a
small `sample_submission.csv` when the competition names its sample otherwise; folders are
real folders of the cache (mirroring the user's), so only files are links. Nothing in dojo-nb
writes through these links: episodes receive the public files by hard link or copy into their own
`input/` (mounted read-only in the sandbox), so the user's data is never handed out writable.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dojo_nb.tasks.spec import Task, TaskError


def prepared_paths(task: Task) -> tuple[Path, Path] | None:
    """The user's public and private folders of a task imported in place, or None for a copied one."""
    for section in ("mlebench", "mledojo"):
        where = (task.extra.get(section) or {}).get("prepared") if isinstance(task.extra.get(section), dict) else None
        if where:
            return Path(where["public"]), Path(where["private"])
    return None


def _link_entries(source: Path, dest: Path) -> None:
    """Mirror source's folders as real folders and its files as links: whoever walks the view
    (sizes, hard links into an episode) sees every file without following a linked folder."""
    for dirpath, dirnames, filenames in os.walk(source, followlinks=True):
        here = Path(dirpath)
        out = dest / here.relative_to(source)
        dirnames.sort()
        for name in dirnames:
            (out / name).mkdir()
        for name in sorted(filenames):
            os.symlink(os.path.realpath(here / name), out / name)


def link_prepared(task: Task, public_out: Path, private_out: Path) -> None:
    """Fill empty public_out and private_out with links to the user's prepared data."""
    public, private = prepared_paths(task)  # type: ignore[misc]
    for folder in (public, private):
        if not folder.is_dir():
            raise TaskError(f"task {task.id}: its prepared data {folder} is gone; prepare it again where it was, "
                            f"or import the competition again (`dojo-nb tasks import-mlebench --overwrite`)")
    _link_entries(public, public_out)
    _link_entries(private, private_out)
    sample = str((task.extra.get("mlebench") or {}).get("sample_submission") or "sample_submission.csv")
    if sample != "sample_submission.csv" and not (public_out / "sample_submission.csv").exists():
        shutil.copy2(public / sample, public_out / "sample_submission.csv")  # the name agents look for
