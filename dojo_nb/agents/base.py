"""The agent protocol, and finding agents by name.

An agent reads observations and returns actions (the env's action dicts, see
`dojo_nb.actions`). Agents are found through the entry point group `dojo_nb.agents`,
so a third-party package registers its own and `dojo-nb run --agent NAME` finds it;
`module:Class` works too, without registering anything.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "dojo_nb.agents"
#: The one agent trusted to run without a sandbox: its code is ours, fixed, and has no model.
BUILTIN_BASELINE = "dojo_nb.agents.baseline:BaselineAgent"


@runtime_checkable
class Agent(Protocol):
    """What `dojo_nb.runners.episodes` drives: one `reset` per episode, then one `act` per step."""

    name: str

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        """Start an episode; `info["task"]` holds the task's agent-safe metadata."""

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        """The next action, given the observation of the previous one."""


def available_agents() -> dict[str, str]:
    """Registered agent names and the objects they point to."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def is_builtin_baseline(agent: Any) -> bool:
    """True only for dojo-nb's own baseline (an instance, or a name that resolves to it).

    A third-party entry point that calls itself "baseline" is not it: the class decides."""
    if isinstance(agent, str):
        matches = [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == agent]
        target = matches[0] if matches else agent
        return target.replace(" ", "") == BUILTIN_BASELINE
    from dojo_nb.agents.baseline import BaselineAgent

    return type(agent) is BaselineAgent


def load_agent(name: str, **kwargs: Any) -> Agent:
    """Instantiate an agent by registered name or by `module:Class`."""
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if matches:
        cls = matches[0].load()
    elif ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot load agent {name!r}: {exc}") from exc
    else:
        known = ", ".join(sorted(available_agents())) or "none"
        raise ValueError(f"unknown agent {name!r}; registered agents: {known} (or give module:Class)")
    agent = cls(**kwargs)
    if not isinstance(agent, Agent):
        raise TypeError(f"{name!r} does not implement the Agent protocol (name, reset, act)")
    return agent
