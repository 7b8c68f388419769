"""An episode folder read for people: the trajectory, summary.json and replay.json, with the
numbers a report shows (submissions over steps, errors, time, best and final scores).

Only the trajectory is required: a crashed driver leaves no summary.json, a run without
replay has no replay.json, and either file may be unreadable; those become ``problems``
that the page shows, not failures. A missing or corrupt trajectory raises `ReportError`.
Files are read through `dojo_nb.safe_io`: a link in the folder (which may be crafted) is
refused for the trajectory and ignored, with a problem line, for the others.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from nbformat import NotebookNode

import nbformat

from dojo_nb import notebook as nbk
from dojo_nb import safe_io

SUMMARY_NAME = "summary.json"
REPLAY_NAME = "replay.json"
FAILED_STATUSES = frozenset({"error", "timeout", "crashed", "invalid_action"})


class ReportError(Exception):
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


@dataclass
class EpisodeData:
    """Everything a report or viewer needs about one episode."""

    path: Path                      # the episode folder (or the notebook's folder)
    notebook_path: Path
    nb: NotebookNode
    summary: dict[str, Any] | None
    replay: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)

    @property
    def meta(self) -> dict[str, Any]:
        return nbk.episode_metadata(self.nb)

    @property
    def steps(self) -> list[nbk.StepRecord]:
        return nbk.list_steps(self.nb)

    @property
    def task(self) -> dict[str, Any]:
        task = (self.summary or {}).get("task") or self.meta.get("task") or {}
        return dict(task) if isinstance(task, Mapping) else {"id": str(task)}

    @property
    def task_id(self) -> str:
        return str(self.task.get("id") or self.meta.get("task_id") or "unknown task")

    @property
    def agent(self) -> str:
        return str((self.summary or {}).get("agent") or self.meta.get("agent") or "unknown agent")

    @property
    def lower_is_better(self) -> bool:
        return bool(self.task.get("lower_is_better"))

    @property
    def label(self) -> str:
        """Short name for a column or a curve: agent and folder."""
        return self.agent if self.path.name == self.agent else f"{self.agent} · {self.path.name}"

    @property
    def final(self) -> dict[str, Any]:
        final = (self.summary or {}).get("final") or self.meta.get("final") or {}
        return dict(final) if isinstance(final, Mapping) else {}

    @property
    def finished(self) -> bool:
        return self.summary is not None or "end_reason" in self.meta

    @property
    def end_reason(self) -> str:
        reason = (self.summary or {}).get("end_reason") or self.meta.get("end_reason")
        return str(reason) if reason else "not finished (driver stopped: no summary.json)"

    @property
    def n_steps(self) -> int:
        steps = self.steps
        return max((s.step for s in steps), default=0)

    @property
    def n_failed(self) -> int:
        return sum(1 for s in self.steps if s.status in FAILED_STATUSES)

    @property
    def elapsed_s(self) -> float | None:
        for source in (self.summary or {}, self.meta):
            value = _number(source.get("elapsed_s"))
            if value is not None:
                return value
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
            ("task", f"{self.task_id}" + (f" ({self.task.get('metric')})" if self.task.get("metric") else "")),
            ("agent", self.agent),
            ("backend", str((self.summary or {}).get("backend") or self.meta.get("backend") or "?")),
            ("steps", str(self.n_steps)),
            ("errors", str(self.n_failed)),
            ("time", f"{time:.1f} s" if time is not None else "?"),
            ("submissions", f"{sum(s.valid for s in self.submissions)} valid of {len(self.submissions)}"),
            ("best public score", fmt(self.best_public_score)),
            ("final private score", fmt(self.final_private_score)),
            ("medal", self.medal or "none"),
            ("reproduced", self.reproduced_text()),
            ("end", self.end_reason),
        ]


def submissions_of(steps: list[nbk.StepRecord]) -> list[Submission]:
    """The submit steps among `steps`, with what their grading said."""
    subs = []
    for s in steps:
        if s.action_type != "submit":
            continue
        g = s.dojo.get("grading") if isinstance(s.dojo.get("grading"), Mapping) else {}
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


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        if safe_io.kind(path.parent, path.name) is None:
            return None
        data = json.loads(safe_io.read_text(path.parent, path.name))
    except safe_io.UnsafePathError as exc:
        problems.append(f"{path.name} was ignored: {exc}")
        return None
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} is unreadable and was ignored ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name} is not a JSON object and was ignored")
        return None
    return data


def load_episode(path: Path | str) -> EpisodeData:
    """Read an episode folder (or a trajectory .ipynb); `ReportError` says why it cannot be shown."""
    path = Path(path).expanduser()
    notebook_path = path / nbk.TRAJECTORY_NAME if path.is_dir() else path
    folder = notebook_path.parent
    try:
        what = safe_io.kind(folder, notebook_path.name)
    except OSError as exc:
        raise ReportError(str(exc)) from None
    if what == "link":
        raise ReportError(f"{notebook_path} is a symlink; dojo-nb does not follow links in an episode folder "
                          "(it may have been crafted): refused")
    if what != "file":
        raise ReportError(f"{path}: no {nbk.TRAJECTORY_NAME} here (is this an episode folder?)")
    try:
        nb = nbformat.reads(safe_io.read_text(folder, notebook_path.name), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on a bad file
        raise ReportError(f"{notebook_path}: not a readable notebook ({type(exc).__name__}: "
                          f"{str(exc)[:300]})") from None
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, Mapping) and "cell_type" in c for c in cells):
        raise ReportError(f"{notebook_path}: the notebook's cells are malformed")
    if not isinstance(nb.get("metadata", {}).get("dojo"), Mapping):
        raise ReportError(f"{notebook_path}: not a dojo-nb trajectory (no metadata.dojo)")
    problems: list[str] = []
    summary = _read_json(folder / SUMMARY_NAME, problems)
    replay = _read_json(folder / REPLAY_NAME, problems)
    data = EpisodeData(path=folder, notebook_path=notebook_path, nb=nb, summary=summary, replay=replay,
                       problems=problems)
    if not data.finished:
        problems.append("the episode did not finish (no summary.json, no end reason in the notebook): "
                        "the page shows the steps recorded so far")
    return data


__all__ = ["EpisodeData", "ReportError", "Submission", "load_episode", "fmt", "submissions_of",
           "FAILED_STATUSES"]
