"""Submissions: the safe copy out of the sandbox, and the validate and submit handlers.

The kernel controls the sandbox (and may still run threads), so the submission file is
opened once without following symlinks, must be a regular file under the task's size cap,
and is graded from the copy: a symlink to the answers, or a swap after the check, cannot
reach the grader. Reward and final rules are in `dojo_nb.env.scoring`.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from dojo_nb.actions import Action
from dojo_nb.env import rules, scoring
from dojo_nb.env.handlers import Outcome, record_event
from dojo_nb.record import layout
from dojo_nb.tasks.grading import validate_submission

if TYPE_CHECKING:
    from dojo_nb.env.core import DojoEnv


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def snapshot(env: DojoEnv, dest: Path) -> str | None:
    """Copy the submission out of the sandbox, safely; None on success, else why not."""
    where = f"SUBMISSION_PATH = {env.state.kernel_paths['SUBMISSION_PATH']!r}"
    host = env.submission_host_path
    try:
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return f"no submission file: write it to {where}"
    except OSError as exc:
        if host.is_symlink():
            return f"{where} is a symbolic link; write a regular file"
        return f"cannot read {where}: {exc.strerror}"
    cap = int(float(env.task.max_submission_mb) * 1024 * 1024)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return f"{where} is not a regular file"
        if st.st_size > cap:
            return f"the submission is {st.st_size:,} bytes; the limit is {cap:,}"
        with os.fdopen(os.dup(fd), "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    finally:
        os.close(fd)
    return None


def validate(env: DojoEnv, a: Action) -> Outcome:
    """Free and unlimited: is the file at SUBMISSION_PATH gradable (no score, no budget)."""
    copy = env.state.layout.submissions / layout.VALIDATE_TMP
    problem = snapshot(env, copy)
    if problem is None:
        v = validate_submission(env.task, copy)
        ok, msg = bool(v.ok), str(v.message)
    else:
        ok, msg = False, problem
    copy.unlink(missing_ok=True)
    env.state.step_valid = env.state.step_valid or ok
    grading = {"valid": ok, "message": msg}
    status = "ok" if ok else "error"
    summary = ("submission file is valid" if ok else f"invalid: {msg}")
    return Outcome(record_event(env, a, status, summary, summary if ok else f"Invalid submission: {msg}",
                                grading=grading, message=None if ok else msg))


def _left(env: DojoEnv) -> int:
    return max(0, env.rules.max_submissions - env.state.graded)


def _over_budget(env: DojoEnv, a: Action, final: bool) -> Outcome:
    """A submit past the budget: not graded, nothing lost; a final one still ends the episode."""
    n = env.rules.max_submissions
    msg = (f"submission budget used up: {n} of {n} graded submissions made; this file was not graded. "
           "Your last valid submission stays the final one; validate is still free"
           + (". The episode ends now." if final else '; send {"type": "submit", "final": true} to end.'))
    grading = {"refused": True, "submissions_left": 0, "final": final, "message": msg}
    obs = record_event(env, a, "error", f"over budget{' (final)' if final else ''}", msg, grading=grading,
                       reward=0.0, message=msg)
    return Outcome(obs, 0.0, final)


def _texts(env: DojoEnv, grading: dict, final: bool) -> tuple[str, str]:
    """The cell's summary and the observation's text, under the feedback mode."""
    left = f"{grading['submissions_left']} graded submission(s) left"
    if env.rules.feedback == "none":
        summary, text = "received", f"Submission received (no feedback in this episode); {left}."
    elif not grading.get("valid"):
        summary, text = f"invalid: {grading['message']}", f"Invalid submission (not counted): {grading['message']}"
    elif env.rules.feedback == "validity":
        summary, text = "valid", f"Submission is valid (scores are not shown in this episode); {left}."
    else:
        pos, best = grading.get("public_position_score"), grading["best_public_position_score"]
        summary = (f"public score {grading.get('public_score')} (position {_fmt(pos, '.4f')}), "
                   f"reward {grading['reward']:+.4f}{', final' if final else ''}")
        text = (f"Submission graded on the public split: {grading['message']} (rounded to 5 decimals), "
                f"position score {_fmt(pos, '.4f')}; best so far {best:.4f}; reward {grading['reward']:+.4f}; "
                f"{left}. The private score is shown only when the episode has ended.")
    if final:
        text += " This was the final submission: the episode ends."
    return summary, text


def submit(env: DojoEnv, a: Action) -> Outcome:
    """Grade the file on the public split, within the episode's submission budget."""
    final = bool(a["final"])
    state = env.state
    if _left(env) <= 0:
        return _over_budget(env, a, final)
    root = state.layout.root
    kept = root / layout.kept_submission_name(state.steps, env.submission_host_path.suffix)
    msg = snapshot(env, kept)
    if msg is not None:
        kept.unlink(missing_ok=True)
        grading = {"valid": False, "message": msg, "submissions_left": _left(env), "final": final}
        if env.rules.shows_scores:
            grading.update(public_score=None, public_position_score=None,
                           best_public_position_score=state.best, reward=0.0)
        obs = record_event(env, a, "error", f"no file{' (final)' if final else ''}",
                           f"Submission failed (not counted): {msg}", grading=grading, reward=0.0, message=msg)
        return Outcome(obs, 0.0, final)
    report = scoring.grade_file(env.task, kept)
    sub, reward = scoring.score_submission(state, str(kept.relative_to(root)), report,
                                           pay_now=env.rules.shows_scores)
    grading = rules.shown_grading(env.rules, report, state.best, reward, final, _left(env))
    summary, text = _texts(env, grading, final)
    hide = env.rules.feedback == "none"
    obs = record_event(env, a, "ok" if sub.valid or hide else "error", summary, text, grading=grading,
                       reward=reward, message=None if sub.valid or hide else grading.get("message"),
                       submission_file=sub.file)
    return Outcome(obs, reward, final)


__all__ = ["snapshot", "submit", "validate"]
