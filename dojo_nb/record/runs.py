"""A folder of episodes (a run): which of its folders are episodes, found without following links.

`dojo-nb run --split` writes ``RUN/<task>/`` per task, a script may write ``RUN/<agent>/<task>/``
or anything else, so the walk looks for folders that hold a trajectory, down to `max_depth`.
It never enters an episode folder (its sandbox, its submissions, a search agent's node episodes
under ``search/nodes/``) nor a search folder outside one (`run_search`'s ``OUT/search``: its
nodes belong to the search, not to the run), never follows a link (the folder may be crafted: a
link is listed as a problem, not walked), and stops at `limit` folders so a huge tree cannot
stall it. Reading each episode is `dojo_nb.record.load.load_episode`'s job.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from dojo_nb.record import layout

#: Folders never walked into (besides hidden ones, episodes and search folders): tool caches.
_SKIP = frozenset({"__pycache__", ".ipynb_checkpoints", ".git"})


@dataclass
class RunFolder:
    """The episode folders under a run folder, and what could not be walked (with why)."""

    root: Path
    episodes: list[Path] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    truncated: bool = False


def is_episode_folder(path: Path) -> bool:
    """Whether `path` holds a trajectory (a regular file, not a link)."""
    try:
        return stat.S_ISREG(os.lstat(path / layout.TRAJECTORY).st_mode)
    except OSError:
        return False


def holds_trajectory_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path / layout.TRAJECTORY).st_mode)
    except OSError:
        return False


def is_search_folder(path: Path) -> bool:
    """Whether `path` is a search agent's tree (its node episodes belong to that search)."""
    try:
        return stat.S_ISREG(os.lstat(path / layout.SEARCH_JOURNAL).st_mode)
    except OSError:
        return False


def find_episodes(root: Path | str, *, max_depth: int = 4, limit: int = 5000) -> RunFolder:
    """Every episode folder under `root` (breadth first, sorted by path), not `root` itself."""
    root = Path(root).expanduser().resolve()
    found = RunFolder(root)
    level = [root]
    for _depth in range(max_depth):
        nxt: list[Path] = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                found.problems.append((folder, f"cannot list the folder ({exc.strerror or exc})"))
                continue
            for entry in entries:
                if entry.name in _SKIP or entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                if entry.is_symlink():
                    if entry.is_dir():  # follows, only to say what the link points at
                        found.problems.append((path, "a link to a folder: not followed"))
                    continue
                if not entry.is_dir(follow_symlinks=False):
                    continue
                if is_episode_folder(path):
                    found.episodes.append(path)
                elif holds_trajectory_link(path):
                    found.problems.append((path, f"its {layout.TRAJECTORY} is a link: not followed"))
                elif not is_search_folder(path):
                    nxt.append(path)
                if len(found.episodes) + len(nxt) >= limit:
                    found.truncated = True
                    break
            if found.truncated:
                break
        if found.truncated:
            break
        level = nxt
    found.episodes.sort()
    return found


__all__ = ["RunFolder", "find_episodes", "is_episode_folder", "is_search_folder"]
