"""The episode notebook, as the rest of dojo-nb has always imported it.

The code lives in `dojo_nb.record` (the one owner of the episode folder's format): the
writer in `dojo_nb.record.trajectory`, the readers in `dojo_nb.record.steps`, the file names
in `dojo_nb.record.layout` and the ``metadata.dojo`` keys in `dojo_nb.record.metadata`. This
module keeps the old names working.
"""

from __future__ import annotations

from typing import Any, Mapping

from dojo_nb.record import layout
from dojo_nb.record.metadata import (DESCRIPTION, PARAMETERS, PARAMETERS_TAG, cell_meta_dict,
                                     episode_meta_dict)
from dojo_nb.record.steps import (NBFORMAT_MINOR, StepRecord, build_solution, list_steps, load_trajectory,
                                  parameters_cell_index, solution_cell_indices, validate)
from dojo_nb.record.trajectory import (LAYOUT_VERSION, Trajectory, _jsonable, atomic_write_bytes,
                                       atomic_write_text, event_markdown, package_versions,
                                       parameters_source)

TRAJECTORY_NAME = layout.TRAJECTORY
SOLUTION_NAME = layout.SOLUTION


def episode_metadata(nb: Any) -> dict[str, Any]:
    """The notebook's ``metadata.dojo`` as a dict (typed: `dojo_nb.record.metadata.EpisodeMeta.of`)."""
    return episode_meta_dict(nb)


def cell_dojo(cell: Mapping[str, Any]) -> dict[str, Any]:
    """A cell's ``metadata.dojo`` as a dict (typed: `dojo_nb.record.metadata.CellMeta.of`)."""
    return cell_meta_dict(cell)


__all__ = [
    "TRAJECTORY_NAME", "SOLUTION_NAME", "PARAMETERS_TAG", "DESCRIPTION", "PARAMETERS", "LAYOUT_VERSION",
    "NBFORMAT_MINOR", "Trajectory", "StepRecord", "atomic_write_text", "atomic_write_bytes", "build_solution",
    "episode_metadata", "event_markdown", "list_steps", "load_trajectory", "package_versions",
    "parameters_cell_index", "parameters_source", "solution_cell_indices", "validate", "cell_dojo",
    "_jsonable",
]
