"""`dojo-nb compare` on real episodes: alignment by content, highlights, both curves, refusals."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
from typer.testing import CliRunner

from dojo_nb.cli import app
from dojo_nb.views.report import load_episode
from dojo_nb.views.report.compare import align, align_by_step

from .conftest import INSERTED_CODE, Episodes
from .safety import assert_inert

runner = CliRunner()


def _compare(a: Path, b: Path, out: Path, *extra: str) -> str:
    res = runner.invoke(app, ["compare", str(a), str(b), "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith(str(out))
    return out.read_text(encoding="utf-8")


def _rows(text: str) -> list[tuple[str, int | None, int | None]]:
    """(kind, A cell index, B cell index) per aligned row, read back from the page."""
    rows = []
    for m in re.finditer(r'<div class="pair [^"]+" data-kind="([^"]+)">(.*?)(?=<div class="pair |</div></section>)',
                         text, re.S):
        a = re.search(r'id="a-cell-(\d+)"', m.group(2))
        b = re.search(r'id="b-cell-(\d+)"', m.group(2))
        rows.append((m.group(1), int(a.group(1)) if a else None, int(b.group(1)) if b else None))
    return rows


def _inserted_index(nb: nbformat.NotebookNode) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.source == INSERTED_CODE)


def test_inserted_cell_is_aligned(episodes: Episodes, tmp_path: Path) -> None:
    text = _compare(episodes.hostile, episodes.inserted, tmp_path / "c.html")
    assert_inert(text)
    a_nb = nbformat.read(episodes.hostile / "trajectory.ipynb", as_version=4)
    b_nb = nbformat.read(episodes.inserted / "trajectory.ipynb", as_version=4)
    extra = _inserted_index(b_nb)
    rows = _rows(text)
    assert len(rows) == len(b_nb.cells) == len(a_nb.cells) + 1
    assert [r for r in rows if r[0] == "only-b"] == [("only-b", None, extra)]
    for kind, ia, ib in rows:
        if ia is None:
            continue
        assert ib == (ia if ia < extra else ia + 1), (kind, ia, ib)  # every later cell shifts by one
        assert a_nb.cells[ia].source == b_nb.cells[ib].source
    assert "1 only in B" in text and "content (nbdime)" in text


def test_step_alignment_is_the_fallback_and_differs(episodes: Episodes) -> None:
    a, b = load_episode(episodes.hostile).nb, load_episode(episodes.inserted).nb
    by_step = align_by_step(a, b)
    by_content, method = align(a, b, "content")
    assert method == "content (nbdime)"
    # by step the insertion shifts every later cell, so later steps pair different code
    assert sum(r.kind == "changed" for r in by_step) > sum(r.kind == "changed" for r in by_content)
    assert align(a, b, "step")[1] == "step"


def test_two_agents_side_by_side(episodes: Episodes, tmp_path: Path) -> None:
    text = _compare(episodes.baseline, episodes.hostile, tmp_path / "c.html")
    assert_inert(text)
    assert "baseline" in text and "scripted" in text
    svg = re.search(r'<svg class="chart".*?</svg>', text, re.S).group(0)
    sa = json.loads((episodes.baseline / "summary.json").read_text())
    sb = json.loads((episodes.hostile / "summary.json").read_text())
    n_points = sum(1 for s in sa["submissions"] + sb["submissions"] if s["valid"])
    assert svg.count("<circle") == n_points       # both curves on the one chart
    assert "A: baseline" in svg and "B: scripted" in svg
    # summary table: one column per episode, differing rows highlighted
    steps_row = re.search(r'<tr( class="differs")? data-row="steps"><th>steps</th><td>(\d+)</td><td>(\d+)</td>', text)
    assert steps_row and (steps_row.group(2), steps_row.group(3)) == (str(sa["steps"]), str(sb["steps"]))
    assert bool(steps_row.group(1)) == (sa["steps"] != sb["steps"])
    rows = _rows(text)
    assert {k for k, _, _ in rows} - {"same", "changed", "replaced", "only-a", "only-b"} == set()
    assert any(k == "same" for k, _, _ in rows)  # description and parameters cells line up
    # changed or replaced code cells have their differing lines marked
    if any(k in ("changed", "replaced") for k, _, _ in rows):
        assert 'class="line-del"' in text or 'class="line-ins"' in text


def test_different_tasks_are_refused_unless_asked(episodes: Episodes, tmp_path: Path) -> None:
    other = tmp_path / "other-task"
    shutil.copytree(episodes.hostile, other, ignore=shutil.ignore_patterns("sandbox"))
    nb = nbformat.read(other / "trajectory.ipynb", as_version=4)
    nb.metadata.dojo.task.id = "penguins-species"
    nbformat.write(nb, other / "trajectory.ipynb")
    summary = json.loads((other / "summary.json").read_text())
    summary["task"]["id"] = "penguins-species"
    (other / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "c.html"
    res = runner.invoke(app, ["compare", str(episodes.hostile), str(other), "--out", str(out)])
    assert res.exit_code == 2 and "different tasks" in res.output and not out.exists()
    text = _compare(episodes.hostile, other, out, "--allow-different-tasks")
    assert "different tasks: A is iris-species, B is penguins-species" in text


def test_compare_with_a_corrupt_side_writes_nothing(episodes: Episodes, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "trajectory.ipynb").write_text('{"cells": [')
    out = tmp_path / "c.html"
    res = runner.invoke(app, ["compare", str(episodes.hostile), str(bad), "--out", str(out)])
    assert res.exit_code == 2 and "not a readable notebook" in res.output and not out.exists()
    res = runner.invoke(app, ["compare", str(episodes.hostile), str(episodes.inserted), "--align", "bogus"])
    assert res.exit_code == 2


def test_crashed_episode_compares(episodes: Episodes, tmp_path: Path) -> None:
    text = _compare(episodes.crashed, episodes.hostile, tmp_path / "c.html")
    assert_inert(text)
    assert "A: the episode did not finish" in text
    rows = _rows(text)
    crashed_cells = len(nbformat.read(episodes.crashed / "trajectory.ipynb", as_version=4).cells)
    # the crashed run is a prefix of the full one: all its cells pair, the rest are B only
    assert sum(1 for k, a, b in rows if a is not None and b is not None) == crashed_cells
    assert all(k == "only-b" for k, a, _ in rows if a is None)


def _tiled(nb: nbformat.NotebookNode, times: int, insert_at: int | None = None) -> nbformat.NotebookNode:
    """A long trajectory made of a real one's step cells repeated, with fresh steps and ids."""
    import copy

    out = copy.deepcopy(nb)
    body = [c for c in nb.cells if c.metadata.get("dojo", {}).get("step", 0) > 0]
    out.cells = out.cells[:2]
    for k in range(times):
        for c in body:
            c = copy.deepcopy(c)
            c.source += f"\n# round {k}" if c.cell_type == "code" else ""
            out.cells.append(c)
    if insert_at is not None:
        out.cells.insert(insert_at, nbformat.v4.new_code_cell(INSERTED_CODE))
    for i, c in enumerate(out.cells):
        c["id"] = f"t{i}"
        if i >= 2:
            c.metadata.setdefault("dojo", {})["step"] = i - 1
    return out


def test_long_trajectories_align_fast_and_like_nbdime(episodes: Episodes, monkeypatch) -> None:
    import time

    import dojo_nb.views.report.compare as compare

    nb = nbformat.read(episodes.hostile / "trajectory.ipynb", as_version=4)
    a, b = _tiled(nb, 25), _tiled(nb, 25, insert_at=120)
    assert len(a.cells) * len(b.cells) > compare.NBDIME_MAX_PAIRS   # the anchored path
    t0 = time.monotonic()
    rows = compare.align_by_content(a, b)
    fast = time.monotonic() - t0
    assert [(r.a, r.b) for r in rows if r.kind == "only-b"] == [(None, 120)]
    assert all(r.kind == "same" for r in rows if r.kind != "only-b")
    monkeypatch.setattr(compare, "NBDIME_MAX_PAIRS", 10**9)   # nbdime over the whole notebooks
    t0 = time.monotonic()
    full = compare.align_by_content(a, b)
    assert [(r.a, r.b, r.kind) for r in full] == [(r.a, r.b, r.kind) for r in rows]
    assert fast < time.monotonic() - t0
