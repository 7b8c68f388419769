"""`dojo-nb report RUN_DIR`: the index of a folder of real episodes, with crafted ones mixed in."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

from typer.testing import CliRunner

from dojo_nb.cli import app
from dojo_nb.record.runs import find_episodes
from dojo_nb.views.report.run_index import write_run_index

from .conftest import Episodes
from .safety import scan_page

runner = CliRunner()


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("sandbox"))
    return dest


def _run_folder(episodes: Episodes, root: Path) -> Path:
    """A run: four real episodes at two depths, one torn trajectory, a planted link, a stray file."""
    _copy(episodes.baseline, root / "iris" / "baseline")
    _copy(episodes.hostile, root / "iris" / "scripted")
    _copy(episodes.inserted, root / "deeper" / "agent-x" / "inserted")
    _copy(episodes.crashed, root / "crashed")
    torn = root / "torn"
    torn.mkdir()
    full = (episodes.baseline / "trajectory.ipynb").read_text()
    (torn / "trajectory.ipynb").write_text(full[: len(full) // 3])
    outside = root.parent / "outside"
    _copy(episodes.baseline, outside)
    os.symlink(outside, root / "linked")                 # a link to an episode elsewhere: not followed
    (root / "notes.txt").write_text("not an episode")
    return root


def test_walk_finds_episodes_and_skips_links(episodes: Episodes, tmp_path: Path) -> None:
    root = _run_folder(episodes, tmp_path / "run")
    found = find_episodes(root)
    rel = sorted(p.relative_to(root).as_posix() for p in found.episodes)
    assert rel == ["crashed", "deeper/agent-x/inserted", "iris/baseline", "iris/scripted", "torn"]
    assert any(p.name == "linked" and "link" in why for p, why in found.problems)


def test_index_page_json_and_csv(episodes: Episodes, tmp_path: Path) -> None:
    root = _run_folder(episodes, tmp_path / "run")
    res = runner.invoke(app, ["report", str(root)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(root / "index.html")
    data = json.loads((root / "index.json").read_text())
    rows = {r["folder"]: r for r in data["episodes"]}
    assert set(rows) == {"crashed", "deeper/agent-x/inserted", "iris/baseline", "iris/scripted", "torn"}
    # the torn trajectory is a row with its error, the others are read
    assert rows["torn"]["error"] and "torn/trajectory.ipynb: not a readable notebook" in rows["torn"]["error"]
    assert str(root) not in rows["torn"]["error"]
    assert rows["torn"]["task"] is None
    summary = json.loads((episodes.baseline / "summary.json").read_text())
    base = rows["iris/baseline"]
    assert base["task"] == "iris-species" and base["agent"] == "baseline" and base["valid"] is True
    assert base["private_score"] == summary["final"]["private_score"]
    assert base["private_position_score"] == summary["final"]["private_position_score"]
    assert base["steps"] == summary["steps"] and base["reproduced"] is True
    assert rows["crashed"]["valid"] is False and rows["crashed"]["reproduced"] is None
    assert rows["iris/scripted"]["reproduced"] is None  # not replayed
    # medals per agent, MLE-bench style
    agents = {a["agent"]: a for a in data["agents"]}
    assert sum(a["episodes"] for a in agents.values()) == 4
    assert agents["baseline"]["valid"] == 1 and agents["scripted"]["episodes"] == 3
    # links: every report was written next to its episode, compare pages for the iris pairs
    for folder in ("iris/baseline", "iris/scripted", "deeper/agent-x/inserted", "crashed"):
        assert rows[folder]["report"] and (root / unquote(rows[folder]["report"])).is_file()
    pairs = {h for r in rows.values() for h in r["compare"]}
    assert len(pairs) == 6  # four readable episodes of one task: 4 * 3 / 2 pairs
    for h in pairs:
        assert (root / unquote(h)).is_file()
    # the CSV holds the same rows
    table = list(csv.DictReader(io.StringIO((root / "index.csv").read_text())))
    assert [r["folder"] for r in table] == [r["folder"] for r in data["episodes"]]
    assert {r["folder"]: r["private_score"] for r in table}["iris/baseline"] == str(summary["final"]["private_score"])
    # the page: the table rows, the one script allowed by its hash, nothing else active
    text = (root / "index.html").read_text()
    assert text.count("<tr>") + text.count('<tr class="broken">') >= 5 + 2 + 1
    assert 'class="broken"' in text and "not a readable notebook" in text
    assert "linked: a link to a folder: not followed" in text
    scan = scan_page(text)
    scripts = re.findall(r"<script>(.*?)</script>", text, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in scan.csp
    assert [p for p in scan.problems if not p.startswith("<script")] == []


def test_index_out_folder_links_back(episodes: Episodes, tmp_path: Path) -> None:
    root = tmp_path / "run"
    _copy(episodes.baseline, root / "a")
    index = write_run_index(root, tmp_path / "site")
    page = (tmp_path / "site" / "index.html").read_text()
    href = index.rows[0].report
    assert href and f'href="{href}"' in page
    assert (tmp_path / "site" / unquote(href)).resolve() == (root / "a" / "report.html").resolve()


def test_not_a_run_fails_cleanly(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    res = runner.invoke(app, ["report", str(empty)])
    assert res.exit_code == 2 and "no trajectory.ipynb here" in res.output, res.output
    assert "Traceback" not in res.output


def _crafted_search(folder: Path, node_episode: Path) -> None:
    """A search folder beside an episode: a two-node journal, one node episode (a real one)."""
    nodes = [{"id": "000-draft", "parent": None, "stage": "draft", "status": "good", "score": 0.9},
             {"id": "001-improve", "parent": "000-draft", "stage": "improve", "status": "buggy", "score": None}]
    search = folder / "search"
    (search / "nodes").mkdir(parents=True)
    (search / "journal.jsonl").write_text("".join(json.dumps(n) + "\n" for n in nodes))
    (search / "search.json").write_text(json.dumps({"best": "000-draft", "selection": "highest VALIDATION_SCORE"}))
    _copy(node_episode, search / "nodes" / "000-draft")


def test_search_episodes_in_a_run(episodes: Episodes, tmp_path: Path) -> None:
    root = tmp_path / "run"
    ep = _copy(episodes.baseline, root / "search-agent")
    _crafted_search(ep, episodes.hostile)
    # run_search's own folder: OUT/search and OUT/final
    out = root / "run-search"
    _copy(episodes.baseline, out / "final")
    _crafted_search(out, episodes.hostile)
    index = write_run_index(root)
    assert [r.folder for r in index.rows] == ["run-search/final", "search-agent"]  # node episodes are not rows
    row = next(r for r in index.rows if r.folder == "search-agent")
    assert row.tree and (root / unquote(row.tree)).name == "search-tree.html"
    tree_page = (root / unquote(row.tree)).read_text()
    assert 'id="node-000-draft"' in tree_page and 'href="nodes/000-draft/solution.ipynb"' not in tree_page
    assert "search/nodes/000-draft/solution.ipynb" in unquote(tree_page)
    # the report of a search episode links its tree page
    assert 'href="search-tree.html"' in (ep / "report.html").read_text()
    # the run-search folder's tree is the run's own: only when the root itself holds a search
    assert index.tree is None
    sub = write_run_index(out)
    assert sub.tree == "search-tree.html" and (out / "search-tree.html").is_file()
    assert 'href="search-tree.html"' in (out / "index.html").read_text()
