"""An episode folder read for people: the trajectory, summary.json and replay.json, with the
numbers a report shows (submissions over steps, errors, time, best and final scores).

Only the trajectory is required: a crashed driver leaves no summary.json, a run without
replay has no replay.json, and either file may be unreadable; those become ``problems``
that the page shows, not failures. A missing or corrupt trajectory raises `ReportError`.
Files are read through `dojo_nb.safe_io`: a link in the folder (which may be crafted) is
refused for the trajectory and ignored, with a problem line, for the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dojo_nb.record.load import EpisodeRecord, EpisodeRecordError
from dojo_nb.record.load import load_episode as _load_record
from dojo_nb.record.steps import StepRecord
from dojo_nb.views.report.medals import thresholds_text

FAILED_STATUSES = frozenset({"error", "timeout", "crashed", "invalid_action"})


class ReportError(EpisodeRecordError):
    """The input cannot be shown (no trajectory, not a notebook, not a dojo-nb episode)."""


@dataclass
class Submission:
    """One `submit` step as the page plots it."""

    step: int
    valid: bool
    public_score: float | None
    position_score: float | None
    message: str
    final: bool = False


class EpisodeData(EpisodeRecord):
    """Everything a report or viewer needs about one episode (an `EpisodeRecord`)."""

    @property
    def path(self) -> Path:
        """The episode folder (or the notebook's folder)."""
        return self.root

    @property
    def task_id(self) -> str:
        return str(self.task.get("id") or self.meta.task_id or "unknown task")

    @property
    def agent(self) -> str:  # type: ignore[override]
        return str(super().agent or "unknown agent")

    @property
    def metric(self) -> str:
        return str(self.task.get("metric") or "")

    @property
    def lower_is_better(self) -> bool:
        return bool(self.task.get("lower_is_better"))

    @property
    def label(self) -> str:
        """Short name for a column or a curve: agent and folder."""
        return self.agent if self.path.name == self.agent else f"{self.agent} · {self.path.name}"

    @property
    def end_reason(self) -> str:  # type: ignore[override]
        return str(super().end_reason or "not finished (driver stopped: no summary.json)")

    @property
    def n_steps(self) -> int:
        steps = self.steps
        return max((s.step for s in steps), default=0)

    @property
    def n_failed(self) -> int:
        return sum(1 for s in self.steps if s.status in FAILED_STATUSES)

    @property
    def elapsed_s(self) -> float | None:
        for value in ((self.summary or {}).get("elapsed_s"), self.meta.elapsed_s):
            if _number(value) is not None:
                return _number(value)
        times = [_number(s.elapsed_s) for s in self.steps]
        known = [t for t in times if t is not None]
        return sum(known) if known else None

    @property
    def submissions(self) -> list[Submission]:
        """Every submit step, from the cells (the truth even when summary.json is missing)."""
        return submissions_of(self.steps)

    @property
    def best_public_score(self) -> float | None:
        scores = [s.public_score for s in self.submissions if s.valid and s.public_score is not None]
        if not scores:
            return None
        return min(scores) if self.lower_is_better else max(scores)

    @property
    def final_private_score(self) -> float | None:
        return _number(self.final.get("private_score"))

    @property
    def graded_cell(self) -> int | None:
        """The notebook cell of the submit the final grade took (None: no such submit)."""
        step = self.final.get("step")
        if self.final.get("source") != "submit" or not isinstance(step, int):
            return None
        return next((s.cell_index for s in self.steps if s.step == step and s.action_type == "submit"), None)

    def graded_text(self) -> str:
        """Which submission was graded, and the rule that chose it."""
        from dojo_nb.env.scoring import FINAL_RULE

        final = self.final
        if not final:
            return "none (the episode has no final grade)"
        rule = str(final.get("rule") or FINAL_RULE).replace("_", " ")
        if final.get("source") == "submit":
            cell = self.graded_cell
            where = f"step {final.get('step')}" + (f", cell {cell}" if cell is not None else "")
            return f"{where} (rule: {rule})"
        if final.get("source") == "file_at_end":
            return f"the file left at SUBMISSION_PATH at the end, no valid submit (rule: {rule})"
        return f"none: {final.get('message') or 'no valid submission'} (rule: {rule})"

    @property
    def final_public_position(self) -> float | None:
        return _number(self.final.get("public_position_score"))

    @property
    def final_private_position(self) -> float | None:
        return _number(self.final.get("private_position_score"))

    @property
    def direction(self) -> str:
        return "lower is better" if self.lower_is_better else "higher is better"

    @property
    def medal(self) -> str | None:
        medal = self.final.get("medal")
        return str(medal) if medal else None

    @property
    def reproduced(self) -> bool | None:
        """True/False from replay.json; None when the episode was not replayed."""
        if self.replay is None:
            return None
        return bool(self.replay.get("reproduced"))

    def reproduced_text(self) -> str:
        if self.replay is None:
            return "not replayed (no replay.json)"
        verdict = "yes" if self.replay.get("reproduced") else "no"
        score = _number(self.replay.get("replay_score"))
        extra = f", replay score {fmt(score)}" if score is not None else ""
        message = self.replay.get("message")
        return f"{verdict}{extra}" + (f" — {message}" if message and message != "reproduced" else "")

    def summary_rows(self) -> list[tuple[str, str]]:
        """The summary table, as (label, text) rows; the same rows in report and compare."""
        time = self.elapsed_s
        return [
            ("task", f"{self.task_id}" + (f" ({self.task.get('metric')}, {self.direction})"
                                          if self.task.get("metric") else "")),
            ("agent", self.agent),
            ("backend", str(self.backend or "?")),
            ("steps", str(self.n_steps)),
            ("errors", str(self.n_failed)),
            ("time", f"{time:.1f} s" if time is not None else "?"),
            ("submissions", f"{sum(s.valid for s in self.submissions)} valid of {len(self.submissions)}"),
            ("best public score", fmt(self.best_public_score)),
            ("graded submission", self.graded_text()),
            ("final public score", fmt(_number(self.final.get("public_score")))),
            ("final private score", fmt(self.final_private_score)),
            ("position score", f"public {fmt(self.final_public_position, '.4f')} · "
                               f"private {fmt(self.final_private_position, '.4f')}"),
            ("medal", self.medal or "none"),
            ("medal thresholds", thresholds_text(self.task_id, self.lower_is_better, self.final)),
            ("reproduced", self.reproduced_text()),
            ("end", self.end_reason),
        ]


def submissions_of(steps: list[StepRecord]) -> list[Submission]:
    """The submit steps among `steps`, with what their grading said."""
    subs = []
    for s in steps:
        if s.action_type != "submit":
            continue
        g = s.meta.grade
        subs.append(Submission(
            step=s.step, valid=bool(g.get("valid")), public_score=_number(g.get("public_score")),
            position_score=_number(g.get("public_position_score")),
            message=str(g.get("message") or ""), final=bool(g.get("final"))))
    return subs


def fmt(value: float | None, spec: str = ".6g") -> str:
    return "—" if value is None else format(value, spec)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def load_episode(path: Path | str) -> EpisodeData:
    """Read an episode folder (or a trajectory .ipynb); `ReportError` says why it cannot be shown."""
    rec = _load_record(path, error=ReportError)
    data = EpisodeData(rec.root, rec.notebook_path, rec.nb, rec.summary, rec.replay, rec.problems)
    if not data.finished:
        data.problems.append("the episode did not finish (no summary.json, no end reason in the notebook): "
                             "the page shows the steps recorded so far")
    return data


__all__ = ["EpisodeData", "ReportError", "Submission", "load_episode", "fmt", "submissions_of",
           "FAILED_STATUSES"]
