"""A search agent's tree read back: ``search/journal.jsonl`` (one line per node) and ``search.json``.

`dojo_nb.agents.search` writes them; the search-tree page reads the whole tree here
(`load_search_tree`), and export asks where one node's episode sits in it (`search_node`: a
node's episode is not a standalone attempt, since it re-runs its parent's cells and the file
graded at its end may be its parent's, so export names the tree and the parent of each node). Like the episode
loader, this reads a folder that may be crafted: files are opened through `dojo_nb.safe_io`
(links refused), a bad journal line becomes a problem line and is skipped, and a node's
folder is always ``search/nodes/<id>`` with `id` checked to be a plain name: the absolute
``episode_dir`` the journal records is never followed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from dojo_nb import safe_io
from dojo_nb.record import layout

#: A node id as the search writes it (``003-debug``): a plain file name, nothing else.
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Journal lines read at most (a search of a few hundred nodes is already a big one).
MAX_NODES = 2000


@dataclass
class TreeNode:
    """One node as the page shows it."""

    id: str
    parent: str | None
    stage: str
    status: str
    score: float | None
    message: str = ""
    code: str = ""
    elapsed_s: float | None = None
    submission_valid: bool | None = None
    children: list[str] = field(default_factory=list)
    folder: Path | None = None       # search/nodes/<id>, when it is a real folder


@dataclass
class SearchTree:
    """The nodes in journal order, the search's own summary (if written), and what was skipped."""

    root: Path                        # the search folder
    nodes: list[TreeNode]
    summary: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)

    @property
    def best(self) -> str | None:
        """The node the search chose (``search.json``'s ``best``), if it is in the tree."""
        best = (self.summary or {}).get("best")
        return best if isinstance(best, str) and any(n.id == best for n in self.nodes) else None

    @property
    def lower_is_better(self) -> bool | None:
        text = str((self.summary or {}).get("selection") or "")
        return True if "lowest" in text else False if "highest" in text else None

    def path_to(self, node_id: str | None) -> list[str]:
        """The ids from a root draft down to `node_id` (the winning path)."""
        by_id = {n.id: n for n in self.nodes}
        path: list[str] = []
        while node_id is not None and node_id in by_id and node_id not in path:
            path.append(node_id)
            node_id = by_id[node_id].parent
        return path[::-1]


def search_folder(path: Path | str) -> Path | None:
    """The search folder of `path`: `path` itself when it holds a journal, else ``path/search``."""
    path = Path(path).expanduser()
    if path.is_file():
        path = path.parent
    for folder in (path, path / layout.SEARCH):
        try:
            if safe_io.kind(folder, layout.SEARCH_JOURNAL) == "file":
                return folder
        except (OSError, safe_io.UnsafePathError):
            continue
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _node(data: Mapping[str, Any], root: Path) -> TreeNode:
    node_id = str(data.get("id"))
    if not _NODE_ID.match(node_id):
        raise ValueError(f"node id {node_id[:60]!r} is not a plain name")
    parent = data.get("parent")
    folder: Path | None = None
    rel = f"{layout.SEARCH_NODES}/{node_id}"
    try:
        if safe_io.kind(root, rel) == "dir":
            folder = root / rel
    except (OSError, safe_io.UnsafePathError):
        folder = None
    valid = data.get("submission_valid")
    return TreeNode(
        id=node_id, parent=str(parent) if parent is not None else None,
        stage=str(data.get("stage") or "?"), status=str(data.get("status") or "?"),
        score=_number(data.get("score")), message=str(data.get("message") or "")[:2000],
        code=str(data.get("code") or "")[:100_000], elapsed_s=_number(data.get("elapsed_s")),
        submission_valid=valid if isinstance(valid, bool) else None, folder=folder)


def load_search_tree(path: Path | str) -> SearchTree | None:
    """The tree under `path` (an episode folder or the search folder); None when there is none."""
    root = search_folder(path)
    if root is None:
        return None
    problems: list[str] = []
    nodes: list[TreeNode] = []
    seen: set[str] = set()
    try:
        lines = safe_io.read_text(root, layout.SEARCH_JOURNAL).splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return SearchTree(root, [], None, [f"{layout.SEARCH_JOURNAL} is unreadable: {exc}"])
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(nodes) >= MAX_NODES:
            problems.append(f"only the first {MAX_NODES} nodes are shown")
            break
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            node = _node(data, root)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            problems.append(f"{layout.SEARCH_JOURNAL} line {n} was skipped ({exc})")
            continue
        if node.id in seen:
            problems.append(f"{layout.SEARCH_JOURNAL} line {n}: node {node.id} appears twice; the first is kept")
            continue
        if node.parent is not None and node.parent not in seen:
            # A parent ends (and is written) before its child starts, so this also rules out cycles.
            problems.append(f"node {node.id}'s parent {node.parent} is not earlier in the journal: "
                            "drawn as a root")
            node.parent = None
        seen.add(node.id)
        nodes.append(node)
    by_id = {n.id: n for n in nodes}
    for node in nodes:  # children from the parents named (each line's own list is written too early)
        if node.parent is not None:
            by_id[node.parent].children.append(node.id)
    summary: dict[str, Any] | None = None
    try:
        if safe_io.kind(root, layout.SEARCH_SUMMARY) is not None:
            data = safe_io.read_json(root, layout.SEARCH_SUMMARY)
            summary = data if isinstance(data, dict) else None
            if summary is None:
                problems.append(f"{layout.SEARCH_SUMMARY} is not a JSON object and was ignored")
        else:
            problems.append(f"no {layout.SEARCH_SUMMARY}: the search did not finish, no node was chosen")
    except (OSError, ValueError) as exc:
        problems.append(f"{layout.SEARCH_SUMMARY} was ignored ({exc})")
    return SearchTree(root, nodes, summary, problems)


@dataclass(frozen=True)
class SearchNode:
    """A node as its search's journal recorded it."""

    tree_id: str            # the search's own id: a hash of the journal's first line (written once)
    search_dir: Path
    node: str
    parent: str | None
    stage: str | None
    status: str | None
    score: Any

    @property
    def good(self) -> bool:
        """Whether the node wrote its own valid submission (the only nodes whose grade is theirs)."""
        return self.status == "good"

    def to_dict(self) -> dict[str, Any]:
        return {"tree_id": self.tree_id, "search_dir": str(self.search_dir), "node": self.node,
                "parent": self.parent, "stage": self.stage, "status": self.status, "score": self.score}


def search_node(root: Path) -> SearchNode | None:
    """The journal's entry for the episode folder `root`, if it is a search node (else None)."""
    root = Path(root)
    if root.parent.name != layout.SEARCH_NODES:
        return None
    search_dir = root.parent.parent
    try:
        if safe_io.kind(search_dir, layout.SEARCH_JOURNAL) != "file":
            return None
        lines = safe_io.read_text(search_dir, layout.SEARCH_JOURNAL).splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines:
        return None
    tree_id = hashlib.sha256(lines[0].encode("utf-8", "backslashreplace")).hexdigest()[:12]
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("id") == root.name:
            parent = entry.get("parent")
            return SearchNode(tree_id, search_dir, root.name, str(parent) if parent else None,
                              entry.get("stage"), entry.get("status"), entry.get("score"))
    return None


__all__ = ["MAX_NODES", "SearchNode", "SearchTree", "TreeNode", "load_search_tree", "search_folder", "search_node"]
