"""Reward and final rules, in one place.

- ``submit`` grades on the public split; the reward is ``max(0, public_position_score -
  best_so_far)``, so rewards sum to the best public position score reached and resubmitting
  earns 0.
- The *final* submission (`FINAL_RULE`) is the last valid one submitted (the file as it was
  then, kept in ``EPISODE/submissions/``). With no valid submit, the file left at
  SUBMISSION_PATH is graded instead (no reward). Private scores go only to the final grade.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from dojo_nb.env.state import EpisodeState, Submission
from dojo_nb.record.layout import final_submission_name
from dojo_nb.record.steps import StepRecord
from dojo_nb.tasks.grading import grade_submission

FINAL_RULE = "last_valid_submission"
#: What the agent may see of a grade (the rest of the report stays hidden until the end).
PUBLIC_GRADE_KEYS = ("valid", "message", "public_score", "public_position_score", "lower_is_better")
#: What the final grade holds.
FINAL_KEYS = ("valid", "message", "public_score", "public_position_score", "private_score",
              "private_position_score", "medal", "above_median", "lower_is_better")

Grader = Callable[[Path], dict[str, Any]]


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def clean_number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def grade_file(task: Any, path: Path) -> dict[str, Any]:
    """The task's full grade report of a file, as a JSON-able dict."""
    report = grade_submission(task, path)
    d = report.to_dict() if hasattr(report, "to_dict") else dict(vars(report))
    return jsonable(d)


def score_submission(state: EpisodeState, file: str, report: dict[str, Any],
                     pay_now: bool = True) -> tuple[Submission, float]:
    """Record a graded submit in `state`: the submission and its reward (the reward rule).

    With `pay_now` False (feedback that shows no score) the gain is kept for the end."""
    valid = bool(report.get("valid"))
    pos = clean_number(report.get("public_position_score")) if valid else None
    gain = max(0.0, pos - state.best) if pos is not None else 0.0
    if pos is not None:
        state.best = max(state.best, pos)
    state.step_gain = gain
    state.step_valid = state.step_valid or valid
    reward = gain if pay_now else 0.0
    state.paid_position += reward
    state.reward_sum += reward
    sub = Submission(state.steps, file, valid, str(report.get("message") or ""),
                     clean_number(report.get("public_score")), pos, report)
    state.submissions.append(sub)
    return sub, reward


def public_grading(report: dict[str, Any], state: EpisodeState, reward: float, final: bool) -> dict[str, Any]:
    """What the observation and the cell show of a grade (all of the public part: see
    `dojo_nb.env.rules.shown_grading` for what an agent is shown under a feedback mode)."""
    grading = {k: report.get(k) for k in PUBLIC_GRADE_KEYS}
    grading.update(best_public_position_score=state.best, reward=reward, final=final)
    return grading


def terminal_reward(state: EpisodeState, reward_mode: str) -> float:
    """What the episode's end pays, so the return keeps its guarantee (`dojo_nb.env.rules`).

    ``position``: the position gains not paid yet (all of them when feedback hid scores),
    so the return is the best public position reached. ``shaped``: the final private
    position minus the position rewards paid, so the return is that plus the bonuses."""
    if reward_mode == "shaped":
        final = clean_number((state.final or {}).get("private_position_score")) or 0.0
        return final - state.paid_position
    return state.best - state.paid_position


def final_grade(state: EpisodeState, snapshot: Callable[[Path], str | None], grade: Grader,
                suffix: str) -> dict[str, Any]:
    """The final scores, by `FINAL_RULE`; `snapshot` copies the file left at SUBMISSION_PATH."""
    valid = [s for s in state.submissions if s.valid]
    if valid:
        sub = valid[-1]
        final = {k: sub.report.get(k) for k in FINAL_KEYS}
        final.update(rule=FINAL_RULE, source="submit", step=sub.step, file=sub.file)
        return final
    final = dict.fromkeys(FINAL_KEYS)
    final.update(valid=False, rule=FINAL_RULE, source=None, step=None, file=None)
    layout = state.layout
    kept = layout.root / final_submission_name(suffix)
    problem = snapshot(kept)
    if problem is not None:
        final["message"] = f"no valid submission was made ({problem})"
        return final
    try:
        rep = grade(kept)
    except Exception as exc:  # a grader fault must not lose the episode
        rep = {"valid": False, "message": f"grading failed: {exc}"}
    final.update({k: rep.get(k) for k in FINAL_KEYS})
    final.update(source="file_at_end", file=str(kept.relative_to(layout.root)))
    return final


def restore_submissions(state: EpisodeState, steps: list[StepRecord], kept: Callable[[Any], Path | None],
                        grade: Grader) -> None:
    """Submissions, best score and reward sum as the trajectory recorded them (for a resume).

    A kept file is graded again: the hidden half of each report was never stored.
    """
    state.submissions = []
    state.best = 0.0
    state.reward_sum = 0.0
    state.paid_position = 0.0
    for s in steps:
        state.reward_sum += float(s.reward or 0.0)
        if s.action_type != "submit":
            continue
        g = s.meta.grade
        file = s.meta.submission_file
        report: dict[str, Any] = {}
        path = kept(file) if file and (g.get("valid") or "valid" not in g) else None
        if path is not None:
            report = grade(path)
        pos = clean_number(g.get("public_position_score"))
        if pos is None and report.get("valid"):  # feedback that showed no score stored none
            pos = clean_number(report.get("public_position_score"))
        state.paid_position += clean_number(g.get("reward")) or 0.0
        state.submissions.append(Submission(
            s.step, str(file or ""), bool(report.get("valid")), str(g.get("message") or ""),
            clean_number(g.get("public_score")), pos, report))
        if pos is not None and (g.get("valid") or report.get("valid")):
            state.best = max(state.best, pos)


__all__ = ["FINAL_RULE", "PUBLIC_GRADE_KEYS", "clean_number", "final_grade", "grade_file", "public_grading",
           "restore_submissions", "score_submission", "terminal_reward"]
