"""ipywidgets views of episodes, for people reading or driving episodes in a notebook.

- `EpisodeViewer(path)`: step through a finished (or crashed) trajectory with a slider:
  the cell, its observation (the outputs, and the text the agent read), its reward and the
  score so far, plus the score chart with the selected step marked.
- `LiveEpisodeView`: a live view of a running episode; ``update(env)`` after each step
  (a `DojoEnv` made with ``render_mode="widget"`` does it itself).

Everything shown goes through `dojo_nb.views.report.html`: an ``ipywidgets.HTML`` value becomes
innerHTML in the browser, where an ``onerror=`` from a cell output would run, so outputs are
sanitized here exactly as in the HTML report.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

import ipywidgets as W

from dojo_nb.record import view
from dojo_nb.record.metadata import CellMeta, EpisodeMeta
from dojo_nb.record.steps import StepRecord, list_steps, load_trajectory
from dojo_nb.record.trajectory import Trajectory
from dojo_nb.views.report.cells import cell_header, render_cell
from dojo_nb.views.report.chart import Series, score_chart
from dojo_nb.views.report.episode import (FAILED_STATUSES, EpisodeData, Submission, fmt, load_episode,
                                    submissions_of)
from dojo_nb.views.report.html import esc, pre, render_code, render_markdown, render_outputs
from dojo_nb.views.report.page import scoped_stylesheet

# Widget HTML lives inside JupyterLab's own page: the report's rules are limited to
# elements under .dojo-nb-view so that they never restyle the notebook around them.
_SCOPE = "dojo-nb-view"
_STYLE = f"<style>{scoped_stylesheet('.' + _SCOPE)}</style>"


def _wrap(html: str) -> str:
    return f'<div class="{_SCOPE}">{html}</div>'


def _score_so_far(subs: Sequence[Submission], step: int) -> str:
    upto = [s for s in subs if s.step <= step]
    valid = [s for s in upto if s.valid and s.position_score is not None]
    if not upto:
        return "no submission yet"
    best = max(valid, key=lambda s: s.position_score or 0.0) if valid else None
    last = upto[-1]
    text = (f"{len(valid)} valid of {len(upto)} submissions; best position score "
            f"{fmt(best.position_score, '.4f') if best else '—'}"
            f" (public score {fmt(best.public_score) if best else '—'}); last: "
            + (f"public score {fmt(last.public_score)}" if last.valid else f"invalid ({last.message})"))
    return text


def _observation_html(cell: Mapping[str, Any]) -> str:
    """What the step returned: rendered outputs and the text the agent read, or the event."""
    if cell.get("cell_type") == "code":
        outputs = cell.get("outputs") or []
        rendered = render_outputs(outputs) or '<span class="muted">(no output)</span>'
        try:
            agent_text = view.recorded_observation_text(cell, 0)
        except Exception:  # noqa: BLE001 - malformed outputs: the rendered view still shows
            agent_text = ""
        return (f"{rendered}<details><summary>as the agent read it</summary>"
                f"{pre(agent_text or '(empty)')}</details>")
    grading = CellMeta.of(cell).grading
    parts = [render_markdown(str(cell.get("source") or ""))]
    if grading:
        parts.append(pre("\n".join(f"{k}: {v}" for k, v in grading.items())))
    return "".join(parts)


def _source_html(cell: Mapping[str, Any]) -> str:
    source = cell.get("source") or ""
    source = "".join(source) if isinstance(source, list) else str(source)
    if cell.get("cell_type") == "code":
        return render_code(source)
    return render_markdown(source)


class EpisodeViewer:
    """Step through a trajectory: a slider over steps, the cell, its observation and scores."""

    def __init__(self, path: str | os.PathLike[str] | EpisodeData) -> None:
        self.episode = path if isinstance(path, EpisodeData) else load_episode(path)
        self.steps = self.episode.steps
        self.submissions = self.episode.submissions
        first = self.steps[0].step if self.steps else 0
        last = self.steps[-1].step if self.steps else 0
        self.slider = W.IntSlider(value=first, min=first, max=max(first, last), step=1,
                                  description="step", continuous_update=False,
                                  disabled=not self.steps, layout=W.Layout(width="60%"))
        self.play = W.Play(value=first, min=first, max=max(first, last), step=1, interval=800,
                           disabled=not self.steps)
        W.jslink((self.play, "value"), (self.slider, "value"))
        self.title = W.HTML(_STYLE + _wrap(
            f"<h3>{esc(self.episode.task_id)} — {esc(self.episode.label)}</h3>"
            f'<div class="muted">{len(self.steps)} steps · {esc(self.episode.end_reason)}</div>'))
        self.header = W.HTML()
        self.cell = W.HTML()
        self.observation = W.HTML()
        self.reward = W.HTML()
        self.score = W.HTML()
        self.chart = W.HTML()
        self.widget = W.VBox([
            self.title, W.HBox([self.play, self.slider]), self.header,
            W.HTML("<b>cell</b>"), self.cell, W.HTML("<b>observation</b>"), self.observation,
            W.HBox([self.reward, self.score]), self.chart])
        self.slider.observe(self._on_step, names="value")
        self.show_step(first)

    def chart_html(self, step: int | None) -> str:
        """The score chart with `step` marked (the slider's step)."""
        ep = self.episode
        return _wrap(score_chart([Series(ep.label, self.submissions, ep.n_steps)],
                                 lower_is_better=ep.lower_is_better, metric=ep.metric, marker_step=step))

    def _record_for(self, step: int) -> StepRecord | None:
        """The latest recorded step at or before `step` (steps may have gaps after a resume)."""
        found = None
        for s in self.steps:
            if s.step <= step:
                found = s
        return found

    def _on_step(self, change: Mapping[str, Any]) -> None:
        self.show_step(int(change["new"]))

    def show_step(self, step: int) -> None:
        """Fill the widgets for `step` (also what moving the slider does)."""
        rec = self._record_for(step)
        self.chart.value = self.chart_html(rec.step if rec is not None else None)
        if rec is None:
            self.header.value = _wrap('<span class="muted">no steps recorded</span>')
            self.cell.value = self.observation.value = ""
            self.reward.value = ""
            self.score.value = esc(_score_so_far(self.submissions, step))
            return
        cell = self.episode.nb.cells[rec.cell_index]
        self.header.value = _wrap(cell_header(cell, rec.cell_index))
        self.cell.value = _wrap(_source_html(cell))
        self.observation.value = _wrap(_observation_html(cell))
        total = sum(s.reward or 0.0 for s in self.steps if s.step <= rec.step and isinstance(s.reward, (int, float)))
        reward = f"{rec.reward:+.4g}" if isinstance(rec.reward, (int, float)) else "0"
        self.reward.value = f"reward <b>{esc(reward)}</b> (sum so far {total:+.4g}) · "
        self.score.value = esc(_score_so_far(self.submissions, rec.step))

    @property
    def current(self) -> StepRecord | None:
        return self._record_for(self.slider.value)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _cells_and_meta(source: Any) -> tuple[list[Any], EpisodeMeta, dict[str, Any]]:
    """(cells, notebook metadata.dojo, extra facts) from an env, a Trajectory, a notebook or a path.

    An env or a Trajectory is read in place (no copy of the notebook per step).
    """
    extra: dict[str, Any] = {}
    if hasattr(source, "trajectory") and hasattr(source, "step"):  # a DojoEnv
        extra["max_steps"] = getattr(source, "max_steps", None)
        extra["task_id"] = getattr(source, "task_id", None)
        source = source.trajectory
        if source is None:
            return [], EpisodeMeta(), extra
    if isinstance(source, Trajectory):
        return source.cells, EpisodeMeta.of(source), extra
    if isinstance(source, (str, os.PathLike)):
        source = load_trajectory(Path(source))
    if isinstance(source, Mapping) and "notebook" in source:  # DojoEnv.read_episode(...)
        source = source["notebook"]
    cells = source.get("cells") if isinstance(source, Mapping) else getattr(source, "cells", None)
    if not isinstance(cells, list):
        raise TypeError(f"cannot show {type(source).__name__}: expected a DojoEnv, a Trajectory, a "
                        "notebook or an episode path")
    return cells, EpisodeMeta.of(source), extra


class LiveEpisodeView:
    """A live view of a running episode: progress, scores, the chart and the latest cell."""

    def __init__(self) -> None:
        self.status = W.HTML(_STYLE + _wrap("<i>waiting for the episode to start</i>"))
        self.chart = W.HTML()
        self.last_cell = W.HTML()
        self.widget = W.VBox([self.status, self.chart, self.last_cell])
        self.updates = 0
        self._shown = False
        self._n_submissions = -1

    def update(self, source: Any) -> None:
        """Refresh from a `DojoEnv`, a `Trajectory`, a notebook (or ``read_episode`` dict) or a path."""
        cells, meta, extra = _cells_and_meta(source)
        steps = list_steps(SimpleNamespace(cells=cells))
        subs = submissions_of(steps)
        n_step = max((s.step for s in steps), default=0)
        failed = sum(1 for s in steps if s.status in FAILED_STATUSES)
        task = extra.get("task_id") or meta.task.get("id") or "?"
        budget = f" of {extra['max_steps']}" if extra.get("max_steps") else ""
        ended = f" · ended: {esc(meta.end_reason)}" if meta.end_reason else ""
        self.status.value = _STYLE + _wrap(
            f"<div><b>{esc(task)}</b> · step {n_step}{esc(budget)} · {failed} failed · "
            f"{esc(_score_so_far(subs, n_step))}{ended}</div>")
        if len(subs) != self._n_submissions:  # the chart changes only with a submission
            self._n_submissions = len(subs)
            self.chart.value = _wrap(score_chart([Series(str(meta.agent or task), subs, n_step)],
                                                 lower_is_better=bool(meta.task.get("lower_is_better")),
                                                 metric=str(meta.task.get("metric") or "")))
        if steps:
            last = steps[-1]
            cell = cells[last.cell_index]
            self.last_cell.value = _wrap(render_cell(cell, last.cell_index))
        self.updates += 1

    def show(self) -> "LiveEpisodeView":
        """Display the view once in the running notebook (later updates change it in place)."""
        if not self._shown:
            from IPython import get_ipython

            if get_ipython() is None:  # a plain script: nothing to display into, stay quiet
                return self
            from IPython.display import display

            display(self.widget)
            self._shown = True
        return self

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self._shown = True
        return self.widget._repr_mimebundle_(**kwargs)


__all__ = ["EpisodeViewer", "LiveEpisodeView"]
