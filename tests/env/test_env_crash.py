"""Killing the driver mid-episode leaves a valid trajectory.ipynb with every completed step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import nbformat

from dojo_nb import notebook as nbk

DRIVER = textwrap.dedent("""
    import sys, dojo_nb
    env = dojo_nb.make(sys.argv[1], out_dir=sys.argv[2], max_steps=10_000)
    env.reset()
    i = 0
    while True:
        i += 1
        action = ({"type": "execute_code", "code": f"x{i} = {i}; print('x' * {i} * 50)"} if i % 3
                  else {"type": "add_markdown", "text": f"note {i}"})
        env.step(action)
        print("step", i, flush=True)
""")


def test_sigkill_mid_episode_leaves_a_valid_trajectory(tmp_path, task_id):
    out = tmp_path / "episode"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, task_id, str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    completed = 0
    try:
        deadline = time.monotonic() + 120
        while completed < 25 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("step "):
                completed = int(line.split()[1])
        assert completed >= 25, proc.stderr.read() if proc.poll() is not None else "driver too slow"
    finally:
        # the driver and everything it started (the kernel) are in the session we created
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    nb = nbk.load_trajectory(out)
    nbformat.validate(nb)
    steps = nbk.list_steps(nb)
    assert len(steps) >= completed
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    # the cell running when the driver died is there too, with its source, marked "running"
    assert all(s.status == "ok" for s in steps[:-1]) and steps[-1].status in ("ok", "running")
    assert not list(out.glob(".*.tmp")) or len(steps) >= completed  # a half-written temp file is harmless
    # a solution can still be rebuilt from what the dead driver left
    sol = nbk.build_solution(nb)
    nbformat.validate(sol)
    assert len(sol.cells) >= 2 + (completed * 2) // 3
