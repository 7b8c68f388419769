"""Validating and grading submissions, outside any sandbox.

Everything an agent hands in is hostile until proven otherwise: these functions never
raise on a bad file; they return a Validation or GradeReport whose message says what is wrong.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dojo_nb.tasks.grading_limits import GradeLimits, GradingLimitExceeded, header_problem, run_limited
from dojo_nb.tasks.leaderboard import load_leaderboard
from dojo_nb.tasks.metrics import get_metric, normalise_label
from dojo_nb.tasks.cache import PreparedData, prepare_task
from dojo_nb.tasks.spec import Task

_SHOWN = 5  # how many offending ids a message lists


@dataclass
class Validation:
    ok: bool
    message: str
    n_rows: int = 0

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class GradeReport:
    valid: bool
    message: str
    public_score: float | None = None
    private_score: float | None = None
    public_position_score: float = 0.0
    private_position_score: float = 0.0
    medal: str | None = None
    above_median: bool = False
    lower_is_better: bool = False
    metric: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("public_score", "private_score"):
            if out[key] is not None and not math.isfinite(out[key]):
                out[key] = None
        return out

    def public_view(self) -> dict[str, Any]:
        """What an agent may see during an episode: nothing computed on the private answers."""
        return {k: v for k, v in self.to_dict().items()
                if k in ("valid", "message", "public_score", "public_position_score", "lower_is_better", "metric")}


class _Invalid(Exception):
    """Internal: a precise reason the submission cannot be graded."""


def _few(values) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:_SHOWN])
    return shown + (f" (and {len(values) - _SHOWN} more)" if len(values) > _SHOWN else "")


def _read_bytes(task: Task, path: Path) -> bytes:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise _Invalid(f"no submission file at {path.name}: write your predictions to that path first") from None
    except OSError as exc:
        raise _Invalid(f"cannot read the submission file: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise _Invalid(f"{path.name} is a symbolic link; submit a regular file (links are refused, not followed)")
    if not stat.S_ISREG(info.st_mode):
        raise _Invalid(f"{path.name} is not a regular file")
    cap = int(task.max_submission_mb * 1024 * 1024)
    if info.st_size > cap:
        raise _Invalid(f"submission is {info.st_size / 1e6:.1f} MB, over the {task.max_submission_mb:g} MB cap")
    if info.st_size == 0:
        raise _Invalid("submission file is empty")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _Invalid(f"cannot open the submission file: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(cap + 1)


def _read_frame(task: Task, path: Path) -> pd.DataFrame:
    raw = _read_bytes(task, path)
    if b"\x00" in raw[:65536]:
        raise _Invalid("submission looks like a binary file (it contains NUL bytes), not a CSV text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"submission is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8 CSV") from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                            skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _Invalid(f"submission is not a readable CSV: {first}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _known_labels(task: Task, data: PreparedData) -> set[str] | None:
    if task.submission_kind != "label":
        return None
    if task.classes:
        return {normalise_label(c) for c in task.classes}
    train = data.public_dir / "train.csv"
    if not train.is_file():
        return None
    column = pd.read_csv(train, usecols=[task.train_target], dtype=str)[task.train_target]
    return {normalise_label(v) for v in column.dropna()}


def _check(task: Task, frame: pd.DataFrame, answers: pd.DataFrame, data: PreparedData) -> pd.DataFrame:
    """Raise _Invalid with a precise message, or return the submission's rows aligned to the answers."""
    expected = [task.id_column, *task.target_columns]
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {_few(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {_few(extra)}")
        raise _Invalid("; ".join(parts) + f". Expected exactly: {', '.join(expected)}")
    if len(frame) != len(answers):
        raise _Invalid(f"submission has {len(frame)} rows; expected {len(answers)} (one per row of test.csv)")
    ids = frame[task.id_column].astype(str).str.strip()
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise _Invalid(f"duplicated {task.id_column} value(s): {_few(dup)}")
    want = set(answers[task.id_column].astype(str))
    unknown = [i for i in ids if i not in want]
    if unknown:
        absent = sorted(want - set(ids))
        raise _Invalid(f"{task.id_column} value(s) not in test.csv: {_few(unknown)}; missing ids: {_few(absent)}")
    frame = frame.assign(**{task.id_column: ids}).set_index(task.id_column)
    frame = frame.loc[answers[task.id_column].astype(str)]
    preds = frame[list(task.target_columns)].copy()

    if task.submission_kind == "label":
        labels = _known_labels(task, data)
        for col in preds.columns:
            values = preds[col].astype(str).str.strip()
            empty = values.index[values == ""]
            if len(empty):
                raise _Invalid(f"column {col!r} is empty for id(s) {_few(empty)}")
            if labels:
                bad = sorted({v for v in values if normalise_label(v) not in labels})
                if bad:
                    raise _Invalid(f"column {col!r} has unknown label(s) {_few(bad)}; known labels: {_few(sorted(labels))}")
        return preds

    numeric = pd.DataFrame(index=preds.index)
    for col in preds.columns:
        values = pd.to_numeric(preds[col].astype(str).str.strip(), errors="coerce")
        raw = preds[col].astype(str).str.strip()
        blank = raw.index[(raw == "") | raw.str.lower().isin(["nan", "na", "null", "none"])]
        if len(blank):
            raise _Invalid(f"column {col!r} has missing/NaN predictions for id(s) {_few(blank)}")
        bad = raw[values.isna()]
        if len(bad):
            raise _Invalid(f"column {col!r} has non-numeric value(s) {_few(bad.unique())}")
        inf = values.index[~np.isfinite(values.to_numpy(dtype=float))]
        if len(inf):
            raise _Invalid(f"column {col!r} has infinite predictions for id(s) {_few(inf)}")
        if task.submission_kind == "probability":
            out = values[(values < 0) | (values > 1)]
            if len(out):
                raise _Invalid(f"column {col!r} has probabilities outside [0, 1]: {_few(out.tolist())}")
        if get_metric(task.metric).needs_non_negative:
            neg = values[values < 0]
            if len(neg):
                raise _Invalid(f"column {col!r} has negative predictions {_few(neg.tolist())}; {task.metric} needs values >= 0")
        numeric[col] = values
    if task.submission_kind == "probability" and numeric.shape[1] > 1:
        zero = numeric.index[numeric.sum(axis=1) <= 0]
        if len(zero):
            raise _Invalid(f"class probabilities sum to 0 for id(s) {_few(zero)}")
    return numeric



def _answers(task: Task, data: PreparedData) -> pd.DataFrame:
    answers = pd.read_csv(data.answers_path, dtype={task.id_column: str})
    answers[task.id_column] = answers[task.id_column].astype(str).str.strip()
    return answers


def _expected_columns(task: Task, data: PreparedData) -> int | None:
    """How many columns a submission should have (a custom grader's from its sample submission)."""
    if not task.has_custom_grader:
        return 1 + len(task.target_columns)
    for sample in sorted(data.public_dir.glob("sample_submission*.csv")):
        try:
            with open(sample, encoding="utf-8", errors="replace", newline="") as fh:
                return len(next(csv.reader(fh), []))
        except OSError:
            continue
    return None


def _limited(func: str, task: Task, submission: str | Path, limits: GradeLimits | None) -> Any:
    """Run `func` in a limited child after the header pre-check; an _Invalid says why not."""
    data = prepare_task(task)  # the task's own preparation: trusted, and not the submission's time
    from dojo_nb.tasks.leaderboard_build import builds_reference_board, ensure_reference_board
    if builds_reference_board(task):  # so is building the board (a stale cache's), never in the child
        ensure_reference_board(task, data)
    problem = header_problem(Path(submission), _expected_columns(task, data),
                             int(task.max_submission_mb * 1024 * 1024))
    if problem:
        raise _Invalid(problem)
    try:
        return run_limited(func, (task, str(submission)), limits)
    except GradingLimitExceeded as exc:
        raise _Invalid(str(exc)) from None


def validate_submission(task: Task, submission: str | Path, limits: GradeLimits | None = None) -> Validation:
    """Check a submission file's format against the task, in a child with time and memory limits.

    Never raises.
    """
    try:
        return _limited("validate_here", task, submission, limits)
    except _Invalid as exc:
        return Validation(False, str(exc))
    except Exception as exc:  # noqa: BLE001
        return Validation(False, f"could not validate the submission: {type(exc).__name__}: {exc}")


def grade_submission(task: Task, submission: str | Path, limits: GradeLimits | None = None) -> GradeReport:
    """Validate, score and place on the leaderboard, in a child with time and memory limits.

    Never raises.
    """
    try:
        return _limited("grade_here", task, submission, limits)
    except _Invalid as exc:
        message = str(exc)
    except Exception as exc:  # noqa: BLE001
        message = f"could not grade the submission: {type(exc).__name__}: {exc}"
    return GradeReport(valid=False, message=message, lower_is_better=task.lower_is_better, metric=task.metric)


def validate_here(task: Task, submission: str | Path) -> Validation:
    """`validate_submission` in this process, without limits (what the child runs)."""
    try:
        data = prepare_task(task)
        if "mlebench" in task.extra:  # an imported MLE-bench competition: graded as MLE-bench grades
            from dojo_nb.tasks.mlebench_grading import validate_mlebench
            return validate_mlebench(task, Path(submission), data)
        grader = _custom_grader(task)
        if grader is not None:
            frame = _read_frame(task, Path(submission))
            answers = _answers(task, data)
            usage = answers["Usage"] if "Usage" in answers.columns else pd.Series(["Private"] * len(answers))
            _grade_custom(task, grader, frame, answers, usage)  # raises _Invalid on a bad file
            return Validation(True, f"submission is valid: {len(frame)} rows (checked by the task's own grader)", len(frame))
        frame = _read_frame(task, Path(submission))
        _check(task, frame, _answers(task, data), data)
        return Validation(True, f"submission is valid: {len(frame)} rows, columns {', '.join(frame.columns)}", len(frame))
    except _Invalid as exc:
        return Validation(False, str(exc))
    except MemoryError:  # the limited child reports it as "exceeded N MB"
        raise
    except Exception as exc:  # noqa: BLE001 - the grader must never crash on a submission
        return Validation(False, f"could not validate the submission: {type(exc).__name__}: {exc}")


def _custom_grader(task: Task):
    script = task.folder / "grade.py"
    if not script.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"dojo_nb_task_grade_{task.id.replace('-', '_')}", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "mlebench":
            from dojo_nb.tasks.mlebench_import import MLEBENCH_INSTALL_HINT

            raise _Invalid(f"cannot grade: {MLEBENCH_INSTALL_HINT}") from None
        raise
    return module.grade


def _score(task: Task, preds: pd.DataFrame, truth: pd.Series) -> float:
    return get_metric(task.metric).fn(truth.reset_index(drop=True), preds.reset_index(drop=True))


def public_private_scores(task: Task, submission: str | Path, data: PreparedData) -> tuple[float, float]:
    """The submission's public and private scores against `data`'s answers; raises _Invalid on a bad file.

    Takes the prepared data explicitly so a preparation still being built (its reference
    leaderboard) can score against it; trusted callers only (no limits here)."""
    answers = _answers(task, data)
    frame = _read_frame(task, Path(submission))
    usage = answers["Usage"] if "Usage" in answers.columns else pd.Series(["Private"] * len(answers))
    grader = _custom_grader(task)
    if grader is not None:
        return _grade_custom(task, grader, frame, answers, usage)
    preds = _check(task, frame, answers, data)
    truth = answers.set_index(task.id_column)[task.train_target]
    pub = (usage == "Public").to_numpy()
    return _score(task, preds[pub], truth[pub]), _score(task, preds[~pub], truth[~pub])


def grade_here(task: Task, submission: str | Path) -> GradeReport:
    """`grade_submission` in this process, without limits (what the child runs)."""
    report = GradeReport(valid=False, message="", lower_is_better=task.lower_is_better, metric=task.metric)
    try:
        data = prepare_task(task)
        if "mlebench" in task.extra:  # an imported MLE-bench competition: graded as MLE-bench grades
            from dojo_nb.tasks.mlebench_grading import grade_mlebench
            return grade_mlebench(task, Path(submission), data)
        public_score, private_score = public_private_scores(task, submission, data)
    except _Invalid as exc:
        report.message = str(exc)
        return report
    except MemoryError:  # the limited child reports it as "exceeded N MB"
        raise
    except Exception as exc:  # noqa: BLE001
        report.message = f"could not grade the submission: {type(exc).__name__}: {exc}"
        return report
    board = load_leaderboard(task)
    report.valid = True
    report.public_score = float(public_score)
    report.private_score = float(private_score)
    report.public_position_score = board.position_score(public_score, "public")
    report.private_position_score = board.position_score(private_score, "private")
    report.medal = board.medal(private_score)
    report.above_median = board.above_median(private_score)
    report.message = f"{task.metric} = {public_score:.6g} on the public part of the test set"
    return report


def _grade_custom(task: Task, grader, frame: pd.DataFrame, answers: pd.DataFrame, usage: pd.Series) -> tuple[float, float]:
    """A task's own grade(submission, answers); MLE-bench's InvalidSubmissionError becomes a message."""
    ids = answers[task.id_column]
    sub_ids = frame[task.id_column].astype(str).str.strip() if task.id_column in frame.columns else None
    scores = []
    for part in ("Public", "Private"):
        mask = (usage == part).to_numpy()
        if not mask.any():
            mask = np.ones(len(answers), dtype=bool)
        part_answers = answers[mask].drop(columns=["Usage"], errors="ignore").reset_index(drop=True)
        if sub_ids is not None:
            part_sub = frame[sub_ids.isin(set(ids[mask])).to_numpy()].reset_index(drop=True)
        else:
            part_sub = frame
        try:
            scores.append(float(grader(part_sub, part_answers)))
        except Exception as exc:  # noqa: BLE001
            if type(exc).__name__ == "InvalidSubmissionError":
                raise _Invalid(f"invalid submission: {exc}") from None
            raise
    return scores[0], scores[1]
