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
from dojo_nb.env import scoring
from dojo_nb.env.handlers import Outcome, record_event
from dojo_nb.record import layout

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
    copy = env.state.layout.submissions / layout.VALIDATE_TMP
    problem = snapshot(env, copy)
    if problem is None:
        v = env.task.validate(copy)
        ok, msg = bool(v.ok), str(v.message)
    else:
        ok, msg = False, problem
    copy.unlink(missing_ok=True)
    grading = {"valid": ok, "message": msg}
    status = "ok" if ok else "error"
    summary = ("submission file is valid" if ok else f"invalid: {msg}")
    return Outcome(record_event(env, a, status, summary, summary if ok else f"Invalid submission: {msg}",
                                grading=grading, message=None if ok else msg))


def submit(env: DojoEnv, a: Action) -> Outcome:
    final = bool(a["final"])
    state = env.state
    root = state.layout.root
    kept = root / layout.kept_submission_name(state.steps, env.submission_host_path.suffix)
    msg = snapshot(env, kept)
    if msg is not None:
        kept.unlink(missing_ok=True)
        grading = {"valid": False, "message": msg, "public_score": None,
                   "public_position_score": None, "best_public_position_score": state.best,
                   "reward": 0.0}
        obs = record_event(env, a, "error", f"no file{' (final)' if final else ''}",
                           f"Submission failed: {msg}", grading=grading, reward=0.0, message=msg)
        return Outcome(obs, 0.0, final)
    report = scoring.grade_file(env.task, kept)
    sub, reward = scoring.score_submission(state, str(kept.relative_to(root)), report)
    grading = scoring.public_grading(report, state, reward, final)
    pos = sub.public_position_score
    if sub.valid:
        summary = (f"public score {_fmt(sub.public_score, '.6g')} (position {_fmt(pos, '.4f')}), "
                   f"reward {reward:+.4f}{', final' if final else ''}")
        text = (f"Submission graded on the public split: {report.get('metric') or 'score'} "
                f"{_fmt(sub.public_score, '.6g')}, position score {_fmt(pos, '.4f')}; best so "
                f"far {state.best:.4f}; reward {reward:+.4f}.")
    else:
        summary = f"invalid: {sub.message}"
        text = f"Invalid submission: {sub.message}"
    if final:
        text += " This was the final submission: the episode ends."
    obs = record_event(env, a, "ok" if sub.valid else "error", summary, text, grading=grading, reward=reward,
                       message=None if sub.valid else sub.message, submission_file=sub.file)
    return Outcome(obs, reward, final)


__all__ = ["snapshot", "submit", "validate"]
