"""The search-tree reader and page on crafted journals (the real search is in tests/browser, slow)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from typer.testing import CliRunner

from dojo_nb.cli import app
from dojo_nb.record.search_tree import load_search_tree
from dojo_nb.views.report.tree import build_tree_page, layout_tree, tree_svg, write_tree_page

from .safety import assert_inert

runner = CliRunner()


def _node(i: int, stage: str, parent: str | None, status: str, score: float | None, **extra) -> dict:
    return {"id": f"{i:03d}-{stage}", "parent": parent, "stage": stage, "status": status, "score": score,
            "code": f"print('VALIDATION_SCORE: {score}')", "message": "", **extra}


def _search(root: Path, lines: list[str], summary: dict | None) -> Path:
    search = root / "search"
    search.mkdir(parents=True)
    (search / "journal.jsonl").write_text("\n".join(lines) + "\n")
    if summary is not None:
        (search / "search.json").write_text(json.dumps(summary))
    return root


def _tree_lines() -> list[str]:
    nodes = [_node(0, "draft", None, "good", 0.4), _node(1, "draft", None, "buggy", None),
             _node(2, "debug", "001-draft", "good", 0.2), _node(3, "improve", "002-debug", "good", 0.1),
             _node(4, "improve", "002-debug", "buggy", None, message="<script>x()</script> KeyError"),
             _node(5, "draft", None, "failed", None)]
    return [json.dumps(n) for n in nodes]


def test_tree_layout_and_winning_path(tmp_path: Path) -> None:
    root = _search(tmp_path / "ep", _tree_lines(), {"best": "003-improve", "selection": "lowest VALIDATION_SCORE",
                                                     "stop_reason": "max_nodes", "task": "t"})
    tree = load_search_tree(root)
    assert tree is not None and [n.id for n in tree.nodes][:2] == ["000-draft", "001-draft"]
    assert tree.best == "003-improve" and tree.lower_is_better is True
    assert tree.path_to(tree.best) == ["001-draft", "002-debug", "003-improve"]
    pos = layout_tree(tree)
    assert pos["002-debug"][1] == pos["001-draft"][1] + 1 == 2
    # a parent sits between its children; siblings never share a slot
    assert pos["003-improve"][0] < pos["002-debug"][0] < pos["004-improve"][0]
    assert len({p for p in pos.values()}) == len(pos)
    svg = tree_svg(tree)
    assert svg.count('<g class="node win"') == 3 and svg.count('class="edge win"') == 3
    assert len(re.findall(r'<a href="#node-[^"]+"><g class="node', svg)) == 6
    page = build_tree_page(tree, root)
    assert_inert(page)
    for n in tree.nodes:
        assert f'id="node-{n.id}"' in page
    assert "&lt;script&gt;x()" in page  # the message, as text


def test_crafted_journal_is_read_line_by_line(tmp_path: Path) -> None:
    lines = _tree_lines()[:3] + [
        "{not json",
        json.dumps(["a list"]),
        json.dumps(_node(6, "x", None, "good", 1.0) | {"id": "../../etc"}),
        json.dumps(_node(7, "debug", "009-later", "good", 1.0)),        # a parent that comes later
        json.dumps(_node(9, "debug", "007-debug", "good", 1.0)),
        json.dumps(_node(2, "debug", None, "good", 9.0)),               # a duplicate id
    ]
    root = _search(tmp_path / "ep", lines, None)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "search" / "nodes").mkdir()
    os.symlink(outside, root / "search" / "nodes" / "000-draft")     # a planted link as a node folder
    tree = load_search_tree(root)
    ids = [n.id for n in tree.nodes]
    assert ids == ["000-draft", "001-draft", "002-debug", "007-debug", "009-debug"]
    text = " | ".join(tree.problems)
    assert "line 4 was skipped" in text and "line 5 was skipped" in text and "not a plain name" in text
    assert "009-later is not earlier in the journal" in text and "appears twice" in text
    assert "no search.json" in text and tree.best is None
    assert tree.nodes[0].folder is None          # the link is not taken for the node's folder
    by_id = {n.id: n for n in tree.nodes}
    assert by_id["007-debug"].parent is None and by_id["009-debug"].parent == "007-debug"
    page = build_tree_page(tree, root)
    assert_inert(page)
    assert "the search did not finish" in page


def test_report_command_on_a_search_folder(tmp_path: Path) -> None:
    root = _search(tmp_path / "ep", _tree_lines(), {"best": "000-draft"})
    res = runner.invoke(app, ["report", str(root / "search")])
    assert res.exit_code == 0, res.output
    page = root / "search" / "search-tree.html"
    assert res.output.strip() == str(page) and page.is_file()
    assert write_tree_page(tmp_path) is None   # no search here
