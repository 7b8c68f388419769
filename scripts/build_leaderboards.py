"""Build each built-in task's leaderboard.csv from the reference-solution ladder.

Usage: python scripts/build_leaderboards.py [TASK_ID ...]

Every entry is a real solution run on the public training data (and, for the references that
say so, the task's source dataset, which agents may use too) and scored with the task's own
grader; no human scores are invented. Re-run after changing a task's generator or metric; the
data is this installation's draw (its secret seed, see docs/tasks.md).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd
from rich.progress import Progress

from dojo_nb.tasks import list_tasks, load_task
from dojo_nb.tasks.leaderboard import Leaderboard
from dojo_nb.tasks.reference import run_ladder
import dojo_nb.tasks.grading as grading
import numpy as np


def build(task_id: str) -> pd.DataFrame:
    task = load_task(task_id)
    data = task.prepare()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "submission.csv"
        for ref, sub in run_ladder(task, data):
            sub.to_csv(path, index=False)
            report = grading.grade_submission(task, path)
            if not report.valid:
                raise RuntimeError(f"{task.id}/{ref.name}: reference submission invalid: {report.message}")
            rows.append({"teamName": f"ref-{ref.name}", "score": round(report.private_score, 8),
                         "publicScore": round(report.public_score, 8)})
    board = pd.DataFrame(rows).sort_values("score", ascending=task.lower_is_better, kind="stable")
    board.to_csv(task.folder / "leaderboard.csv", index=False)
    return board


def main(argv: list[str]) -> None:
    ids = argv or [t.id for t in list_tasks()]
    with Progress() as progress:
        bar = progress.add_task("leaderboards", total=len(ids))
        for task_id in ids:
            board = build(task_id)
            progress.console.print(f"{task_id}: {len(board)} entries, best {board['score'].iloc[0]:.5g}, worst {board['score'].iloc[-1]:.5g}")
            progress.advance(bar)


if __name__ == "__main__":
    main(sys.argv[1:])
