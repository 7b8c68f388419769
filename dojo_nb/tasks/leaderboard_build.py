"""A built-in task's leaderboard, built from its reference ladder on this installation's own draw.

Every installation draws its task rows from its own secret seed (tasks/secret.py), so a
leaderboard made on one machine's draw would rank another machine's scores against data
they were never computed on. Tasks whose config says `leaderboard: references` therefore get
their leaderboard here, at first preparation: every rung of the reference ladder
(tasks/reference.py) is run on the public training data and scored by the task's grader
against this draw's answers. The result is `private/leaderboard.csv` in the prepared cache
(never in the task folder, never visible to a sandbox), in MLE-bench's `score` format plus
our `publicScore`.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.errors import LiveError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dojo_nb.tasks.cache import PreparedData
from dojo_nb.tasks.reference import LADDER_VERSION, ladder
from dojo_nb.tasks.spec import Task

BOARD_NAME = "leaderboard.csv"
LADDER_STAMP = "leaderboard.ladder"  # which ladder made the board: another one means rebuild
REFERENCES = "references"


def builds_reference_board(task: Task) -> bool:
    """True when the task's leaderboard comes from its reference ladder on this installation's draw."""
    return task.source != "imported" and task.extra.get("leaderboard") == REFERENCES


def board_path(data: PreparedData) -> Path:
    return data.private_dir / BOARD_NAME


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def prepare_jobs() -> int:
    """Worker processes for the ladder: two where there are two cores (DOJO_NB_PREPARE_JOBS overrides)."""
    value = os.environ.get("DOJO_NB_PREPARE_JOBS", "").strip()
    if value:
        return max(1, int(value))
    return max(1, min(2, os.cpu_count() or 1))


def _predict(ref, train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    return ref.predict(train, test)


def _predictions(refs: list, train: pd.DataFrame, test: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """Each rung's submission, in ladder order; rungs run in parallel worker processes (loky:
    fresh interpreters, so no lock of the driver's threads is inherited) when more than one job."""
    jobs = prepare_jobs()
    if jobs == 1:
        return (_predict(ref, train, test) for ref in refs)
    from joblib import Parallel, delayed

    return Parallel(n_jobs=jobs, backend="loky", return_as="generator")(
        delayed(_predict)(ref, train, test) for ref in refs)


def build_reference_board(task: Task, data: PreparedData) -> pd.DataFrame:
    """Run the ladder on `data`, score every rung, write the board into `data`'s private folder."""
    from dojo_nb.tasks.grading import public_private_scores

    train = pd.read_csv(data.public_dir / "train.csv")
    test = pd.read_csv(data.public_dir / "test.csv")
    refs = ladder(task)
    rows = []
    progress = _progress()
    try:
        progress.start()
        shown = progress
    except LiveError:  # another live display (a run's progress table) owns the terminal
        shown = None
    try:
        bar = shown.add_task(f"{task.id}: leaderboard from references", total=len(refs)) if shown else None
        with tempfile.TemporaryDirectory(prefix="dojo-refs-") as tmp:
            path = Path(tmp) / "submission.csv"
            for ref, sub in zip(refs, _predictions(refs, train, test)):
                sub.to_csv(path, index=False)
                public, private = public_private_scores(task, path, data)
                rows.append({"teamName": f"ref-{ref.name}", "score": round(float(private), 8),
                             "publicScore": round(float(public), 8)})
                if shown:
                    shown.advance(bar)
    finally:
        if shown:
            shown.stop()
    board = pd.DataFrame(rows).sort_values("score", ascending=task.lower_is_better, kind="stable")
    target = board_path(data)
    tmp_file = target.with_name(f".{BOARD_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    board.to_csv(tmp_file, index=False)
    os.replace(tmp_file, target)  # atomic: a reader sees no board or the whole board
    (data.private_dir / LADDER_STAMP).write_text(LADDER_VERSION)
    return board


def ensure_reference_board(task: Task, data: PreparedData) -> Path:
    """The board's path, building it when the cache has none or one made by another ladder."""
    path = board_path(data)
    stamp = data.private_dir / LADDER_STAMP
    if not path.is_file() or not stamp.is_file() or stamp.read_text().strip() != LADDER_VERSION:
        build_reference_board(task, data)
    return path


__all__ = ["BOARD_NAME", "board_path", "build_reference_board", "builds_reference_board", "ensure_reference_board"]
