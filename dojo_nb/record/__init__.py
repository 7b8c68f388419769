"""The episode record, with one owner: the folder's layout, the notebook's typed metadata,
the one loader and the one renderer of what the agent is shown.

- `layout`: every file name of an episode folder (`EpisodeLayout` for the paths).
- `metadata`: ``metadata.dojo`` of the notebook (`EpisodeMeta`) and of a cell (`CellMeta`).
- `trajectory`: the notebook being written (`Trajectory`); `steps`: reading it back.
- `load`: `load_episode` (one loader) and `EpisodeRecordError` (one error type).
- `view`: the reset text and observation texts, and `truncate_middle`.
- `inputs`: the public data put in a sandbox; `summary`: summary.json's later additions.
"""

from dojo_nb.record import layout
from dojo_nb.record.layout import EpisodeLayout
from dojo_nb.record.load import EpisodeRecord, EpisodeRecordError, load_episode
from dojo_nb.record.metadata import CellMeta, EpisodeMeta

__all__ = ["layout", "EpisodeLayout", "EpisodeRecord", "EpisodeRecordError", "load_episode", "CellMeta",
           "EpisodeMeta"]
