"""`dojo-nb run --split eval --engine ray --address ...` against a local Ray instance started here.

The CLI runs in a subprocess as a second Ray driver; episodes run as Ray tasks in Ray's
worker processes, come back as tar bytes and are unpacked into the output folder. The fixture
shuts Ray down even when the test fails and checks that no raylet, worker or kernel is left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dojo_nb.runners.ray_engine import pack_episode, unpack_episode

pytestmark = pytest.mark.slow


def _children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    ray = pytest.importorskip("ray")
    before = {p.pid for p in _children()}
    os.environ["RAY_DISABLE_DOCKER_CPU_WARNING"] = "1"
    temp = tempfile.mkdtemp(prefix="rdnb-", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    try:
        ctx = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024,
                       _temp_dir=temp, _node_ip_address="127.0.0.1", log_to_driver=False)
        yield ctx.address_info["gcs_address"]
    finally:
        ray.shutdown()
        left = [p for p in _children() if p.pid not in before]
        _, alive = psutil.wait_procs(left, timeout=30)
        for p in alive:  # only what this fixture's Ray started; reported as a failure below
            p.kill()
        shutil.rmtree(temp, ignore_errors=True)
        assert not alive, f"left after ray.shutdown(): {[(p.pid, p.name()) for p in alive]}"


def test_split_on_ray_gathers_trajectories(ray_address: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, RAY_DISABLE_DOCKER_CPU_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "dojo_nb.cli", "run", "--split", "eval", "--limit", "2", "--engine", "ray",
         "--address", ray_address, "--out", str(out), "--max-steps", "9", "--no-replay",
         "--cell-timeout", "120"],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["engine"] == "ray" and [e["task"] for e in run["episodes"]] == ["breast-cancer", "digits-pixels"]
    for task in ("breast-cancer", "digits-pixels"):
        ep = out / task
        summary = json.loads((ep / "summary.json").read_text())
        assert summary["task"]["id"] == task and summary["steps"] == 9
        assert summary["final"]["valid"] is True  # the baseline submitted at step 8
        for name in ("trajectory.ipynb", "solution.ipynb"):
            assert (ep / name).stat().st_size > 0
        assert not (ep / "sandbox" / "input").exists()  # public data is not shipped back
        assert (ep / "sandbox" / "submission" / "submission.csv").is_file()
        worker = json.loads((ep / "ray.json").read_text())
        assert worker["pid"] != os.getpid() and worker["payload_bytes"] > 0
        assert not Path(worker["remote_episode_dir"]).exists()  # the worker's temp copy is gone
    # No kernel outlives its episode: nothing runs from the workers' temp folders.
    leftovers = [p for p in _children() if any("dojo-nb-ray-" in a for a in _cmdline(p))]
    assert not leftovers, leftovers


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def test_clear_message_without_ray(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None\n"  # as if ray were not installed
            "from dojo_nb.cli import app\n"
            f"app(['run', '--split', 'eval', '--engine', 'ray', '--out', {str(tmp_path)!r}])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "pip install 'dojo-nb[ray]'" in proc.stdout + proc.stderr


def test_pack_skips_input_and_round_trips(tmp_path: Path) -> None:
    ep = tmp_path / "ep"
    (ep / "sandbox" / "input").mkdir(parents=True)
    (ep / "sandbox" / "input" / "train.csv").write_text("big public data")
    (ep / "sandbox" / "working").mkdir()
    (ep / "sandbox" / "working" / "model.txt").write_text("w")
    (ep / "trajectory.ipynb").write_text("{}")
    target = tmp_path / "back"
    unpack_episode(pack_episode(ep), target)
    assert (target / "trajectory.ipynb").read_text() == "{}"
    assert (target / "sandbox" / "working" / "model.txt").read_text() == "w"
    assert not (target / "sandbox" / "input").exists()
