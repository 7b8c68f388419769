"""Typed ``metadata.dojo``: the notebook's (`EpisodeMeta`) and each cell's (`CellMeta`).

The keys are the ones dojo-nb has written since layout version 1 (and the unversioned
notebooks before it, read as version 0): reading never renames or drops a key, so an old
trajectory loads, and a key this version does not know is kept in ``extra`` and written
back as it was.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

#: ``metadata.dojo.layout_version`` written today; older (or missing: 0) versions still load.
VERSION = 1
#: The key under a notebook's and a cell's ``metadata``.
DOJO = "dojo"
#: ``action_type`` of the two fixed cells at the top of a trajectory.
DESCRIPTION = "description"
PARAMETERS = "parameters"
PARAMETERS_TAG = "parameters"


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")


class _Meta:
    """Shared reading and writing: known keys are fields, the rest stay in ``extra``."""

    extra: dict[str, Any]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Any:
        data = dict(data or {}) if isinstance(data, Mapping) else {}
        names = _fields(cls)
        known = {k: data.pop(k) for k in names if k in data}
        obj = cls(**known)  # type: ignore[call-arg]
        obj.extra = data
        obj._present = frozenset(known)  # type: ignore[attr-defined]
        return obj

    def has(self, key: str) -> bool:
        """Whether the key was in the notebook (a field with its default was not)."""
        return key in getattr(self, "_present", frozenset()) or key in self.extra

    def to_dict(self) -> dict[str, Any]:
        """The dict to store: the fields that were read or set to something, then ``extra``."""
        present = getattr(self, "_present", frozenset())
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if f.name in present or value != default:
                out[f.name] = value
        out.update(self.extra)
        return out


@dataclass
class EpisodeMeta(_Meta):
    """A trajectory's ``metadata.dojo``: what the episode was, and how it ended."""

    layout_version: int = 0
    kind: str | None = None            # "trajectory" or "solution"
    packages: dict[str, Any] = field(default_factory=dict)
    task: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None
    agent: str | None = None
    seed: int | None = None
    make_seed: int | None = None
    budgets: dict[str, Any] = field(default_factory=dict)
    sandbox_limits: Any = None        # as recorded: never trusted (a crafted notebook could set it)
    kernel_paths: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    input_population: str | None = None
    input_listing: str | None = None  # the input files as the reset text listed them
    kernel_source: str | None = None
    final_rule: str | None = None
    resumes: list[dict[str, Any]] = field(default_factory=list)
    rules: dict[str, Any] | None = None    # feedback, submission budget, reward mode (dojo_nb.env.rules)
    kernel_facts: dict[str, Any] | None = None  # hardware and packages the reset text told
    episode_uid: str | None = None     # random, made at reset: the folder's own id (export's episode_id)
    seconds_left_at_reset: float | None = None  # what the first observation said
    fork: dict[str, Any] | None = None      # this episode began as a copy of another (`fork_entry`)
    # written when the episode ends
    final: dict[str, Any] | None = None
    end_reason: str | None = None
    steps: int | None = None
    elapsed_s: float | None = None
    reward_sum: float | None = None
    best_public_position_score: float | None = None
    ended_at: str | None = None
    terminal_reward: float | None = None   # what the episode's end paid (dojo_nb.env.scoring.terminal_reward)
    task_id: str | None = None         # very old notebooks named the task here
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, nb: Any) -> EpisodeMeta:
        """The metadata of a notebook (a NotebookNode, a dict or a `Trajectory`)."""
        meta = nb.get("metadata", {}) if isinstance(nb, Mapping) else getattr(nb, "metadata", {})
        found = (meta or {}).get(DOJO)
        obj = cls.from_dict(found if isinstance(found, Mapping) else {})
        if not isinstance(obj.task, Mapping):
            obj.extra["task"], obj.task = obj.task, {}
        for name in ("budgets", "kernel_paths"):
            if not isinstance(getattr(obj, name), Mapping):
                setattr(obj, name, {})
        if not isinstance(obj.final, Mapping):
            obj.final = None
        return obj

    @staticmethod
    def present(nb: Any) -> bool:
        """Whether the notebook has a ``metadata.dojo`` at all."""
        meta = nb.get("metadata", {}) if isinstance(nb, Mapping) else getattr(nb, "metadata", {})
        return isinstance((meta or {}).get(DOJO), Mapping)

    @property
    def task_name(self) -> str | None:
        """The task's id (None when the notebook names none)."""
        return self.task.get("id") or self.task_id

    @property
    def ended(self) -> bool:
        return self.final is not None or self.end_reason is not None


def fork_entry(parent_episode: str, parent_cells: int, parent_steps: int, method: str,
               reason: str | None = None, seconds: float | None = None, at: str | None = None) -> dict[str, Any]:
    """``metadata.dojo.fork``: the episode this one was forked from, at which cell and step, and how
    its kernel got the parent's state (``"fork"``: the live process was forked; ``"rerun"``: the
    parameters and solution cells were re-run, `reason` says why)."""
    entry: dict[str, Any] = {"parent_episode": parent_episode, "parent_cells": int(parent_cells),
                             "parent_steps": int(parent_steps), "method": method}
    if reason:
        entry["reason"] = reason
    if seconds is not None:
        entry["seconds"] = round(float(seconds), 4)
    if at:
        entry["at"] = at
    return entry


@dataclass
class CellMeta(_Meta):
    """A cell's ``metadata.dojo``: which step made it, how it went, what it earned."""

    step: Any = None
    action_type: str | None = None
    status: str | None = None
    elapsed_s: float | None = None
    kernel_restarted: bool | None = None
    message: str | None = None
    reward: float | None = None
    grading: dict[str, Any] | None = None
    action: dict[str, Any] | None = None   # the action as sent, for non-code actions
    edits: int | None = None                # edit_cell: the cell it edits
    reruns: int | None = None               # run_cell: the cell it runs again
    submission_file: str | None = None      # submit: the kept copy, under submissions/
    requested_type: Any = None              # invalid_action
    raw_preview: str | None = None
    after_step: int | None = None           # resume
    rebuilt: list[dict[str, Any]] | None = None
    trajectory_cell_index: int | None = None  # solution.ipynb: where the cell came from
    durations: dict[str, Any] | None = None   # wall_s, kernel_cpu_s, budget_share (dojo_nb.env.progress)
    reward_components: dict[str, Any] | None = None  # milestones seen after the step
    observation_text: str | None = None       # an event's observation text, when its cell does not say it
    steps_left: int | None = None             # the budget the step's observation showed
    seconds_left: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, cell: Mapping[str, Any]) -> CellMeta:
        found = (cell.get("metadata") or {}).get(DOJO)
        obj = cls.from_dict(found if isinstance(found, Mapping) else {})
        if obj.grading is not None and not isinstance(obj.grading, Mapping):
            obj.grading = None
        return obj

    @property
    def grade(self) -> dict[str, Any]:
        """The grading dict (empty when there is none)."""
        return dict(self.grading or {})


def cell_meta_dict(cell: Mapping[str, Any]) -> dict[str, Any]:
    """A cell's ``metadata.dojo`` as a plain dict copy (what `StepRecord.dojo` holds)."""
    found = (cell.get("metadata") or {}).get(DOJO)
    return dict(found) if isinstance(found, Mapping) else {}


def episode_meta_dict(nb: Any) -> dict[str, Any]:
    meta = nb.get("metadata", {}) if isinstance(nb, Mapping) else getattr(nb, "metadata", {})
    found = (meta or {}).get(DOJO)
    return dict(found) if isinstance(found, Mapping) else {}


def is_parameters_cell(cell: Mapping[str, Any]) -> bool:
    return cell.get("cell_type") == "code" and PARAMETERS_TAG in ((cell.get("metadata") or {}).get("tags") or [])


__all__ = ["VERSION", "DOJO", "DESCRIPTION", "PARAMETERS", "PARAMETERS_TAG", "EpisodeMeta", "CellMeta", "fork_entry",
           "cell_meta_dict", "episode_meta_dict", "is_parameters_cell"]
