"""Ending an episode: the final grade, the kernel stopped, trajectory, solution and summary written."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from dojo_nb.env import scoring
from dojo_nb.env.state import utc_now
from dojo_nb.record import layout
from dojo_nb.record.trajectory import atomic_write_text, package_versions

if TYPE_CHECKING:
    from dojo_nb.env.core import DojoEnv


#: End reasons that come from a step (whose cell then carries the terminal reward).
STEP_ENDS = ("final_submit", "max_steps", "episode_timeout")


def gap_of(env: DojoEnv, final: dict[str, Any]) -> dict[str, Any]:
    """The fraction of the gap closed by the final private score, with its two ends."""
    from dojo_nb.tasks.gap import gap_closed

    facts = env.gap_facts()
    score = scoring.clean_number(final.get("private_score")) if final.get("valid") else None
    return {"gap_closed": gap_closed(score, facts["reference_score"], facts["leaderboard_top"],
                                     bool(env.task.lower_is_better)), **facts}


def medal_thresholds(env: DojoEnv) -> dict[str, float] | None:
    """The scores gold, silver, bronze and the median take on the board this episode was graded
    against, kept with the final grade (a report read later, elsewhere, may see another board)."""
    from dojo_nb.tasks.leaderboard import load_leaderboard

    try:
        found = load_leaderboard(env.task).thresholds()
    except Exception:  # noqa: BLE001 - no board: no thresholds, never a lost episode
        return None
    return {k: float(v) for k, v in found.items()} or None


def summary_of(env: DojoEnv, reason: str, elapsed: float) -> dict[str, Any]:
    """What ``summary.json`` holds."""
    s = env.state
    return {
        "task": env.task_info(), "backend": env.backend, "agent": env.agent_name,
        "seed": s.seed, "episode_dir": str(s.episode_dir),
        "sandbox_dir": str(s.sandbox_dir), "kernel_paths": s.kernel_paths,
        "started_at": s.started_at, "elapsed_s": round(elapsed, 3), "steps": s.steps,
        "end_reason": reason, "terminated": s.terminated, "truncated": s.truncated,
        "reward_sum": s.reward_sum, "best_public_position_score": s.best,
        "rules": env.rules.to_dict(), "terminal_reward": s.terminal_reward,
        "gap_closed": (s.final or {}).get("gap_closed"), "medal": (s.final or {}).get("medal"),
        "durations": {"wall_s": round(s.progress.wall_total, 3), "kernel_cpu_s": round(s.progress.cpu_total, 3),
                      "budget_share": round(s.progress.wall_total / env.budgets.episode_timeout_s, 6)},
        "milestones": dict(s.progress.reached),
        "submissions": [
            {"step": sub.step, "file": sub.file, "valid": sub.valid, "message": sub.message,
             "public_score": sub.public_score, "public_position_score": sub.public_position_score}
            for sub in s.submissions],
        "final": s.final,
        "trajectory": layout.TRAJECTORY, "solution": layout.SOLUTION,
        "replay": layout.REPLAY_JSON,
        "packages": package_versions(),
    }


def end_episode(env: DojoEnv, reason: str) -> None:
    """Grade the final submission, stop the kernel, write trajectory, solution and summary."""
    from dojo_nb.env.submitting import snapshot

    s = env.state
    if not s.open:
        return
    s.open = False
    s.end_reason = reason
    assert s.trajectory is not None and s.episode_dir is not None
    try:
        s.final = scoring.final_grade(s, lambda dest: snapshot(env, dest),
                                      lambda path: scoring.grade_file(env.task, path),
                                      env.submission_host_path.suffix)
    except Exception as exc:
        s.final = {"rule": scoring.FINAL_RULE, "valid": False, "message": f"final grading failed: {exc}"}
    s.final.update(gap_of(env, s.final), medal_thresholds=medal_thresholds(env))
    s.terminal_reward = scoring.terminal_reward(s, env.rules.reward)
    s.reward_sum += s.terminal_reward
    if s.terminal_reward and reason in STEP_ENDS and s.last_cell is not None and s.last_cell < len(s.trajectory):
        s.trajectory.update_cell(s.last_cell, reward=s.last_step_reward + s.terminal_reward)
    elapsed = time.monotonic() - s.t0
    try:
        if s.session is not None:
            if reason == "reset":
                # The next episode need not wait ~0.1 s for this kernel to stop: reset()
                # closes it in a thread once the new episode is up; close() joins.
                env._deferred_closes.append(s.session)
            else:
                s.session.close()
    finally:
        s.session = None
        s.trajectory.update_metadata(
            final=s.final, end_reason=reason, steps=s.steps, elapsed_s=round(elapsed, 3),
            reward_sum=s.reward_sum, best_public_position_score=s.best, ended_at=utc_now(),
            terminal_reward=s.terminal_reward)
        s.trajectory.save()
        s.trajectory.save_solution(s.layout.solution)
        atomic_write_text(s.layout.summary, json.dumps(scoring.jsonable(summary_of(env, reason, elapsed)),
                                                       indent=1) + "\n")


__all__ = ["end_episode", "summary_of"]
