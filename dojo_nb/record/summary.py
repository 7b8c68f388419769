"""``summary.json``: written by the env when an episode ends; the runner adds the agent's stats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dojo_nb import safe_io
from dojo_nb.record import layout


def read_final(root: Path) -> dict[str, Any] | None:
    """The final grade summary.json records (None when there is no summary file)."""
    if safe_io.kind(root, layout.SUMMARY) != "file":
        return None
    return dict(safe_io.read_json(root, layout.SUMMARY).get("final") or {})


def add_agent_stats(root: Path, agent: Any) -> str | None:
    """Store ``agent.stats()`` (an LLM agent's calls and tokens) as summary.json's ``agent_stats``.

    Does nothing for an agent without ``stats`` or an episode without a summary; returns a
    line saying what failed, if it did (stats must never cost the episode).
    """
    if not callable(getattr(agent, "stats", None)) or safe_io.kind(root, layout.SUMMARY) != "file":
        return None
    try:
        summary = safe_io.read_json(root, layout.SUMMARY)
        summary["agent_stats"] = agent.stats()
        safe_io.write_text(root, layout.SUMMARY, json.dumps(summary, indent=1, default=str) + "\n")
    except Exception as exc:  # noqa: BLE001
        return f"agent.stats() failed: {type(exc).__name__}: {exc}"
    return None
