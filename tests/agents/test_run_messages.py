"""`dojo-nb run` says what happened: a kernel that could not start is an error with its
reason (no "wrote trajectory.ipynb"), and "wrote" lists only files that are on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dojo_nb.cli import app

TASK = "penguins-species"


def test_kernel_start_failure_prints_its_error_and_exits_non_zero(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from dojo_nb.kernel import SyncKernelSession

    def broken_start(self, *args, **kwargs):
        raise RuntimeError("kernel refused to start: test-marker-4711")

    monkeypatch.setattr(SyncKernelSession, "start", broken_start)
    result = CliRunner().invoke(app, ["run", "--task", TASK, "--out", str(tmp_path / "runs"), "--no-replay",
                                      "--max-steps", "2"], terminal_width=400)
    assert result.exit_code == 1, result.output
    assert "test-marker-4711" in result.output
    assert "could not start" in result.output
    assert "wrote" not in result.output
    assert not list((tmp_path / "runs").rglob("trajectory.ipynb"))


def test_outcome_written_lists_only_real_files(tmp_path: Path) -> None:
    from dojo_nb.runners.episodes import EpisodeOutcome

    (tmp_path / "trajectory.ipynb").write_text("{}")
    (tmp_path / "summary.json").symlink_to(tmp_path / "elsewhere.json")
    assert EpisodeOutcome(TASK, tmp_path).written() == ["trajectory.ipynb"]
    assert EpisodeOutcome(TASK, tmp_path / "missing").written() == []


@pytest.mark.docker
def test_docker_image_missing_is_a_start_error_in_a_real_cli_run(tmp_path: Path) -> None:
    from tests.docker_support import docker_reason

    reason = docker_reason()
    if reason:
        pytest.skip(f"docker is not usable here: {reason}")
    env = {**os.environ, "DOJO_NB_DOCKER_IMAGE": "dojo-nb/no-such-image:never", "COLUMNS": "400",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "dojo_nb.cli", "run", "--task", TASK, "--backend", "docker",
                           "--out", str(tmp_path / "runs"), "--no-replay", "--max-steps", "2"],
                          capture_output=True, text=True, env=env, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "wrote" not in done.stdout, out
    assert "no-such-image" in out, out
