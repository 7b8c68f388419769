"""How a search node gets its kernel: a fork of its parent's live kernel, else a fresh episode.

`NodeKernels` keeps the episodes of the last few nodes open (their kernels hold each node's
state). A child of a kept node is `DojoEnv.fork`ed from it: the parent's variables, frames and
fitted models are there and the node's cost is its own new cell. A child of a node no longer
kept (or when forking is off) gets today's path: a fresh episode that re-runs the parent's
solution cells. Kept kernels are copy-on-write forks of each other, so most of their memory
is shared; `keep` bounds how many stay.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from dojo_nb.record.metadata import EpisodeMeta


class NodeKernels:
    """The open episodes of recent nodes, by node id (oldest closed first)."""

    def __init__(self, keep: int = 8) -> None:
        self.keep_at_most = int(keep)
        self.live: OrderedDict[str, Any] = OrderedDict()
        self.forks = 0
        self.fallbacks = 0  # forks that had to re-run cells (the fork entry says why)

    def fork(self, parent_id: str | None, node_dir: Path, *, steps: int, seconds: float) -> Any | None:
        """A running episode for a child of `parent_id` forked from its kernel, or None (not kept)."""
        parent = self.live.get(parent_id) if parent_id is not None else None
        if parent is None:
            return None
        self.live.move_to_end(parent_id)  # type: ignore[arg-type]
        child = parent.fork(node_dir, steps=steps, seconds=seconds)
        self.forks += 1
        fork = EpisodeMeta.of(child.trajectory).fork if child.trajectory is not None else None
        if isinstance(fork, dict) and fork.get("method") != "fork":
            self.fallbacks += 1
        return child

    def keep(self, node_id: str, env: Any) -> None:
        """Keep `env` open for `node_id`'s children; close the oldest beyond the bound."""
        self.live[node_id] = env
        while len(self.live) > self.keep_at_most:
            _, old = self.live.popitem(last=False)
            old.close()

    def close(self) -> None:
        while self.live:
            _, env = self.live.popitem(last=False)
            env.close()


__all__ = ["NodeKernels"]
