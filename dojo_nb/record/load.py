"""Reading an episode folder back: one loader, one error type.

The folder may be crafted (copied from elsewhere, or written by a kernel that escaped
nothing but wrote odd files): every file is opened through `dojo_nb.safe_io`, so a link is
refused (or, for the optional files, ignored with a problem line) and never followed.

- `load_episode` reads ``trajectory.ipynb`` (required) and ``summary.json`` and
  ``replay.json`` (optional) into an `EpisodeRecord`. Env, resume, report, export, widgets
  and runner all read episodes through it.
- `read_notebook` and `read_json` read one other file of the folder the same way (replay
  reads ``solution.ipynb`` and ``summary.json``).

Each caller keeps its own error class (``ResumeError``, ``ReplayError``, ``ReportError``,
``ExportError``), but they are all subclasses of `EpisodeRecordError` and are raised from
here, through the ``error=`` argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import nbformat
from nbformat import NotebookNode

from dojo_nb import safe_io
from dojo_nb.record import layout
from dojo_nb.record.metadata import EpisodeMeta
from dojo_nb.record.steps import StepRecord, list_steps


class EpisodeRecordError(Exception):
    """An episode folder (or one of its files) cannot be read; the message says why."""


class UnsafeRecordError(EpisodeRecordError, safe_io.UnsafePathError):
    """A file of the episode folder is a link (or otherwise unsafe) and was refused."""


@dataclass
class EpisodeRecord:
    """One episode folder as read back: the trajectory, and the summary and replay if any."""

    root: Path                      # the episode folder (or the notebook's folder)
    notebook_path: Path
    nb: NotebookNode
    summary: dict[str, Any] | None = None
    replay: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def layout(self) -> layout.EpisodeLayout:
        return layout.EpisodeLayout(self.root)

    @property
    def meta(self) -> EpisodeMeta:
        return EpisodeMeta.of(self.nb)

    @property
    def steps(self) -> list[StepRecord]:
        return list_steps(self.nb)

    def _summary(self, key: str) -> Any:
        return (self.summary or {}).get(key)

    @property
    def task(self) -> dict[str, Any]:
        """The task's facts: the summary's, else the notebook's."""
        task = self._summary("task") or self.meta.task or self.meta.extra.get("task") or {}
        return dict(task) if isinstance(task, Mapping) else {"id": str(task)}

    @property
    def agent(self) -> str | None:
        return self._summary("agent") or self.meta.agent

    @property
    def backend(self) -> str | None:
        return self._summary("backend") or self.meta.backend

    @property
    def final(self) -> dict[str, Any]:
        final = self._summary("final") or self.meta.final or {}
        return dict(final) if isinstance(final, Mapping) else {}

    @property
    def end_reason(self) -> str | None:
        return self.meta.end_reason or self._summary("end_reason")

    @property
    def finished(self) -> bool:
        return self.summary is not None or self.meta.has("end_reason")

    @property
    def agent_stats(self) -> dict[str, Any] | None:
        stats = self._summary("agent_stats")
        return dict(stats) if isinstance(stats, Mapping) else None


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def read_notebook(root: Path, name: str, *, error: type[EpisodeRecordError] = EpisodeRecordError,
                  missing: str | None = None) -> NotebookNode:
    """A notebook of the folder, read without following links and validated."""
    path = root / name
    try:
        nb = nbformat.reads(safe_io.read_text(root, name), as_version=4)
        nbformat.validate(nb)
    except FileNotFoundError:
        raise error(missing or f"{name} is missing from {root}") from None
    except safe_io.UnsafePathError as exc:
        raise error(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - corrupt JSON, truncated file, schema errors
        raise error(f"{path} is not a valid notebook ({_first_line(exc)})") from None
    return nb


def read_json(root: Path, name: str, *, error: type[EpisodeRecordError] = EpisodeRecordError,
              missing: str | None = None) -> dict[str, Any]:
    """A JSON object of the folder, read without following links."""
    path = root / name
    try:
        data = safe_io.read_json(root, name)
    except FileNotFoundError:
        raise error(missing or f"{name} is missing from {root}: is this an episode folder?") from None
    except safe_io.UnsafePathError as exc:
        raise error(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise error(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path} does not hold a JSON object")
    return data


def _optional_json(folder: Path, name: str, problems: list[str], strict: bool,
                   error: type[EpisodeRecordError]) -> dict[str, Any] | None:
    try:
        if safe_io.kind(folder, name) is None:
            return None
        data = json.loads(safe_io.read_text(folder, name))
    except safe_io.UnsafePathError as exc:
        if strict:
            raise error(f"{folder}: {exc}") from None
        problems.append(f"{name} was ignored: {exc}")
        return None
    except (OSError, ValueError) as exc:
        if strict and name == layout.SUMMARY:
            raise error(f"{folder / name}: not valid JSON ({exc})") from None
        problems.append(f"{name} is unreadable and was ignored ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{name} is not a JSON object and was ignored")
        return None
    return data


def load_episode(path: Path | str, *, error: type[EpisodeRecordError] = EpisodeRecordError,
                 strict: bool = False, validate: bool = False, require_task: bool = False,
                 with_replay: bool = True) -> EpisodeRecord:
    """Read an episode folder (or a trajectory .ipynb); `error` says why it cannot be read.

    `strict`: a link at summary.json or replay.json, or an unreadable summary.json, is an
    error (else a line in ``problems``). `validate`: the trajectory must pass nbformat's
    schema. `require_task`: ``metadata.dojo`` must name the task. `with_replay=False`: replay.json
    is not read (a resume, which clears what it finds planted there).
    """
    path = Path(path).expanduser()
    notebook_path = path / layout.TRAJECTORY if path.is_dir() else path
    folder = notebook_path.parent
    try:
        what = safe_io.kind(folder, notebook_path.name)
    except OSError as exc:
        raise error(f"{folder}: {exc}") from None
    if what == "link":
        raise error(f"{notebook_path} is a symlink; dojo-nb does not follow links in an episode folder "
                    "(it may have been crafted): refused")
    if what != "file":
        raise error(f"{path}: no {layout.TRAJECTORY} here (is this an episode folder?)")
    try:
        nb = nbformat.reads(safe_io.read_text(folder, notebook_path.name), as_version=4)
        if validate:
            nbformat.validate(nb, version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on a torn or hand-edited file
        raise error(f"{notebook_path}: not a readable notebook ({type(exc).__name__}: "
                    f"{_first_line(exc)})") from None
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, Mapping) and "cell_type" in c for c in cells):
        raise error(f"{notebook_path}: the notebook's cells are malformed")
    if not EpisodeMeta.present(nb):
        raise error(f"{notebook_path}: not a dojo-nb trajectory (no metadata.dojo)")
    if require_task and not EpisodeMeta.of(nb).task:
        raise error(f"{notebook_path}: not a dojo-nb trajectory (no metadata.dojo.task)")
    problems: list[str] = []
    summary = _optional_json(folder, layout.SUMMARY, problems, strict, error)
    replay = _optional_json(folder, layout.REPLAY_JSON, problems, strict, error) if with_replay else None
    return EpisodeRecord(folder, notebook_path, nb, summary, replay, problems)


__all__ = ["EpisodeRecord", "EpisodeRecordError", "UnsafeRecordError", "load_episode", "read_json",
           "read_notebook"]
