"""First-time preparation of every built-in task, and the baseline's episode wall time on the largest.

Each task is prepared into a fresh, empty cache (so the time is what a first `dojo-nb run`
pays), at the full size the leaderboards were made at. Then the baseline agent runs one
episode on the task with the most training rows. Prints `prepare_s_<id>=X`, `train_rows_<id>=N`,
`prepare_s_max=X`, `largest_task=<id>` and `baseline_episode_s=X` lines.

Usage: python benchmarks/tasks_prepare.py [--no-episode] [--medals]
(--medals also runs the baseline on every task and prints its medal per task.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-episode", action="store_true")
    parser.add_argument("--medals", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dojo-prepare-bench-") as tmp:
        os.environ["DOJO_NB_CACHE"] = str(Path(tmp) / "cache")
        os.environ.pop("DOJO_NB_TASK_SIZE", None)  # full size
        from dojo_nb.runners.episodes import run_episode
        from dojo_nb.tasks import list_tasks
        from dojo_nb.tasks.cache import prepare_task

        sizes: dict[str, int] = {}
        slowest = 0.0
        for task in list_tasks():
            t0 = time.perf_counter()
            data = prepare_task(task)
            took = time.perf_counter() - t0
            slowest = max(slowest, took)
            train = data.root / "public" / "train.csv"
            rows = sum(1 for _ in open(train)) - 1 if train.is_file() else 0
            sizes[task.id] = rows
            print(f"prepare_s_{task.id}={took:.2f}", flush=True)
            print(f"train_rows_{task.id}={rows}", flush=True)
        print(f"prepare_s_max={slowest:.2f}")
        largest = max(sizes, key=sizes.get)
        print(f"largest_task={largest}")
        if not args.no_episode:
            t0 = time.perf_counter()
            outcome = run_episode(largest, "baseline", out_dir=Path(tmp) / "episode", replay=False)
            print(f"baseline_episode_s={time.perf_counter() - t0:.1f}")
            print(f"baseline_valid={int(bool(outcome.valid))}")
        if args.medals:
            for task_id in sorted(sizes):
                outcome = run_episode(task_id, "baseline", out_dir=Path(tmp) / f"ep-{task_id}", replay=False)
                final = outcome.final or {}
                print(f"baseline_medal_{task_id}={final.get('medal') or 'none'}", flush=True)


if __name__ == "__main__":
    main()
