"""Importing prepared MLE-Dojo competitions in place.

MLE-Dojo prepares competition `<id>` into `<data-dir>/<id>/data/public` (what the agent gets,
with `sample_submission.csv` and `description.txt`) and `.../private` (`test_answer.csv`, the
leaderboards); its code is `mledojo/competitions/<id>/` (`utils/metric.py`, `utils/prepare.py`,
`info/description.txt`, `info/{public,private}_leaderboard.csv`). We copy only the small code
and info files into the task folder, never `prepare.py` and never run it (MLE-Dojo's prepare
scripts may delete the raw copy), and record where the prepared data is.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from dojo_nb.paths import cache_dir
from dojo_nb.tasks.catalogue import imported_dir
from dojo_nb.tasks.mlebench_bulk import Outcome
from dojo_nb.tasks.mlebench_import import _digest, _replace, is_lfs_pointer
from dojo_nb.tasks.mlebench_meta import has_images, kind_of, type_of
from dojo_nb.tasks.mledojo_loader import load_metric_class
from dojo_nb.tasks.mledojo_meta import groups, kaggle_facts, metric_name, type_from_tags
from dojo_nb.tasks.spec import TaskError

ANSWERS = "test_answer.csv"
SAMPLE = "sample_submission.csv"


def default_competitions_dir() -> Path | None:
    """`mledojo/competitions` of an installed MLE-Dojo, if any."""
    try:
        spec = importlib.util.find_spec("mledojo")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "competitions"
        if candidate.is_dir():
            return candidate
    return None


def prepared_ids(data_dir: Path) -> list[str]:
    return sorted(p.name for p in Path(data_dir).iterdir() if (p / "data").is_dir())


def _leaderboard(code: Path, private: Path, which: str) -> Path | None:
    for path in (code / "info" / f"{which}_leaderboard.csv", private / f"{which}_leaderboard.csv"):
        if path.is_file():
            if is_lfs_pointer(path):
                raise TaskError(f"{path} is a Git LFS pointer, not the leaderboard: run `git lfs pull` in your "
                                f"MLE-Dojo clone, then import again")
            return path
    return None


def import_competition(data_dir: Path, competitions_dir: Path, cid: str, *, overwrite: bool = False) -> Path:
    """Register one prepared competition in place; return its task folder. Raises TaskError."""
    prepared = Path(data_dir) / cid / "data"
    public, private = prepared / "public", prepared / "private"
    code = Path(competitions_dir) / cid
    if not public.is_dir() or not private.is_dir():
        raise TaskError(f"not prepared: {prepared}/public and private/ are needed; run MLE-Dojo's "
                        f"`python prepare/mle.py --competitions {cid} --data-dir {data_dir}` first")
    for name, folder in ((ANSWERS, private), (SAMPLE, public)):
        if not (folder / name).is_file():
            raise TaskError(f"not prepared: {folder / name} is missing")
    metric_py = code / "utils" / "metric.py"
    if not metric_py.is_file():
        raise TaskError(f"unknown grader: no {metric_py} (is {competitions_dir} MLE-Dojo's mledojo/competitions?)")
    try:
        metric_class = load_metric_class(metric_py)
        higher = bool(metric_class().higher_is_better)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported for this competition only
        raise TaskError(f"unknown grader: {metric_py} does not load ({type(exc).__name__}: {exc})") from None
    private_board = _leaderboard(code, private, "private")
    public_board = _leaderboard(code, private, "public")
    if private_board is None:
        raise TaskError(f"no leaderboard: neither {code}/info/private_leaderboard.csv nor {private}/private_leaderboard.csv")
    try:
        answers, sample = pd.read_csv(private / ANSWERS), pd.read_csv(public / SAMPLE)
        board = pd.read_csv(private_board)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise TaskError(f"cannot read the answers, sample or leaderboard: {exc}") from None
    if board.shape[1] < 2 or len(board) == 0:
        raise TaskError(f"{private_board}: not a leaderboard (expected rank,score rows)")

    facts = kaggle_facts(competitions_dir, cid)
    tags = facts.get("tags") or []
    metric = metric_name(metric_class, tags)
    ident = str(answers.columns[0])  # MLE-Dojo's metrics key rows by the first column
    targets = [str(c) for c in sample.columns if str(c) != ident] or [str(c) for c in answers.columns[1:]]
    kind = kind_of(metric, answers, targets)
    task_type = type_from_tags(tags) or type_of(kind, answers, targets, has_images(public))
    if kind == "value" and task_type in ("binary", "multiclass"):
        kind = "label"

    root = imported_dir()
    dest = root / cid
    if (dest / "config.yaml").is_file() and not overwrite:
        raise TaskError(f"task {cid} was already imported at {dest} (use --overwrite)")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cid}.importing-", dir=root))
    try:
        (tmp / "utils").mkdir()
        shutil.copy2(metric_py, tmp / "utils" / "metric.py")
        (tmp / "info").mkdir()
        for path in sorted((code / "info").glob("*")) if (code / "info").is_dir() else []:
            if path.is_file():
                shutil.copy2(path, tmp / "info" / path.name)
        for which, path in (("private", private_board), ("public", public_board)):
            if path is not None and not (tmp / "info" / f"{which}_leaderboard.csv").is_file():
                shutil.copy2(path, tmp / "info" / f"{which}_leaderboard.csv")
        board.rename(columns={board.columns[1]: "score"}).to_csv(tmp / "leaderboard.csv", index=False)
        description = next((p for p in (code / "info" / "description.txt", public / "description.txt") if p.is_file()), None)
        (tmp / "description.md").write_text(description.read_text(encoding="utf-8") if description else f"# {cid}\n")
        digest = _digest([metric_py, private_board, private / ANSWERS], [public, private])
        config = {
            "id": cid, "name": str(facts.get("title") or cid), "version": f"mledojo-{digest}",
            "type": task_type, "metric": metric, "lower_is_better": not higher, "split": "train",
            "id_column": ident, "target_columns": targets, "submission_kind": kind,
            "data_source": f"imported from MLE-Dojo competition {cid}, prepared data read in place from {prepared.resolve()}",
            "mlebench": {"format": "mledojo", "answers": ANSWERS, "sample_submission": SAMPLE,
                         "prepared": {"public": str(public.resolve()), "private": str(private.resolve())}},
            "mledojo": {"splits": groups(competitions_dir, cid), "tags": tags, "href": facts.get("href"),
                        "metric_class": metric_class.__name__, "higher_is_better": higher},
        }
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        _replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(cache_dir() / "tasks" / cid, ignore_errors=True)  # every cached copy of an earlier import
    return dest


def import_data_dir(data_dir: Path, competitions_dir: Path, ids: list[str] | None = None, *,
                    overwrite: bool = False) -> list[Outcome]:
    """Import the given (or every prepared) competition; one competition's problem never stops the rest."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TaskError(f"{data_dir}: no such data directory")
    outcomes = []
    for cid in list(dict.fromkeys(ids or [])) or prepared_ids(data_dir):
        try:
            folder = import_competition(data_dir, competitions_dir, cid, overwrite=overwrite)
        except TaskError as exc:
            outcomes.append(Outcome(cid, False, str(exc)))
            continue
        cfg = yaml.safe_load((folder / "config.yaml").read_text())
        better = "lower" if cfg["lower_is_better"] else "higher"
        outcomes.append(Outcome(cid, True, f"{cfg['type']}, {cfg['metric']} ({better} is better); "
                                           f"splits: {', '.join(cfg['mledojo']['splits']) or 'none'}", folder))
    return outcomes
