"""The ipywidgets views, headless: build them, move the slider, read what the widgets hold."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import dojo_nb
from dojo_nb.env import DojoEnv
from dojo_nb.views.report import ReportError
from dojo_nb.views.widgets import EpisodeViewer, LiveEpisodeView

from .conftest import MARK, TASK, Episodes
from .safety import scan_page


def _inert(html: str) -> None:
    scan = scan_page(html)
    assert not scan.problems, scan.problems
    assert not any(t == "script" for t, _ in scan.tags)


def _step_of(nb: nbformat.NotebookNode, predicate) -> int:
    return next(c.metadata.dojo.step for c in nb.cells if predicate(c))


def test_viewer_steps_through_the_trajectory(episodes: Episodes) -> None:
    nb = nbformat.read(episodes.hostile / "trajectory.ipynb", as_version=4)
    steps = [c.metadata.dojo.step for c in nb.cells if c.metadata.get("dojo", {}).get("step", 0) > 0]
    v = EpisodeViewer(episodes.hostile)
    assert (v.slider.min, v.slider.max, v.slider.value) == (steps[0], steps[-1], steps[0])
    assert "Plan:" in v.cell.value and "add_markdown" in v.header.value
    assert v.score.value == "no submission yet"

    xss_step = _step_of(nb, lambda c: "display(HTML(" in c.source)
    before = (v.cell.value, v.observation.value)
    v.slider.value = xss_step
    assert (v.cell.value, v.observation.value) != before
    assert "bold stays" in v.observation.value and f"window.{MARK}" in v.cell.value
    for w in (v.cell, v.observation, v.header):
        _inert(w.value)
    assert "JavaScript output (shown as source, not run)" in v.observation.value

    error_step = _step_of(nb, lambda c: "no_such_column" in c.source)
    v.slider.value = error_step
    assert "badge status error" in v.header.value and "KeyError" in v.observation.value
    assert "as the agent read it" in v.observation.value

    summary = json.loads((episodes.hostile / "summary.json").read_text())
    v.slider.value = steps[-1]
    best = max(s["public_position_score"] for s in summary["submissions"] if s["valid"])
    assert f"best position score {best:.4f}" in v.score.value
    assert "reward" in v.reward.value
    assert v.current is not None and v.current.step == steps[-1]
    assert v.chart.value.count("<circle") == sum(1 for s in summary["submissions"] if s["valid"])
    bundle = v._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_viewer_on_a_crashed_episode_and_a_corrupt_one(episodes: Episodes, tmp_path: Path) -> None:
    v = EpisodeViewer(episodes.crashed)
    v.slider.value = v.slider.max
    assert v.score.value == "no submission yet"
    assert "not finished" in v.title.value
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "trajectory.ipynb").write_text("{")
    with pytest.raises(ReportError):
        EpisodeViewer(bad)


def test_live_view_follows_a_running_env(tmp_path: Path) -> None:
    view = LiveEpisodeView()
    env = dojo_nb.make(TASK, backend="local", out_dir=tmp_path / "live", agent_name="live-test", max_steps=10)
    try:
        env.reset()
        view.update(env)
        assert "step 0 of 10" in view.status.value
        env.step({"type": "execute_code", "code": "print('first step output')"})
        view.update(env)
        assert "step 1 of 10" in view.status.value and "first step output" in view.last_cell.value
        env.step({"type": "execute_code", "code": "1/0"})
        view.update(env)
        assert "1 failed" in view.status.value and "ZeroDivisionError" in view.last_cell.value
        env.step({"type": "submit"})
        view.update(env)
        assert "0 valid of 1 submissions" in view.status.value
        assert "invalid submission" in view.chart.value
        _inert(view.last_cell.value)
        episode_dir = env.episode_dir
    finally:
        env.close()
    # the finished episode, from its folder and from read_episode
    view.update(episode_dir)
    assert "ended: closed" in view.status.value
    view.update(DojoEnv.read_episode(episode_dir))
    assert view.updates == 6
    with pytest.raises(TypeError):
        view.update(42)


def test_env_render_mode_widget(tmp_path: Path) -> None:
    """render_mode="widget": env.render() is a LiveEpisodeView that follows the steps."""
    assert "widget" in DojoEnv.metadata["render_modes"]
    env = dojo_nb.make(TASK, backend="local", out_dir=tmp_path / "w", render_mode="widget", max_steps=5)
    try:
        env.reset()
        env.step({"type": "execute_code", "code": "print('shown live')"})
        view = env.render()
        assert isinstance(view, LiveEpisodeView)
        assert "shown live" in view.last_cell.value and "step 1" in view.status.value
    finally:
        env.close()
