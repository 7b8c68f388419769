"""Concurrent episodes: every step recorded once, in order, in its own notebook; no state or
output crosses episodes; no kernel or container left. (benchmarks/load.py runs the full
16 x 50 version; CI runs this smaller one on each backend.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dojo_nb.runners.loadtest import run_load


@pytest.mark.parametrize("backend", ["local", "docker"])
def test_concurrent_episodes(backend: str, tmp_path: Path) -> None:
    if backend == "docker":
        from dojo_nb.kernel.docker import docker_unavailable_reason

        reason = docker_unavailable_reason()
        if reason:
            if os.environ.get("DOJO_REQUIRE_DOCKER") == "1":
                pytest.fail(f"DOJO_REQUIRE_DOCKER=1 but docker is unavailable: {reason}")
            pytest.skip(f"docker unavailable: {reason}")
    report = run_load("iris-species", episodes=4, steps=20, backend=backend, out_dir=tmp_path,
                      timeout_every=10, cell_timeout_s=10.0)
    print(report.line())
    assert report.errors == []
    assert report.steps == 4 * 20
    assert (report.lost, report.misrouted, report.leaked, report.duplicated, report.state_mixed) == (0, 0, 0, 0, 0)
