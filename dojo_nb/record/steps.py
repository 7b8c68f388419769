"""Reading a trajectory back: its steps, its parameters cell, the solution it implies.

``solution.ipynb`` (what papermill replays) is derived from a trajectory by
`build_solution`: the description, the parameters cell, then the code cells that ran with
status ``ok`` since the last kernel restart, in execution order, less those that depended on
a name only a dropped (failed) cell had bound (`dojo_nb.record.deps`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import nbformat
from nbformat import NotebookNode

from dojo_nb.record import layout
from dojo_nb.record.deps import dependency_safe
from dojo_nb.record.metadata import (DESCRIPTION, DOJO, PARAMETERS, CellMeta, cell_meta_dict,
                                     is_parameters_cell)

NBFORMAT_MINOR = 5


def load_trajectory(path: Path | str) -> NotebookNode:
    """Read a trajectory (an .ipynb path, or an episode folder holding trajectory.ipynb).

    This follows links: it is for the driver's own files. Folders that may be crafted are
    read with `dojo_nb.record.load.load_episode`.
    """
    path = Path(path)
    if path.is_dir():
        path = path / layout.TRAJECTORY
    return nbformat.read(path, as_version=4)


def parameters_cell_index(nb: NotebookNode) -> int | None:
    """Index of the cell tagged ``parameters`` (None if there is none)."""
    for i, cell in enumerate(nb.cells):
        if is_parameters_cell(cell):
            return i
    return None


def description_of(nb: NotebookNode) -> str:
    """The task description the trajectory starts with ("" when there is none)."""
    return next((c.source for c in nb.cells if CellMeta.of(c).action_type == DESCRIPTION), "")


@dataclass
class StepRecord:
    """One recorded step, as read back from a trajectory."""

    step: int
    cell_index: int
    action_type: str
    status: str | None
    cell_type: str
    source: str
    reward: float | None = None
    elapsed_s: float | None = None
    kernel_restarted: bool = False
    dojo: dict[str, Any] = field(default_factory=dict)

    @property
    def meta(self) -> CellMeta:
        """The cell's ``metadata.dojo``, typed."""
        return CellMeta.from_dict(self.dojo)

    def action(self) -> dict[str, Any] | None:
        """The action that made this cell, rebuilt (None when it cannot be)."""
        m = self.meta
        if isinstance(m.action, Mapping):
            return dict(m.action)
        if self.action_type == "execute_code":
            return {"type": "execute_code", "code": self.source}
        if self.action_type == "add_markdown":
            return {"type": "add_markdown", "text": self.source}
        if self.action_type == "edit_cell" and m.has("edits"):
            return {"type": "edit_cell", "cell_index": m.edits, "code": self.source}
        if self.action_type == "run_cell" and m.has("reruns"):
            return {"type": "run_cell", "cell_index": m.reruns}
        return None


def list_steps(nb: NotebookNode) -> list[StepRecord]:
    """The agent's steps in order (the description and parameters cells are not steps)."""
    steps = []
    for i, cell in enumerate(nb.cells):
        d = cell_meta_dict(cell)
        step = d.get("step")
        if not isinstance(step, int) or step <= 0:
            continue
        m = CellMeta.from_dict(d)
        steps.append(StepRecord(
            step=step, cell_index=i, action_type=str(m.action_type or ""),
            status=m.status, cell_type=cell.cell_type, source=cell.source,
            reward=m.reward, elapsed_s=m.elapsed_s,
            kernel_restarted=bool(m.kernel_restarted), dojo=d))
    return steps


def solution_cell_indices(nb: NotebookNode) -> list[int]:
    """Trajectory indices of the code cells a solution keeps.

    Those that ran ok after the last restart, less any that read a name a dropped cell had
    bound (`dojo_nb.record.deps.dependency_safe` has the rule), so the replay can run them.
    """
    metas = [CellMeta.of(cell) for cell in nb.cells]
    last_restart = max((i for i, m in enumerate(metas) if m.kernel_restarted), default=-1)
    ran = [i for i, (cell, m) in enumerate(zip(nb.cells, metas))
           if i > last_restart and cell.cell_type == "code" and m.action_type != PARAMETERS
           and m.status is not None]
    safe = dependency_safe((nb.cells[i].source, metas[i].status == "ok") for i in ran)
    return [i for i, keep in zip(ran, safe) if keep]


def build_solution(nb: NotebookNode) -> NotebookNode:
    """The runnable notebook: description, parameters cell, then the kept code cells in order."""
    sol = nbformat.v4.new_notebook(metadata=copy.deepcopy(nb.get("metadata", {})))
    sol.nbformat_minor = NBFORMAT_MINOR
    sol.metadata.setdefault(DOJO, {})["kind"] = "solution"
    cells = []
    for i, cell in enumerate(nb.cells):
        if CellMeta.of(cell).action_type == DESCRIPTION:
            cells.append((i, cell))
            break
    p = parameters_cell_index(nb)
    if p is not None:
        cells.append((p, nb.cells[p]))
    cells.extend((i, nb.cells[i]) for i in solution_cell_indices(nb))
    for i, cell in cells:
        c = copy.deepcopy(cell)
        c.metadata.setdefault(DOJO, {})["trajectory_cell_index"] = i
        sol.cells.append(c)
    return nbformat.from_dict(sol)


def validate(nb: NotebookNode) -> None:
    """nbformat validation (raises nbformat.ValidationError)."""
    nbformat.validate(nb, version=4)


__all__ = ["NBFORMAT_MINOR", "StepRecord", "build_solution", "description_of", "list_steps",
           "load_trajectory", "parameters_cell_index", "solution_cell_indices", "validate"]
