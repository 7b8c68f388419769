"""Grading an imported MLE-bench competition as MLE-bench's own `grade_csv` does.

The submission and the answers reach the competition's grader exactly as MLE-bench reads them
(typed `pandas.read_csv` with round-trip floats; JSONL answers as a list of records), whole and
unfiltered. The grader's value is the score; medals are decided on it rounded to 5 decimals, as
MLE-bench ranks. Whatever the grader raises becomes the validation message, in its own words.
An imported MLE-Dojo competition (config `mlebench.format: mledojo`) takes the same path with
MLE-Dojo's reading, metric class and position scores (see mledojo_grading).

The per-submit (public) score is the same grader on the public rows only: Kaggle's when the
answers have a Usage column, else a deterministic `PUBLIC_SHARE` of the ids by hash
(`public_ids`). The final (private) score is always the grader on the whole file, so medals
stay MLE-bench's. When the grader cannot score the public rows alone (answers that are not a
table with the id column, a grader that needs every row), no public score is shown at all:
showing the whole-file score would show the final one.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dojo_nb.tasks import grading
from dojo_nb.tasks.leaderboard import load_leaderboard
from dojo_nb.tasks.mlebench_loader import ensure_mlebench, load_grade_fn
from dojo_nb.tasks.mlebench_ranking import leaderboard_scores, rank, round_score
from dojo_nb.tasks.mlebench_stub.utils import load_answers, read_csv
from dojo_nb.tasks.cache import PreparedData
from dojo_nb.tasks.spec import Task

_Invalid = grading._Invalid  # noqa: SLF001 - the grading module's "bad submission" signal


def is_mlebench_task(task: Task) -> bool:
    return isinstance(task.extra.get("mlebench"), dict)


def _info(task: Task) -> dict[str, Any]:
    return task.extra.get("mlebench") or {}


def is_mledojo(task: Task) -> bool:
    return _info(task).get("format") == "mledojo"


def answers_path(task: Task, data: PreparedData) -> Path:
    """The answers file under its own name (CSV, JSONL…), as the competition's config names it."""
    name = Path(str(_info(task).get("answers") or "answers.csv")).name
    path = data.private_dir / name
    return path if path.is_file() else data.answers_path


def read_submission(task: Task, path: Path) -> pd.DataFrame:
    """The submission as MLE-bench reads it, behind dojo-nb's file checks (size cap, no links)."""
    raw = grading._read_bytes(task, path)  # noqa: SLF001
    if b"\x00" in raw[:65536]:
        raise _Invalid("submission looks like a binary file (it contains NUL bytes), not a CSV text file")
    try:
        if is_mledojo(task):
            from dojo_nb.tasks.mledojo_grading import read_frame
            return read_frame(io.BytesIO(raw))
        return read_csv(io.BytesIO(raw))
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _Invalid(f"submission is not a readable CSV: {first}") from None


def grade_function(task: Task) -> Callable:
    try:
        if is_mledojo(task):
            from dojo_nb.tasks.mledojo_grading import grade_function as mledojo_grade_function
            return mledojo_grade_function(task)
        return load_grade_fn(task.folder, str(_info(task).get("grade_entry") or "grade:grade"))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a grader that cannot load is reported, not raised
        raise _Invalid(f"cannot load the competition's grader ({task.folder / 'grade.py'}): "
                       f"{type(exc).__name__}: {exc}") from None


def run_grader(grade_fn: Callable, submission: pd.DataFrame, answers: Any) -> float:
    """The grader's value on copies of the inputs (graders may modify them in place)."""
    try:
        value = grade_fn(submission.copy(), copy.deepcopy(answers))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any grader exception means "cannot be scored"
        if type(exc).__name__ == "InvalidSubmissionError":
            raise _Invalid(f"invalid submission: {exc}") from None
        said = f": {exc}" if str(exc) else ""
        raise _Invalid(f"the competition's grader could not score the submission ({type(exc).__name__}{said})") from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _Invalid(f"the competition's grader returned {value!r}, not a number") from None


#: Share of the answer rows on the public board of a competition whose answers mark none.
PUBLIC_SHARE = 0.3


def public_ids(ids: pd.Series, share: float = PUBLIC_SHARE) -> np.ndarray:
    """Which rows are public: the first 8 bytes of sha256(id) below `share` of 2**64.

    Deterministic (the same rows on every machine and every submit), independent of the
    row order, and never empty (the row of the smallest hash when none falls below).
    """
    keys = [int.from_bytes(hashlib.sha256(str(v).strip().encode("utf-8")).digest()[:8], "big") for v in ids]
    cut = int(share * 2**64)
    mask = np.array([k < cut for k in keys], dtype=bool)
    if len(keys) and not mask.any():
        mask[int(np.argmin(keys))] = True
    return mask


def _public_part(task: Task, submission: pd.DataFrame, answers: Any) -> tuple[pd.DataFrame, Any] | None:
    """Rows of the public board: Kaggle's (a Usage column) or, when the answers mark none, a
    hashed `PUBLIC_SHARE` of the ids, so a submit never shows the score on the whole file."""
    key = task.id_column
    if not isinstance(answers, pd.DataFrame) or key not in answers.columns or key not in submission.columns:
        return None
    if "Usage" in answers.columns:
        public = answers["Usage"].astype(str).str.strip().str.lower().str.startswith("public").to_numpy()
        if public.all() or not public.any():
            return None
    else:
        public = public_ids(answers[key])
    public_keys = set(answers.loc[public, key].astype(str).str.strip())
    keep = submission[key].astype(str).str.strip().isin(public_keys).to_numpy()
    return submission[keep].reset_index(drop=True), answers[public].reset_index(drop=True)


def _scores(task: Task, data: PreparedData) -> Callable[[Path], tuple[float, float | None, int]]:
    grade_fn = grade_function(task)
    if is_mledojo(task):
        from dojo_nb.tasks.mledojo_grading import read_frame
        answers = read_frame(answers_path(task, data))
    else:
        answers = load_answers(answers_path(task, data))

    def score(path: Path) -> tuple[float, float | None, int]:
        submission = read_submission(task, path)
        whole = run_grader(grade_fn, submission, answers)
        part = _public_part(task, submission, answers)
        public = None
        if part is not None:
            try:
                public = run_grader(grade_fn, *part)
            except _Invalid:
                public = None
        return whole, public, len(submission)

    return score


def validate_mlebench(task: Task, submission: Path, data: PreparedData) -> grading.Validation:
    """Valid when the competition's grader scores the whole file; otherwise its reason. Never raises."""
    try:
        _, _, n_rows = _scores(task, data)(Path(submission))
    except _Invalid as exc:
        return grading.Validation(False, str(exc))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        return grading.Validation(False, f"could not validate the submission: {type(exc).__name__}: {exc}")
    return grading.Validation(True, f"submission is valid: {n_rows} rows (checked by the competition's own grader)", n_rows)


def _mledojo_positions(task: Task, report: grading.GradeReport) -> None:
    """MLE-Dojo's own position scores on its public and private leaderboards."""
    from dojo_nb.tasks.mledojo_grading import position_score
    from dojo_nb.tasks.mledojo_loader import ensure_mledojo

    report.lower_is_better = task.lower_is_better
    higher = not task.lower_is_better
    for which in ("public", "private"):
        score = report.public_score if which == "public" else report.private_score
        if score is None:
            continue
        value = position_score(score, task.folder / "info" / f"{which}_leaderboard.csv", higher)
        if value is not None:
            setattr(report, f"{which}_position_score", value)
    report.extra["mledojo"] = {"helpers": ensure_mledojo()}


def grade_mlebench(task: Task, submission: Path, data: PreparedData) -> grading.GradeReport:
    """Score, medal and positions as MLE-bench gives them. Never raises."""
    report = grading.GradeReport(valid=False, message="", lower_is_better=task.lower_is_better, metric=task.metric)
    try:
        whole, public, _ = _scores(task, data)(Path(submission))
    except _Invalid as exc:
        report.message = str(exc)
        return report
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        report.message = f"could not grade the submission: {type(exc).__name__}: {exc}"
        return report
    report.valid = True
    report.private_score = whole
    report.public_score = public  # None: no public score, never the whole-file (final) one
    rounded = round_score(whole)
    board_file = task.folder / "leaderboard.csv"
    if board_file.is_file():
        ranking = rank(whole, leaderboard_scores(board_file))
        report.medal, report.above_median = ranking.medal, ranking.above_median
        report.lower_is_better = ranking.lower_is_better
        report.extra["mlebench"] = {"rounded_score": ranking.score, "thresholds": ranking.thresholds}
    board = load_leaderboard(task)
    if rounded is not None and math.isfinite(rounded):
        report.private_position_score = board.position_score(rounded, "private")
        if public is not None:
            report.public_position_score = board.position_score(round_score(public), "public")
    if is_mledojo(task):
        _mledojo_positions(task, report)
    else:
        report.extra.setdefault("mlebench", {})["helpers"] = ensure_mlebench()
    report.message = (f"{task.metric} = {public:.6g} on the public part of the test set" if public is not None
                      else "valid; no public score for this competition (its grader needs the whole file)")
    return report
