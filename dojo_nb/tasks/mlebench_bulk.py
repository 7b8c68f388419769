"""Importing every prepared competition of an MLE-bench data directory at once, in place.

MLE-bench prepares competition `<id>` into `<data-dir>/<id>/prepared/{public,private}`; its code
(config, grader, leaderboard, description) lives in the repository's `mlebench/competitions/<id>/`.
Each competition is imported on its own: one that is not prepared, has a Git-LFS pointer for a
leaderboard or names a grader it lacks gets a message, and the others still import.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from dojo_nb.tasks.mlebench_import import grader_problem, import_mlebench
from dojo_nb.tasks.mlebench_splits import LITE
from dojo_nb.tasks.spec import TaskError


@dataclass(frozen=True)
class Outcome:
    """What happened to one competition of a bulk import."""

    competition: str
    imported: bool
    message: str
    folder: Path | None = None


def default_competitions_dir() -> Path | None:
    """`mlebench/competitions` of an installed MLE-bench, if any."""
    try:
        spec = importlib.util.find_spec("mlebench")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "competitions"
        if candidate.is_dir() and not str(candidate).startswith(str(Path(__file__).parent)):
            return candidate
    return None


def prepared_ids(data_dir: Path) -> list[str]:
    """Folders of the data directory that hold a `prepared/` folder (complete or not)."""
    return sorted(p.name for p in Path(data_dir).iterdir() if (p / "prepared").is_dir())


def select(data_dir: Path, ids: list[str], lite: bool, every: bool) -> list[str]:
    """The competitions asked for: given ids, the Lite split, or everything prepared (the default)."""
    if ids:
        return list(dict.fromkeys(ids))
    if lite:
        return sorted(LITE)
    return prepared_ids(data_dir)


def _not_prepared(data_dir: Path, cid: str) -> str | None:
    prepared = Path(data_dir) / cid / "prepared"
    missing = [name for name in ("public", "private") if not (prepared / name).is_dir()]
    if not missing:
        return None
    return (f"not prepared: {prepared}/{' and '.join(missing)} missing; run "
            f"`mlebench prepare -c {cid} --data-dir {data_dir}` first")


def import_one(data_dir: Path, competitions_dir: Path, cid: str, *, overwrite: bool = False) -> Outcome:
    """Import one competition in place; every failure becomes the outcome's message."""
    problem = _not_prepared(data_dir, cid)
    if problem:
        return Outcome(cid, False, problem)
    code = Path(competitions_dir) / cid
    if not (code / "config.yaml").is_file():
        return Outcome(cid, False, f"unknown grader: no competition {cid} in {competitions_dir} "
                                   f"(no config.yaml and grade.py there)")
    try:
        folder = import_mlebench(code, Path(data_dir) / cid / "prepared", overwrite=overwrite, in_place=True)
    except TaskError as exc:
        return Outcome(cid, False, str(exc))
    from dojo_nb.tasks.spec import load_task_folder

    task = load_task_folder(folder, source="imported")
    note = grader_problem(folder, str(task.extra["mlebench"].get("grade_entry") or "grade:grade"))
    facts = f"{task.type}, {task.metric} ({'lower' if task.lower_is_better else 'higher'} is better)"
    return Outcome(cid, True, facts + (f"; warning: {note}" if note else ""), folder)


def import_data_dir(data_dir: Path, competitions_dir: Path, ids: list[str] | None = None, *, lite: bool = False,
                    every: bool = False, overwrite: bool = False) -> list[Outcome]:
    """Import each selected competition of `data_dir`; never raises for one competition's problem."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TaskError(f"{data_dir}: no such data directory")
    return [import_one(data_dir, competitions_dir, cid, overwrite=overwrite)
            for cid in select(data_dir, list(ids or []), lite, every)]
