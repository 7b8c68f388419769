"""Resuming an episode whose driver died: the folder checked, the kernel's state rebuilt.

The trajectory on disk is the truth: steps, submissions and rewards are read back from it
(kept submission files are graded again to recover the hidden part of each report), and
the kernel's state is rebuilt by running the parameters cell and the solution cells so far
in a fresh sandbox over the same files. The sandbox is set up by the same path as a reset
(`dojo_nb.env.sandbox.open_sandbox`), with this env's limits, never the notebook's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dojo_nb import safe_io
from dojo_nb.env import scoring
from dojo_nb.env.info import kernel_facts, reset_text, step_info
from dojo_nb.env.progress import baseline_cpu, restore_progress
from dojo_nb.env.sandbox import open_sandbox, set_prelude
from dojo_nb.env.spaces import observation
from dojo_nb.env.state import EpisodeState, utc_now
from dojo_nb.record import layout
from dojo_nb.record.load import EpisodeRecord, EpisodeRecordError, load_episode
from dojo_nb.record.steps import parameters_cell_index, solution_cell_indices
from dojo_nb.record.trajectory import Trajectory, event_markdown

if TYPE_CHECKING:
    from dojo_nb.env.core import DojoEnv


class ResumeError(EpisodeRecordError, ValueError):
    """The folder cannot be resumed (the message says why); nothing was written."""


def load_for_resume(root: Path, task_id: str | None) -> EpisodeRecord:
    """The episode's record, checked: readable, valid, unfinished, of the right task."""
    record = load_episode(root, error=ResumeError, strict=True, validate=True, with_replay=False)
    path = record.notebook_path
    meta = record.meta
    if record.summary is not None or meta.final is not None:
        why = meta.end_reason or f"{layout.SUMMARY} exists"
        raise ResumeError(f"the episode in {root} already ended ({why}); there is nothing to resume")
    task = meta.task.get("id")
    if not task:
        raise ResumeError(f"{path} has no metadata.dojo.task.id; it was not written by dojo-nb")
    if task_id is not None and task != task_id:
        raise ResumeError(f"{path} is an episode of task {task!r}, not {task_id!r}")
    if parameters_cell_index(record.nb) is None:
        raise ResumeError(f"{path} has no parameters cell; the episode never started")
    return record


def check_resume_folders(root: Path) -> None:
    """The folders a resume writes to (and the kernel gets bind-mounted) are real folders here.

    A crafted ``sandbox/working -> /home/you`` would give the kernel your home folder.
    """
    try:
        for rel in layout.RESUME_FOLDERS:  # all checked before any is made: a refusal writes nothing
            what = safe_io.kind(root, rel)
            if what not in (None, "dir"):
                safe_io.check(root, rel, want="dir")
        for rel in layout.RESUME_FOLDERS:
            safe_io.make_dirs(root, rel)
    except OSError as exc:
        raise ResumeError(f"cannot resume {root}: {exc}") from None


def clear_planted_files(root: Path) -> list[str]:
    """Unlink what the driver never leaves behind: links in submissions/ and the episode folder's
    own files, and stale ``.NAME.*.tmp`` files (a planted link there would be written through)."""
    removed = []
    for folder in ("", layout.SUBMISSIONS):
        here = root / folder if folder else root
        for child in sorted(here.iterdir()):
            name = f"{folder}/{child.name}" if folder else child.name
            what = safe_io.kind(root, name)
            planted = what == "link" and (folder or child.name in layout.EPISODE_FILES)
            stale = child.name.startswith(".") and child.name.endswith(".tmp") and what in ("link", "file")
            if planted or stale:
                safe_io.remove(root, name)
                removed.append(name)
    return removed


def kept_submission(root: Path, file: Any) -> Path | None:
    """A kept submission named by the (possibly crafted) trajectory: a regular file under
    submissions/, reached through no link, else None."""
    if not layout.EpisodeLayout(root).is_submission(file):
        return None
    try:
        return safe_io.check(root, file, want="file")
    except OSError:
        return None


def _rebuild(env: DojoEnv, traj: Trajectory) -> list[dict[str, Any]]:
    """Run the parameters cell, then the solution cells so far, in the fresh kernel."""
    assert env.state.session is not None
    nb = traj.to_notebook()
    order = [i for i in [parameters_cell_index(nb)] if i is not None] + solution_cell_indices(nb)
    rebuilt = []
    for i in order:
        r = env.state.session.execute(nb.cells[i].source, timeout=env.budgets.cell_timeout_s)
        rebuilt.append({"cell_index": i, "status": r.status})
    return rebuilt


def resume_into(env: DojoEnv, episode_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`DojoEnv.resume`: continue the episode in `episode_dir` in this env."""
    from dojo_nb.replay import limits_note

    root = Path(episode_dir).expanduser().resolve()
    record = load_for_resume(root, env.task_id)
    traj = Trajectory.from_notebook(record.nb, record.layout.trajectory)
    check_resume_folders(root)
    if env.state.open:
        env._end_episode("reset")
    steps = record.steps
    last_step = max((s.step for s in steps), default=0)
    removed = clear_planted_files(root)
    meta = record.meta
    # The sandbox is this env's (the caller's and the defaults), never the notebook's own.
    limits_ignored = limits_note(meta.sandbox_limits, env.sandbox_limits)
    seed = int(meta.seed if meta.has("seed") else env.default_seed)
    state = EpisodeState(episode_dir=root, seed=seed)
    env.state = state
    box = open_sandbox(root, task=env.task, backend=env.backend, sandbox_limits=env.sandbox_limits, seed=seed)
    state.session, state.kernel_paths = box.session, box.kernel_paths
    try:
        rebuilt = _rebuild(env, traj)
        set_prelude(box.session, traj.cell(parameters_cell_index(record.nb) or 1).source)
        state.trajectory = traj
        state.steps = last_step
        scoring.restore_submissions(state, steps, lambda file: kept_submission(root, file),
                                    lambda path: scoring.grade_file(env.task, path))
        restore_progress(state, steps)
        state.t0 = time.monotonic() - sum(float(s.elapsed_s or 0.0) for s in steps)
        state.started_at = str(meta.started_at or utc_now())
        state.open = True
        env._episodes += 1
    except BaseException:
        box.session.close()
        state.session = None
        raise

    failed = [r for r in rebuilt if r["status"] != "ok"]
    summary = (f"resumed after step {last_step}: a fresh kernel re-ran the parameters cell and "
               f"{len(rebuilt) - 1 if rebuilt else 0} solution cell(s)"
               + (f"; {len(failed)} failed this time (cells {', '.join(str(r['cell_index']) for r in failed)})"
                  if failed else ""))
    text = (f"The episode was resumed after step {last_step} in a fresh kernel. Re-ran the "
            f"parameters cell and the {max(0, len(rebuilt) - 1)} cells that succeeded since the last "
            "restart, so their variables exist again; variables made only by other cells are lost "
            "(files on disk stay).")
    if failed:
        text += f" {len(failed)} of them failed this time: cells {[r['cell_index'] for r in failed]}."
    notes = [n for n in [limits_ignored] if n]
    if removed:
        notes.append(f"removed links and stale temporary files from the episode folder: {', '.join(removed[:10])}")
    if notes:
        text += " Note: " + "; ".join(notes) + "."
    env.resume_notes = notes
    resumes = list(meta.resumes or [])
    entry: dict[str, Any] = {"after_step": last_step, "at": utc_now(), "rebuilt": rebuilt, "backend": env.backend}
    if limits_ignored:
        entry["ignored_sandbox_limits"] = meta.sandbox_limits
    resumes.append(entry)
    traj.update_metadata(resumes=resumes, sandbox_limits=env.sandbox_limits)
    idx = traj.add_markdown(
        event_markdown("resume", summary),
        {"action_type": "resume", "status": "error" if failed else "ok", "after_step": last_step,
         "rebuilt": rebuilt})
    state.kernel_facts = kernel_facts(env)
    baseline_cpu(env)
    traj.update_metadata(kernel_facts=state.kernel_facts)
    traj.save(record.layout.trajectory)
    obs = observation("error" if failed else "ok", action_type="resume", text=text + "\n\n" + reset_text(env),
                      cell_index=idx, steps_left=state.steps_left(env.budgets),
                      seconds_left=state.seconds_left(env.budgets), message=text)
    env._show(obs)
    return obs, step_info(env)


def resume(episode_dir: str | os.PathLike[str], backend: str | None = None,
           **kwargs: Any) -> tuple[DojoEnv, dict[str, Any], dict[str, Any]]:
    """Reopen an unfinished episode: the env (with the episode's own budgets), obs and info.

    `backend` and `kwargs` override what the trajectory's metadata recorded. Sandbox limits
    (network, env, memory_mb, gpus, ...) come only from `kwargs` and the defaults: the
    notebook's recorded ones are ignored (a crafted notebook could turn the network on), and
    the observation says so when they differed.
    """
    from dojo_nb.env.core import make

    root = Path(episode_dir).expanduser().resolve()
    meta = load_for_resume(root, None).meta
    budgets = dict(meta.budgets)
    options: dict[str, Any] = {
        "max_steps": budgets.get("max_steps", 100), "cell_timeout_s": budgets.get("cell_timeout_s", 600.0),
        "episode_timeout_s": budgets.get("episode_timeout_s", 3600.0), "agent_name": meta.agent,
        "seed": meta.make_seed if meta.has("make_seed") else (meta.seed if meta.has("seed") else 0),
    }
    options.update(kwargs)
    env = make(str(meta.task["id"]), backend=backend or meta.backend or "local", **options)
    obs, info = env.resume(root)
    return env, obs, info


__all__ = ["ResumeError", "load_for_resume", "resume", "resume_into"]
