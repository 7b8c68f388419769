"""Concurrent episodes: every step recorded once, in order, in its own notebook; no state or
output crosses episodes; no kernel or container left. (benchmarks/load.py runs the full
16 x 50 version; CI runs this smaller one on each backend.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from dojo_nb.runners.loadtest import run_load
from tests.docker_support import backend_param, skip_without_docker


@pytest.mark.parametrize("backend", ["local", backend_param("docker")])
def test_concurrent_episodes(backend: str, tmp_path: Path) -> None:
    if backend == "docker":
        skip_without_docker()
    report = run_load("iris-species", episodes=4, steps=20, backend=backend, out_dir=tmp_path,
                      timeout_every=10, cell_timeout_s=10.0)
    print(report.line())
    assert report.errors == []
    assert report.steps == 4 * 20
    assert (report.lost, report.misrouted, report.leaked, report.duplicated, report.state_mixed) == (0, 0, 0, 0, 0)
