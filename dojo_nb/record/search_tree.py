"""Where an episode sits in a search tree: ``SEARCH/nodes/<id>/`` beside ``SEARCH/journal.jsonl``.

Why: a search node's episode is not a standalone attempt (it re-runs its parent's cells, and
the file graded at its end may be its parent's), so export names the tree and the parent of
each node, and keeps scores only for nodes that wrote their own valid file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dojo_nb import safe_io
from dojo_nb.record import layout


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


__all__ = ["SearchNode", "search_node"]
