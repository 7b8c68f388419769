"""Many episodes at once, checked afterwards: nothing lost, nothing misrouted, nothing leaked.

Each episode runs a fixed mix of steps (ordinary cells, errors, timeouts, prints, plots,
markdown, validations, submissions). Every code cell prints a token naming its episode and
step, so the check can tell a lost step (missing from the notebook), a duplicated or
reordered one, and a misrouted output (another episode's token in this notebook). Each
episode also keeps a variable of its own and reads it back at the end.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import psutil

import dojo_nb
from dojo_nb import notebook as nbk


@dataclass
class LoadReport:
    episodes: int
    steps: int
    lost: int = 0
    misrouted: int = 0
    leaked: int = 0
    duplicated: int = 0
    state_mixed: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.misrouted or self.leaked or self.duplicated or self.state_mixed or self.errors)

    def line(self) -> str:
        return (f"episodes={self.episodes} steps={self.steps} lost={self.lost} misrouted={self.misrouted} "
                f"leaked={self.leaked}")


def _actions(ep: int, n_steps: int, timeout_every: int) -> list[dict[str, Any]]:
    """The step mix of one episode; code cells print TOKEN-ep-step."""
    plan: list[dict[str, Any]] = []
    for step in range(1, n_steps + 1):
        token = f"TOKEN-{ep}-{step}"
        kind = step % 10
        if step == 1:
            code = f"MINE = {ep}\nprint('{token}')"
        elif step == n_steps:
            code = f"print('{token}', 'MINE', globals().get('MINE'))"
        elif timeout_every and step % timeout_every == 0:
            code = f"print('{token}', flush=True)\nimport time\nwhile True: time.sleep(0.01)"
        elif kind == 1:
            code = f"print('{token}')\n1 / 0"
        elif kind == 2:
            code = f"print('{token}')\nprint('x' * 5000)"
        elif kind == 3:
            code = (f"print('{token}')\nimport matplotlib.pyplot as plt\nplt.figure(figsize=(2, 2))\n"
                    f"plt.plot([1, {ep}]); plt.show()")
        elif kind == 4:
            plan.append({"type": "add_markdown", "text": f"note {token}"})
            continue
        elif kind == 5:
            code = (f"print('{token}')\nimport shutil, os\n"
                    "shutil.copy(os.path.join(INPUT_DIR, 'sample_submission.csv'), SUBMISSION_PATH)")
        elif kind == 6:
            plan.append({"type": "validate"})
            continue
        elif kind == 7:
            plan.append({"type": "submit"})
            continue
        else:
            code = f"print('{token}')\nv{step} = MINE * {step}"
        plan.append({"type": "execute_code", "code": code})
    return plan


def _episode(task_id: str, backend: str, out: Path, ep: int, n_steps: int, timeout_every: int,
             cell_timeout_s: float) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]:
    env = dojo_nb.make(task_id, backend=backend, out_dir=out / f"ep{ep:02d}", max_steps=n_steps + 5,
                       cell_timeout_s=cell_timeout_s, episode_timeout_s=3600, agent_name="loadtest",
                       allow_unsandboxed=True)  # its actions are this module's fixed cells, like the baseline's
    actions = _actions(ep, n_steps, timeout_every)
    observations = []
    try:
        _, info = env.reset()
        for action in actions:
            obs, *_ = env.step(action)
            observations.append(obs)
    finally:
        env.close()
    return Path(info["episode_dir"]), actions, observations


def _kernel_pids() -> set[int]:
    """This driver's kernel processes (its descendants: other drivers on a shared machine are not ours)."""
    pids = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "ipykernel_launcher" in cmd and "dojo-nb" in cmd and proc.status() != psutil.STATUS_ZOMBIE:
            pids.add(proc.pid)
    return pids


def _containers() -> set[str]:
    try:
        from dojo_nb.kernel.docker import labelled_containers

        mine = str(os.getpid())  # this driver's containers only
        return {c.id for c in labelled_containers() if (c.labels or {}).get("dojo-nb.driver-pid") == mine}
    except Exception:  # noqa: BLE001 - no docker here: nothing to leak
        return set()


def run_load(task_id: str = "iris-species", *, episodes: int = 16, steps: int = 50, backend: str = "local",
             out_dir: Path, parallel: int | None = None, timeout_every: int = 25,
             cell_timeout_s: float = 10.0) -> LoadReport:
    """Run the episodes concurrently and check every notebook; see the module docstring."""
    before_pids, before_containers = _kernel_pids(), _containers()
    report = LoadReport(episodes=episodes, steps=0)
    me = psutil.Process()
    peak = [me.memory_info().rss]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            peak[0] = max(peak[0], me.memory_info().rss)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallel or episodes) as pool:
        futures = [pool.submit(_episode, task_id, backend, out_dir, ep, steps, timeout_every, cell_timeout_s)
                   for ep in range(episodes)]
        results = []
        for ep, future in enumerate(futures):
            try:
                results.append((ep, *future.result()))
            except Exception as exc:  # noqa: BLE001
                report.errors.append(f"episode {ep}: {type(exc).__name__}: {exc}")
    report.elapsed_s = time.monotonic() - t0
    stop.set()
    report.peak_rss_mb = peak[0] / 1e6

    for ep, episode_dir, actions, observations in results:
        nb = nbformat.read(episode_dir / nbk.TRAJECTORY_NAME, as_version=4)
        nbformat.validate(nb)
        recorded = nbk.list_steps(nb)
        report.steps += len(recorded)
        numbers = [s.step for s in recorded]
        report.lost += len(set(range(1, len(actions) + 1)) - set(numbers))
        report.duplicated += len(numbers) - len(set(numbers)) + (numbers != sorted(numbers))
        for cell in nb.cells:
            text = nbformat.writes(nbformat.v4.new_notebook(cells=[cell]))
            for other in range(episodes):
                if other != ep and f"TOKEN-{other}-" in text:
                    report.misrouted += 1
        # A restart (a timeout that ignored the interrupt) may lose MINE; another episode's value never.
        seen = observations[-1].get("text", "").rsplit("MINE", 1)[-1].strip()
        if seen not in (str(ep), "None"):
            report.state_mixed += 1
    time.sleep(1.0)
    report.leaked = len(_kernel_pids() - before_pids) + len(_containers() - before_containers)
    return report
