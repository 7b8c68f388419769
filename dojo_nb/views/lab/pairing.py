"""What Lab Compare asks the server before it opens two trajectories: are both trajectories,
of the same task, and which cells pair up.

The pairs come from the static compare page's own code (`dojo_nb.views.report.compare.align`
over `dojo_nb.views.report.episode.load_episode`), so `dojo-nb compare A B` and Lab Compare
put the same cells side by side by construction; Lab only draws them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dojo_nb.views.report.compare import align
from dojo_nb.views.report.episode import EpisodeData, ReportError, load_episode


class PairingError(ValueError):
    """The request cannot be answered (bad path, not a trajectory): the message says why."""


def resolve(root: Path | str, rel: str) -> Path:
    """`rel` (a Jupyter path, '/'-separated) under `root`; refused when it leaves the root."""
    base = Path(root).resolve()
    if not rel or rel.startswith("/") or "\\" in rel or any(p in ("..", "") for p in rel.split("/")):
        raise PairingError(f"not a path inside the Jupyter root: {rel!r}")
    path = base / rel
    try:
        path.parent.resolve().relative_to(base)
    except ValueError:
        raise PairingError(f"{rel}: outside the Jupyter root") from None
    return path


def _side(ep: EpisodeData, rel: str) -> dict[str, Any]:
    return {"path": rel, "task": ep.task_id, "agent": ep.agent, "episode": ep.path.name, "label": ep.label,
            "lower_is_better": ep.lower_is_better}


def _load(root: Path | str, rel: str) -> EpisodeData:
    try:
        return load_episode(resolve(root, rel))
    except ReportError as exc:
        # The loader names the absolute path; a person in Lab knows the relative one.
        raise PairingError(str(exc).replace(str(Path(root).resolve()) + "/", "")) from None


def pairing(root: Path | str, a_rel: str, b_rel: str) -> dict[str, Any]:
    """Both sides (task, agent, episode, label), whether the tasks agree, and the aligned rows
    ``[a_index, b_index, kind]`` (an index is None when the cell has no partner)."""
    a, b = _load(root, a_rel), _load(root, b_rel)
    rows, method = align(a.nb, b.nb, "content")
    return {
        "a": _side(a, a_rel),
        "b": _side(b, b_rel),
        "same_task": a.task_id == b.task_id,
        "method": method,
        "rows": [[r.a, r.b, r.kind] for r in rows],
    }


__all__ = ["PairingError", "pairing", "resolve"]
