"""The benchmarks run (a quick smoke run, few iterations) so they cannot rot; figures are not asserted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # the whole benchmark suite, quick settings: kept in CI (`pytest -m slow`)
def test_run_all_quick() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick"],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    names = {line.split("=", 1)[0] for line in res.stdout.splitlines() if "=" in line}
    assert {"step_overhead_ratio", "env_step_overhead_ratio", "replay_overhead_ratio", "episodes",
            "pool_kernel_pss_mb_cold", "pool_first_import_s_cold"} <= names, res.stdout
    if os.geteuid() == 0 and shutil.which("bwrap"):  # where a template kernel can run (CI)
        assert {"pool_template_pss_ratio", "pool_template_first_import_ratio"} <= names, res.stdout
    assert not any(n.endswith("_failed") for n in names), res.stdout
