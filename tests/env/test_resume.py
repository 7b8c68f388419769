"""A driver SIGKILLed in the middle of a cell, then `resume`: state rebuilt, episode finished.

Also: corrupt, truncated or finished trajectories handed to `resume` and `replay` give a
clear error and are left byte for byte as they were.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import psutil
import pytest

import dojo_nb
from dojo_nb import notebook as nbk
from dojo_nb.env import ResumeError

DRIVER = textwrap.dedent("""
    import sys, dojo_nb
    env = dojo_nb.make(sys.argv[1], out_dir=sys.argv[2], max_steps=40, agent_name="baseline")
    env.reset()
    env.step({"type": "execute_code", "code": "import os, pandas as pd\\ntrain = pd.read_csv(os.path.join(INPUT_DIR, 'train.csv'))\\nkept = 41"})
    env.step({"type": "execute_code", "code": "kept += 1\\nbroken = undefined_name"})
    env.step({"type": "execute_code", "code": "import shutil, glob\\nshutil.copy(sorted(glob.glob(os.path.join(INPUT_DIR, 'sample_submission*')))[0], SUBMISSION_PATH)"})
    env.step({"type": "submit"})
    print("ready", flush=True)
    env.step({"type": "execute_code", "code": "open(os.path.join(WORKING_DIR, 'started'), 'w').close()\\nimport time\\ntime.sleep(120)"})
""")


def _kernels_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_driver_killed_mid_cell_then_resume_finishes_the_episode(tmp_path: Path, task_id: str) -> None:
    out = tmp_path / "episode"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, task_id, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        marker = out / "sandbox" / "working" / "started"
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the long cell never started"
        kernels = _kernels_of(proc.pid)
        assert kernels
        proc.send_signal(signal.SIGKILL)  # the driver only: its kernel must follow by itself
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(kernels, timeout=30)
        assert not alive, f"kernel processes outlived their driver: {alive}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    nb = nbk.load_trajectory(out)
    nbformat.validate(nb)
    steps = nbk.list_steps(nb)
    # the cell that never finished is there, with its source, marked running (saved before it ran)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5]
    assert steps[-1].status == "running" and "time.sleep(120)" in steps[-1].source
    assert not (out / "summary.json").exists()

    env, obs, info = dojo_nb.resume(out)
    try:
        assert obs["action_type"] == "resume" and obs["status"] == "ok", obs["text"]
        assert "resumed after step 5" in obs["text"]
        assert info["step"] == 5 and info["n_submissions"] == 1
        assert info["best_public_position_score"] == pytest.approx(info["reward_sum"])
        # Cell 1 succeeded, cell 2 failed: its `kept += 1` ran before the error, but a failed
        # cell is not in the solution, so the rebuilt state has kept == 41 (as papermill would).
        o, *_ = env.step({"type": "execute_code", "code": "print(kept, train.shape[0] > 0, 'broken' in globals())"})
        assert o["status"] == "ok" and o["text"].split() == ["41", "True", "False"], o["text"]
        assert env.trajectory.metadata["dojo"]["resumes"][0]["after_step"] == 5
        # Simulate a second death (no summary written), then finish from the command line.
        env.session.close()
        env.session = None
        env._open = False
    finally:
        env.close()
    assert not (out / "summary.json").exists()
    res = subprocess.run([sys.executable, "-m", "dojo_nb.cli", "resume", str(out), "--no-replay"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"]["valid"] is True
    nb = nbk.load_trajectory(out)
    nbformat.validate(nb)
    steps = nbk.list_steps(nb)
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))  # numbering carried on
    assert len(nb.metadata["dojo"]["resumes"]) == 2
    assert [c for c in nb.cells if nbk.cell_dojo(c).get("action_type") == "resume"]


def _started_episode(tmp_path: Path, task_id: str) -> Path:
    env = dojo_nb.make(task_id, out_dir=tmp_path / "ep", max_steps=10)
    env.reset()
    env.step({"type": "execute_code", "code": "a = 1"})
    env.session.close()
    env.session = None
    env._open = False  # the driver "died": nothing ended the episode
    return env.episode_dir


@pytest.mark.parametrize("damage", ["truncated", "not_json", "no_cells", "missing"])
def test_corrupt_trajectory_is_refused_and_left_alone(tmp_path: Path, task_id: str, damage: str) -> None:
    root = _started_episode(tmp_path, task_id)
    path = root / nbk.TRAJECTORY_NAME
    text = path.read_text()
    if damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "not_json":
        path.write_bytes(os.urandom(512))
    elif damage == "no_cells":
        data = json.loads(text)
        del data["cells"]
        path.write_text(json.dumps(data))
    else:
        path.unlink()
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(ResumeError) as err:
        dojo_nb.resume(root)
    assert str(root) in str(err.value)
    res = subprocess.run([sys.executable, "-m", "dojo_nb.cli", "resume", str(root)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "cannot resume" in res.stdout, res.stdout + res.stderr
    res = subprocess.run([sys.executable, "-m", "dojo_nb.cli", "replay", str(root)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "cannot replay" in res.stdout, res.stdout + res.stderr
    assert (path.read_bytes() if path.exists() else None) == before
    assert not (root / "summary.json").exists() and not (root / "replay.json").exists()


def test_finished_or_foreign_episode_is_refused(tmp_path: Path, task_id: str) -> None:
    env = dojo_nb.make(task_id, out_dir=tmp_path / "done", max_steps=3)
    env.reset()
    env.close()
    with pytest.raises(ResumeError, match="already ended"):
        dojo_nb.resume(env.episode_dir)
    root = _started_episode(tmp_path, task_id)
    other = "iris-species" if task_id != "iris-species" else "penguins-species"
    with pytest.raises(ResumeError, match="is an episode of task"):
        dojo_nb.make(other).resume(root)
