"""Turn an MLE-bench competition folder plus its prepared data into a dojo-nb task.

MLE-bench keeps, per competition, `config.yaml`, `description.md`, `grade.py` (which imports
helpers from `mlebench.*` and, for some, sibling modules), `leaderboard.csv` and more; its
`prepare` step writes `prepared/public/` and `prepared/private/`. The task folder we make holds
the whole competition folder (so the grader loads as a package, see mlebench_loader), its config
as `mlebench_config.yaml`, our `config.yaml`, and the prepared data under `data/` or, for an
import in place (`in_place=True`, what a bulk import does), only the paths of the user's prepared
folders: tens of GB stay where they are, and the cache links to them (see mlebench_inplace).

An import is built in a temporary folder and renamed into place, so a failed import leaves
nothing behind and an overwrite is all-or-nothing; it also drops the cached prepared copy.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from dojo_nb.paths import cache_dir
from dojo_nb.tasks.catalogue import imported_dir
from dojo_nb.tasks.mlebench_loader import grade_entry, load_grade_fn
from dojo_nb.tasks.mlebench_meta import describe
from dojo_nb.tasks.mlebench_ranking import leaderboard_scores, lower_is_better
from dojo_nb.tasks.mlebench_stub.utils import load_answers, read_csv
from dojo_nb.tasks.spec import TaskError

MLEBENCH_INSTALL_HINT = (
    "this task's grader imports the `mlebench` package, which is not on PyPI: install it from its "
    "git repository (`pip install git+https://github.com/openai/mle-bench.git`, or clone it and run "
    "`pip install -e .` in the clone), then grade again"
)
_LFS_MAGIC = b"version https://git-lfs.github.com/spec/"
_SKIP = {"config.yaml", "__pycache__", "data"}  # our names in the task folder; never copied over


def mlebench_available() -> bool:
    """Graders' `mlebench.*` imports are always satisfied: by MLE-bench if installed, else our stand-in."""
    return True


def is_lfs_pointer(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(_LFS_MAGIC)) == _LFS_MAGIC


def _refuse_lfs(path: Path, competition_dir: Path) -> None:
    if path.is_file() and is_lfs_pointer(path):
        raise TaskError(
            f"{path} is a Git LFS pointer, not the file itself: fetch it in your mle-bench clone with "
            f"`git lfs install && git lfs pull` (or `git lfs pull --include "
            f"\"mlebench/competitions/{competition_dir.name}/*\"`), then import again")


def _leaderboard_direction(path: Path, competition_dir: Path) -> bool:
    _refuse_lfs(path, competition_dir)
    try:
        scores = leaderboard_scores(path)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise TaskError(f"{path}: not a usable leaderboard ({exc})") from None
    if len(scores) == 0:
        raise TaskError(f"{path}: the leaderboard has no entries")
    return lower_is_better(scores)


def _check_grader(competition_dir: Path, entry: str) -> None:
    """Refuse a competition whose config names a grader module it does not have."""
    module = entry.partition(":")[0].replace(".", "/") + ".py"
    if not (competition_dir / module).is_file():
        raise TaskError(f"{competition_dir}: unknown grader: config.yaml names {entry!r} but there is no {module}")


def grader_problem(task_folder: Path, entry: str) -> str | None:
    """Why an imported grader does not load in this Python (None when it does): shown, not fatal."""
    try:
        load_grade_fn(task_folder, entry)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a note for the user; the task stays imported
        hint = f"; {MLEBENCH_INSTALL_HINT}" if isinstance(exc, ImportError) and "mlebench" in str(exc) else ""
        return f"its grader does not load here ({type(exc).__name__}: {exc}){hint}"
    return None


_HASHED_BYTES = 64 * 1024 * 1024  # larger answers are keyed by size and mtime, not read


def _digest(paths: list[Path], tree: list[Path]) -> str:
    """Content of the grading files and answers, plus names and sizes of all data: the cache key."""
    h = hashlib.sha256()
    for path in paths:
        st = path.stat()
        body = path.read_bytes() if st.st_size <= _HASHED_BYTES else f"{st.st_size}:{st.st_mtime_ns}".encode()
        h.update(path.name.encode() + b"\0" + body)
    for root in tree:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                h.update(f"{p.relative_to(root)}\0{p.stat().st_size}\n".encode())
    return h.hexdigest()[:12]


def _replace(tmp: Path, dest: Path) -> None:
    """Put tmp at dest; an existing dest is moved aside first and removed only after the swap."""
    trash = None
    if dest.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        dest.rename(trash / dest.name)
    try:
        tmp.rename(dest)
    except OSError:
        if trash is not None:
            (trash / dest.name).rename(dest)
        raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def import_mlebench(competition_dir: Path, prepared_dir: Path, *, dest_root: Path | None = None,
                    overwrite: bool = False, in_place: bool = False) -> Path:
    """Make a dojo-nb task folder of a competition; return that folder. Raises TaskError.

    `in_place` records where the prepared data is instead of copying it."""
    competition_dir, prepared_dir = Path(competition_dir), Path(prepared_dir)
    config_path = competition_dir / "config.yaml"
    if not config_path.is_file():
        raise TaskError(f"{competition_dir}: no config.yaml (is this an MLE-bench competition folder?)")
    cfg = yaml.safe_load(config_path.read_text()) or {}
    for name in ("grade.py", "leaderboard.csv"):
        if not (competition_dir / name).is_file():
            raise TaskError(f"{competition_dir}: no {name}")
    lower = _leaderboard_direction(competition_dir / "leaderboard.csv", competition_dir)
    _refuse_lfs(competition_dir / "description.md", competition_dir)
    public, private = prepared_dir / "public", prepared_dir / "private"
    if not public.is_dir() or not private.is_dir():
        raise TaskError(f"{prepared_dir}: expected prepared public/ and private/ folders")
    task_id = str(cfg.get("id") or competition_dir.name)
    dataset = cfg.get("dataset", {}) or {}
    answers_name = Path(str(dataset.get("answers", "test.csv"))).name
    sample_name = Path(str(dataset.get("sample_submission", "sample_submission.csv"))).name
    if not (private / answers_name).is_file():
        raise TaskError(f"{private}: answers file {answers_name} not found")
    if not (public / sample_name).is_file():
        raise TaskError(f"{public}: sample submission {sample_name} not found")
    try:
        answers = load_answers(private / answers_name)
        sample = read_csv(public / sample_name)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise TaskError(f"cannot read the answers or the sample submission: {exc}") from None
    facts = describe(competition_dir, cfg, sample, answers, public)
    entry = grade_entry((cfg.get("grader") or {}).get("grade_fn"))
    _check_grader(competition_dir, entry)

    root = Path(dest_root or imported_dir())
    dest = root / task_id
    if (dest / "config.yaml").is_file() and not overwrite:
        raise TaskError(f"task {task_id} was already imported at {dest} (use --overwrite)")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task_id}.importing-", dir=root))
    try:
        for item in sorted(competition_dir.iterdir()):
            if item.name in _SKIP or item.name.startswith("."):
                continue
            if item.is_dir():
                shutil.copytree(item, tmp / item.name)
            else:
                shutil.copy2(item, tmp / item.name)
        shutil.copy2(config_path, tmp / "mlebench_config.yaml")
        if not in_place:
            shutil.copytree(public, tmp / "data" / "public")
            shutil.copytree(private, tmp / "data" / "private")
            if sample_name != "sample_submission.csv":  # the name dojo-nb shows agents, beside the original
                shutil.copy2(public / sample_name, tmp / "data" / "public" / "sample_submission.csv")
        digest = _digest(sorted(competition_dir.glob("*.py")) + [config_path, competition_dir / "leaderboard.csv",
                                                                   private / answers_name], [public, private])
        config = {
            "id": task_id, "name": str(cfg.get("name", task_id)), "version": f"mlebench-{digest}",
            "type": facts.task_type, "metric": facts.metric, "lower_is_better": lower,
            "split": "train", "id_column": facts.id_column, "target_columns": list(facts.target_columns),
            "submission_kind": facts.submission_kind,
            "data_source": f"imported from MLE-bench competition {task_id}",
            "mlebench": {"competition_type": cfg.get("competition_type"), "answers": answers_name,
                         "sample_submission": sample_name,
                         "grade_entry": entry, "awards_medals": cfg.get("awards_medals")},
        }
        if in_place:
            config["mlebench"]["prepared"] = {"public": str(public.resolve()), "private": str(private.resolve())}
            config["data_source"] += f", prepared data read in place from {prepared_dir.resolve()}"
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        _replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(cache_dir() / "tasks" / task_id, ignore_errors=True)  # the prepared copy of any earlier import
    return dest
