"""Why did it score that: the graded submission, position scores, medal thresholds, the chart's
direction, the sanitizer's note only for active content, and the viewer's step marker."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from dojo_nb.env.scoring import FINAL_RULE
from dojo_nb.tasks import load_task
from dojo_nb.tasks.leaderboard import load_leaderboard
from dojo_nb.views.report import build_compare, build_report, load_episode
from dojo_nb.views.report.chart import Series, score_chart
from dojo_nb.views.report.episode import Submission
from dojo_nb.views.report.html import render_data
from dojo_nb.views.widgets import EpisodeViewer

from .conftest import TASK, XSS_HTML, Episodes


def _row(text: str, label: str, *, href: bool = False) -> str:
    """A summary row's text (or the anchor it links to)."""
    m = re.search(rf'<tr[^>]*data-row="{re.escape(label)}"><th>[^<]*</th><td>(?:<a href="([^"]*)">)?([^<]*)'
                  r"(?:</a>)?</td>", text)
    assert m, f"no summary row {label!r}"
    return (m.group(1) or "") if href else m.group(2)


def test_summary_names_the_graded_submission_and_its_rule(episodes: Episodes) -> None:
    text = build_report(load_episode(episodes.hostile))
    summary = json.loads((episodes.hostile / "summary.json").read_text())
    final = summary["final"]
    assert final["source"] == "submit" and final["rule"] == FINAL_RULE
    nb = nbformat.read(episodes.hostile / "trajectory.ipynb", as_version=4)
    submits = [i for i, c in enumerate(nb.cells) if c.metadata.get("dojo", {}).get("action_type") == "submit"
               and c.metadata["dojo"].get("grading", {}).get("valid")]
    cell = submits[-1]  # the last valid submit is the graded one
    assert nb.cells[cell].metadata["dojo"]["step"] == final["step"]
    assert _row(text, "graded submission") == (f"step {final['step']}, cell {cell} "
                                               f"(rule: {FINAL_RULE.replace('_', ' ')})")
    assert _row(text, "graded submission", href=True) == f"#cell-{cell}" and f'id="cell-{cell}"' in text
    assert _row(text, "position score") == (f"public {final['public_position_score']:.4f} · "
                                            f"private {final['private_position_score']:.4f}")
    assert _row(text, "final public score") == format(final["public_score"], ".6g")


def test_summary_shows_the_medal_thresholds_of_the_task_board(episodes: Episodes) -> None:
    text = build_report(load_episode(episodes.baseline))
    t = load_leaderboard(load_task(TASK)).thresholds()
    assert t, "the task has a leaderboard"
    shown = _row(text, "medal thresholds").replace("&lt;", "<").replace("&gt;", ">")
    op = "≤" if load_task(TASK).lower_is_better else "≥"
    assert shown.startswith(f"gold {op} {t['gold']:.6g} · silver {op} {t['silver']:.6g} · "
                            f"bronze {op} {t['bronze']:.6g}"), shown
    assert "higher is better" in _row(text, "task")
    # the final grade kept the board's thresholds, so a report read elsewhere shows the same
    recorded = json.loads((episodes.baseline / "summary.json").read_text())["final"]["medal_thresholds"]
    assert recorded == pytest.approx(t)
    assert "this installation" not in shown


def test_thresholds_of_an_episode_that_recorded_none(episodes: Episodes, tmp_path: Path) -> None:
    ep = _retasked(episodes.baseline, tmp_path / "old", TASK, drop_thresholds=True)
    assert _row(build_report(load_episode(ep)), "medal thresholds").endswith(
        "(this installation&#x27;s board; the episode recorded none)")
    other = _retasked(episodes.baseline, tmp_path / "other", "no-such-task", drop_thresholds=True)
    assert _row(build_report(load_episode(other)), "medal thresholds").startswith("unknown")


def _ys(svg: str) -> list[float]:
    """The y of each public-score marker (the small squares), in step order."""
    return [float(y) for y in re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="6"', svg)]


def test_lower_is_better_is_drawn_with_better_up() -> None:
    subs = [Submission(1, True, 0.9, 0.2, ""), Submission(2, True, 0.3, 0.8, "")]
    higher = score_chart([Series("x", subs, 2)], lower_is_better=False, metric="accuracy")
    lower = score_chart([Series("x", subs, 2)], lower_is_better=True, metric="log_loss")
    # SVG y grows downwards: higher-is-better puts 0.9 above 0.3, lower-is-better the reverse
    assert _ys(higher)[0] < _ys(higher)[1]
    assert _ys(lower)[0] > _ys(lower)[1]
    # the better submission (step 2, position 0.8) is up on both axes when lower is better
    circles = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', lower)]
    assert circles[1] < circles[0] and _ys(lower)[1] < _ys(lower)[0]
    assert "public log_loss (lower is better, inverted)" in lower
    assert "public accuracy (higher is better)" in higher
    assert "position score (higher is better)" in lower


def test_sanitizer_note_only_for_active_content() -> None:
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})._repr_html_()
    assert "<style" in table, "pandas' table HTML carries a stylesheet (what this test is about)"
    rendered = render_data({"text/html": table})
    assert "output-note" not in rendered and "<td>x</td>" in rendered and "<style" not in rendered
    hostile = render_data({"text/html": XSS_HTML})
    note = re.search(r'<div class="output-note">([^<]*)</div>', hostile)
    assert note and "&lt;script&gt;" in note.group(1) and "onerror=" in note.group(1), hostile[:300]
    assert "a link that is not http(s)/mailto" in note.group(1)
    assert "&lt;style&gt;" not in render_data({"text/html": table + XSS_HTML})


def _retasked(src: Path, dest: Path, task_id: str, drop_thresholds: bool = False) -> Path:
    """A copy of an episode that claims another task (a crafted folder, as a reader might get),
    optionally without the thresholds its final grade kept (as episodes from before they were)."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("sandbox"))
    summary = json.loads((dest / "summary.json").read_text())
    summary["task"]["id"] = task_id
    if drop_thresholds:
        summary["final"].pop("medal_thresholds")
    (dest / "summary.json").write_text(json.dumps(summary))
    return dest


def test_compare_title_names_both_tasks_when_they_differ(episodes: Episodes, tmp_path: Path) -> None:
    other = _retasked(episodes.hostile, tmp_path / "other", "penguins-species")
    text = build_compare(load_episode(episodes.baseline), load_episode(other), allow_different_tasks=True)
    title = re.search(r"<h1>(.*?)</h1>", text).group(1)
    assert "iris-species" in title and "penguins-species" in title, title
    same = build_compare(load_episode(episodes.baseline), load_episode(episodes.hostile))
    assert re.search(r"<h1>(.*?)</h1>", same).group(1).count("iris-species") == 1


def test_viewer_chart_marks_the_selected_step(episodes: Episodes) -> None:
    v = EpisodeViewer(episodes.hostile)
    assert f"selected: step {v.slider.value}" in v.chart.value
    last = v.slider.max
    v.slider.value = last
    assert f"selected: step {last}" in v.chart.value
    assert v.chart.value.count('class="marker"') == 1
    x = re.search(r'<g class="marker">.*?<line x1="([\d.]+)"', v.chart.value).group(1)
    v.slider.value = v.slider.min
    x_first = re.search(r'<g class="marker">.*?<line x1="([\d.]+)"', v.chart.value).group(1)
    assert float(x_first) < float(x)
