"""The run summary in an 80-column terminal: a real `dojo-nb run` (subprocess, COLUMNS=80) shows
the whole task id and verdicts, nothing cut with an ellipsis, and a failure reason in full
below the table; a task id too long for the table gets one block per episode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from dojo_nb.views.run_table import summary_view
from dojo_nb.runners.episodes import EpisodeOutcome

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "dojo_nb.cli", "run", *args], capture_output=True, text=True,
                          env=env, timeout=400)


def _summary_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "dojo-nb run" in line)
    return lines[start:]


def test_a_real_run_fits_80_columns(tmp_path: Path) -> None:
    done = _run(["--task", "penguins-species", "--agent", "baseline", "--out", str(tmp_path / "ok")])
    assert done.returncode == 0, done.stdout + done.stderr
    summary = _summary_lines(done.stdout)
    assert all(len(line) <= 80 for line in summary), summary
    text = "\n".join(summary)
    assert "…" not in text
    row = next(line for line in summary if "penguins-species" in line)
    assert "yes" in row and "reproduced" in row, summary


def test_a_failure_reason_is_whole_below_the_table(tmp_path: Path) -> None:
    done = _run(["--task", "iris-species", "--agent", "baseline", "--out", str(tmp_path / "short"),
                 "--max-steps", "2", "--no-replay"])
    assert done.returncode == 1, done.stdout + done.stderr
    summary = _summary_lines(done.stdout)
    assert all(len(line) <= 80 for line in summary) and "…" not in "\n".join(summary), summary
    row = next(line for line in summary if line.lstrip().startswith("iris-species "))
    assert " no " in f"{row} ", summary
    reason = next(i for i, line in enumerate(summary) if line.startswith("iris-species not valid:"))
    words = " ".join(summary[reason:]).split()
    assert len(words) > 4, summary  # a sentence, not one word per line in a squeezed column


def test_a_long_task_id_gets_blocks_not_a_cut_column() -> None:
    long_id = "tabular-playground-series-dec-2021-extended-edition"
    o = EpisodeOutcome(long_id, Path("/nonexistent"), steps=7, elapsed_s=12.0)
    o.final = {"valid": True, "public_position_score": 0.5, "private_score": 0.91, "medal": "gold"}
    o.replay = {"reproduced": False, "message": "cell 4 raised KeyError: 'species' " * 3}
    console = Console(width=80, record=True, force_terminal=False)
    console.print(summary_view([o], 80))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert long_id in lines and any("replay no" in line for line in lines), lines
    assert any(line.startswith(f"{long_id} not reproduced: cell 4") for line in lines), lines
    wide = Console(width=200, record=True)
    wide.print(summary_view([o], 200))
    assert any(long_id in line and "gold" in line for line in wide.export_text().splitlines())
