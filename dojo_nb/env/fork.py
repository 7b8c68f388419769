"""`env.fork()`: a new episode that starts as this one is now, its kernel a fork of this one's.

The child is a `DojoEnv` of the same configuration with its own episode folder. Its kernel is
a copy-on-write fork of the live kernel (`dojo_nb.kernel.fork`): every variable and fitted
model is there and no cell runs again. Its ``working/`` and ``submission/`` are copies of
the parent's; ``WORKING_DIR``, ``SUBMISSION_PATH`` and the cwd point at them (the folders of
a fork sit at another path inside the sandbox, see the kernel module). Its trajectory starts
as the parent's (cells, outputs, metadata, kept submissions) and records the fork in
``metadata.dojo.fork`` (`dojo_nb.record.metadata.fork_entry`) and in a markdown event cell.
The code cells are the parent's own, so ``solution.ipynb`` replays in a fresh sandbox as any
episode's does: reproducibility never depends on the fork.

When the kernel cannot be forked (`ForkUnsafe`: a thread a cell started, a network socket,
a CUDA context, a file open in working/, child processes; `ForkUnavailable`: the backend or
driver cannot), the child gets a fresh kernel that re-runs the parameters and solution cells,
and the fork entry says ``method: "rerun"`` and why: never a silently broken child.
"""

from __future__ import annotations

import copy
import os
import shutil
import stat
import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dojo_nb.env.sandbox import new_episode_dir, open_sandbox, set_prelude
from dojo_nb.env.state import Budgets, EpisodeState, utc_now
from dojo_nb.record import layout
from dojo_nb.record.inputs import populate_input
from dojo_nb.record.metadata import fork_entry
from dojo_nb.record.steps import parameters_cell_index, solution_cell_indices
from dojo_nb.record.trajectory import Trajectory, event_markdown, parameters_source

if TYPE_CHECKING:
    from dojo_nb.env.core import DojoEnv

#: State carried from parent to child as copies (the budgets already spent go along).
_CARRIED = ("seed", "steps", "t0", "started_at", "best", "reward_sum", "paid_position", "progress",
            "kernel_facts", "submissions")


def _clone(env: DojoEnv) -> DojoEnv:
    """A DojoEnv of `env`'s configuration with no episode and no pool of its own."""
    child = object.__new__(type(env))
    child.__dict__.update(env.__dict__)
    child.state = EpisodeState(seed=env.state.seed)
    child.pool, child._own_pool = None, False
    child._closers, child._deferred_closes, child._live_view, child._last_obs = [], [], None, None
    child.resume_notes = []
    child.out_dir = None
    child._episodes = 0
    return child


def _copy_kept_submissions(src: Path, dst: Path) -> None:
    """The parent's kept submission files (regular files only, never through a link)."""
    for entry in os.scandir(src):
        if stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
            shutil.copyfile(entry.path, dst / entry.name, follow_symlinks=False)


def _rerun(env: DojoEnv, root: Path) -> Any:
    """The fall-back: a fresh sandbox whose kernel re-runs the parameters and solution cells."""
    s = env.state
    box = open_sandbox(root, task=env.task, backend=env.backend, sandbox_limits=env.sandbox_limits, seed=s.seed)
    nb = s.trajectory.to_notebook()
    order = [i for i in [parameters_cell_index(nb)] if i is not None] + solution_cell_indices(nb)
    for i in order:
        result = box.session.execute(nb.cells[i].source, timeout=env.budgets.cell_timeout_s)
        if result.status != "ok":
            warnings.warn(f"dojo-nb fork (re-run): cell {i} did not run again cleanly ({result.status})",
                          stacklevel=3)
    set_prelude(box.session, nb.cells[order[0]].source if order else "")
    return box.session, box.kernel_paths


def _forked(env: DojoEnv, root: Path) -> Any:
    """The kernel forked from the parent's, its paths rebound to the child's own folders."""
    from dojo_nb.kernel.fork import fork_sync, run_silent
    from dojo_nb.tasks.cache import prepare_task

    s = env.state
    sandbox = layout.EpisodeLayout(root).sandbox
    session = fork_sync(s.session, sandbox)
    try:
        populate_input(Path(prepare_task(env.task).public_dir), sandbox / "input")
        kp = session.paths
        paths = {"INPUT_DIR": kp.input_dir, "WORKING_DIR": kp.working_dir,
                 "SUBMISSION_PATH": f"{kp.submission_dir.rstrip('/')}/{layout.SUBMISSION_FILENAME}", "SEED": s.seed}
        params = parameters_source(kp.input_dir, kp.working_dir, paths["SUBMISSION_PATH"], s.seed)
        if run_silent(session, params) != "ok":
            raise RuntimeError("the forked kernel did not take its own paths")
        set_prelude(session, params)
        # Should the fork die, a cold kernel takes over its folders, where they are for any kernel.
        cold = session.session.backend.paths(session.session.spec)
        session.session.cold_prelude = parameters_source(
            cold.input_dir, cold.working_dir, f"{cold.submission_dir.rstrip('/')}/{layout.SUBMISSION_FILENAME}", s.seed)
    except BaseException:
        session.close()
        raise
    return session, paths


def fork_env(env: DojoEnv, out_dir: str | os.PathLike[str] | None = None, *, steps: int | None = None,
             seconds: float | None = None) -> DojoEnv:
    """`DojoEnv.fork`: the child env, its episode running (call `step` on it; close both).

    The child spends the parent's budgets from where they are, unless `steps` (more steps) or
    `seconds` (more seconds) give it budgets of its own counted from the fork."""
    from dojo_nb.kernel.fork import ForkUnavailable

    s = env.state
    if not s.open or s.session is None or s.trajectory is None or s.episode_dir is None:
        raise RuntimeError("fork() needs a running episode: call reset() first")
    target = Path(out_dir).expanduser().resolve() if out_dir else s.episode_dir.with_name(s.episode_dir.name + "-fork")
    root = new_episode_dir(env.task_id, target, {})
    lay = layout.EpisodeLayout(root)
    lay.submissions.mkdir()
    _copy_kept_submissions(s.layout.submissions, lay.submissions)
    s.trajectory.save()  # the parent's record on disk says what the child starts from
    child = _clone(env)
    t0 = time.monotonic()
    method, reason = "fork", None
    try:
        session, paths = _forked(env, root)
    except ForkUnavailable as exc:
        method, reason = "rerun", str(exc)
        warnings.warn(f"dojo-nb: env.fork() re-runs the cells instead: {exc}", stacklevel=2)
        session, paths = _rerun(env, root)
    state = child.state = EpisodeState(episode_dir=root)
    for name in _CARRIED:
        setattr(state, name, copy.deepcopy(getattr(s, name)))
    state.session, state.kernel_paths, state.open = session, paths, True
    if steps is not None or seconds is not None:
        b = env.budgets
        child.budgets = Budgets(b.max_steps if steps is None else state.steps + int(steps), b.cell_timeout_s,
                                b.episode_timeout_s if seconds is None else float(seconds))
        if seconds is not None:
            state.t0 = time.monotonic()
    traj = Trajectory.from_notebook(s.trajectory.to_notebook(), lay.trajectory)
    entry = fork_entry(str(s.episode_dir), len(s.trajectory), s.steps, method, reason,
                       time.monotonic() - t0, utc_now())
    traj.update_metadata(fork=entry, kernel_paths=paths, kernel_source=method, budgets=child.budgets.to_dict(),
                         episode_uid=uuid.uuid4().hex)  # its own id: export never merges parent and child
    how = ("the live kernel was forked: every variable is there" if method == "fork"
           else f"a fresh kernel re-ran the parameters and solution cells ({reason})")
    traj.add_markdown(event_markdown("fork", f"forked from {s.episode_dir.name} after step {s.steps}: {how}"),
                      {"action_type": "fork", "status": "ok"})
    traj.save()
    state.trajectory = traj
    child._episodes = 1
    return child


__all__ = ["fork_env"]
