"""The episode as an nbformat notebook being written: `Trajectory`.

Layout of ``trajectory.ipynb`` (everything that happened, in order):

- cell 0: markdown, the task description;
- cell 1: code, tagged ``parameters``, defining ``INPUT_DIR``, ``WORKING_DIR``,
  ``SUBMISSION_PATH`` and ``SEED`` as the kernel sees them (papermill injects its
  parameters after this cell);
- then one cell per step: code actions as code cells with the outputs the agent saw,
  every other action as a short markdown cell (``add_markdown`` keeps the agent's text).

Every cell has ``metadata.dojo`` (`dojo_nb.record.metadata.CellMeta`); the notebook has
``metadata.dojo`` (`EpisodeMeta`) plus a kernelspec and language_info.

`Trajectory` keeps the notebook in memory and serialises each cell once, so saving after
every step costs one join and one atomic write, not a re-encode of the whole notebook.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import platform
import secrets
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import nbformat
from nbformat import NotebookNode

from dojo_nb.record import layout
from dojo_nb.record.metadata import DESCRIPTION, DOJO, PARAMETERS, PARAMETERS_TAG
from dojo_nb.record.metadata import VERSION as LAYOUT_VERSION
from dojo_nb.record.steps import NBFORMAT_MINOR, build_solution, load_trajectory

_VERSIONED_PACKAGES = ("dojo-nb", "ipykernel", "jupyter_client", "nbformat", "nbclient", "papermill",
                       "gymnasium", "numpy", "pandas", "scikit-learn")


def package_versions(names: Iterable[str] = _VERSIONED_PACKAGES) -> dict[str, str]:
    """Versions of the packages that shape an episode (for notebook metadata)."""
    return dict(_package_versions(tuple(names)))


@functools.lru_cache(maxsize=8)
def _package_versions(names: tuple[str, ...]) -> dict[str, str]:
    # Reading package metadata costs ~20 ms; versions do not change while a driver runs.
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def parameters_source(input_dir: str, working_dir: str, submission_path: str, seed: int) -> str:
    """Source of the parameters cell (paths as the kernel sees them)."""
    return (
        "# Parameters (papermill injects overrides after this cell)\n"
        f"INPUT_DIR = {str(input_dir)!r}\n"
        f"WORKING_DIR = {str(working_dir)!r}\n"
        f"SUBMISSION_PATH = {str(submission_path)!r}\n"
        f"SEED = {int(seed)!r}\n"
    )


def event_markdown(action_type: str, summary: str, detail: str | None = None) -> str:
    """The short markdown cell recorded for a non-code action."""
    text = f"**dojo · {action_type}** — {summary}".rstrip()
    if detail:
        fence = "```"
        while fence in detail:
            fence += "`"
        text += f"\n\n{fence}text\n{detail.rstrip()}\n{fence}"
    return text


def _jsonable(value: Any) -> Any:
    """A plain-JSON copy (NotebookNodes, tuples, numpy scalars become JSON types; NaN becomes null)."""
    return _finite(json.loads(json.dumps(value, default=_json_default, allow_nan=True)))


def _finite(value: Any) -> Any:
    """Browsers cannot parse NaN/Infinity in a notebook: turn them into null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, default=_json_default)


_FSYNC = os.environ.get("DOJO_NB_FSYNC", "").strip() not in ("", "0", "false", "no")


_TAIL = "\n ]\n}\n"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TAIL_BYTES = _TAIL.encode()


def _file_id(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader (or a crash) sees the old file or the new one, never half."""
    atomic_write_bytes(path, text.encode("utf-8", errors="backslashreplace"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`atomic_write_text` for bytes."""
    path = Path(path)
    # A fresh, unguessable name opened O_EXCL|O_NOFOLLOW: a link planted beside the file
    # (a crafted episode folder) is never written through.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if _FSYNC:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, say: the old file stays whole, no half temp file stays
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    # The rename alone is atomic for a killed driver (SIGKILL included): readers see the old
    # file or the new one. fsync only adds safety against a machine crash, at about 1-3 ms a
    # step, so it is opt-in: DOJO_NB_FSYNC=1.


def _new_cell_id(index: int) -> str:
    return f"dojo-{index:05d}"


class Trajectory:
    """An episode notebook being written: append cells, save atomically after every step."""

    def __init__(
        self,
        path: Path | str | None,
        *,
        kernelspec: Mapping[str, Any] | None = None,
        language_info: Mapping[str, Any] | None = None,
        dojo: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self._meta_fragment: str | None = None
        # What the file at `path` holds: (cells, bytes, (inode, size, mtime)); None: unknown.
        self._on_disk: tuple[int, int, tuple[int, int, int]] | None = None
        self._rewrite_needed = True
        self.cells: list[NotebookNode] = []
        self._fragments: list[str | None] = []
        self.metadata: dict[str, Any] = {
            "kernelspec": dict(kernelspec or {"name": "python3", "display_name": "Python 3",
                                              "language": "python"}),
            "language_info": dict(language_info or {"name": "python"}),
            DOJO: {"layout_version": LAYOUT_VERSION, "kind": "trajectory",
                     "packages": package_versions(), **_jsonable(dict(dojo or {}))},
        }

    # --- building ---------------------------------------------------------------------
    def _append(self, cell: NotebookNode) -> int:
        index = len(self.cells)
        cell["id"] = _new_cell_id(index)
        self.cells.append(cell)
        self._fragments.append(None)
        return index

    def add_description(self, markdown: str) -> int:
        """Cell 0: the task description."""
        cell = nbformat.v4.new_markdown_cell(
            source=str(markdown), metadata={DOJO: {"step": 0, "action_type": DESCRIPTION}})
        return self._append(cell)

    def add_parameters(
        self,
        input_dir: str,
        working_dir: str,
        submission_path: str,
        seed: int,
        result: Mapping[str, Any] | None = None,
    ) -> int:
        """Cell 1: the ``parameters`` cell (its outputs, if it printed any, are kept)."""
        source = parameters_source(input_dir, working_dir, submission_path, seed)
        return self.add_code(source, result, {"step": 0, "action_type": PARAMETERS},
                             tags=[PARAMETERS_TAG])

    def add_code(
        self,
        source: str,
        result: Mapping[str, Any] | Any | None,
        dojo: Mapping[str, Any],
        *,
        tags: list[str] | None = None,
    ) -> int:
        """A code cell with the outputs the agent saw; `result` is an ExecutionResult or its dict."""
        if result is not None and not isinstance(result, Mapping):
            result = result.to_dict()
        result = dict(result or {})
        meta: dict[str, Any] = {DOJO: _jsonable(dict(dojo))}
        for key in ("status", "elapsed_s", "kernel_restarted", "message"):
            if key in result and key not in meta[DOJO]:
                meta[DOJO][key] = result[key]
        if tags:
            meta["tags"] = list(tags)
        count = result.get("execution_count")
        # Built directly (nbformat.v4.new_code_cell runs a JSON-schema check on every cell).
        cell = nbformat.from_dict({
            "cell_type": "code", "metadata": meta, "source": str(source),
            "outputs": _jsonable(result.get("outputs") or []),
            "execution_count": count if isinstance(count, int) else None,
        })
        return self._append(cell)

    def add_markdown(self, text: str, dojo: Mapping[str, Any]) -> int:
        """A markdown cell (the agent's notes, or the record of a non-code action)."""
        cell = nbformat.from_dict({"cell_type": "markdown", "source": str(text),
                                   "metadata": {DOJO: _jsonable(dict(dojo))}})
        return self._append(cell)

    def update_cell(self, index: int, **dojo: Any) -> None:
        """Add or change keys of a cell's ``metadata.dojo`` (e.g. a reward known after the fact)."""
        self.cells[index].metadata.setdefault(DOJO, {}).update(_jsonable(dojo))
        self._fragments[index] = None
        if self._on_disk is not None and index < self._on_disk[0]:
            self._rewrite_needed = True  # a cell already in the file changed

    def update_metadata(self, **dojo: Any) -> None:
        """Add or change keys of the notebook's ``metadata.dojo``."""
        self.metadata[DOJO].update(_jsonable(dojo))
        self._meta_fragment = None
        self._rewrite_needed = True

    def _metadata_fragment(self) -> str:
        # Encoded again only after a change: re-encoding it every step cost ~0.1 ms.
        if self._meta_fragment is None:
            self._meta_fragment = _dumps(self.metadata)
        return self._meta_fragment

    def set_kernel_info(self, kernelspec: Mapping[str, Any] | None,
                        language_info: Mapping[str, Any] | None) -> None:
        self._meta_fragment = None
        self._rewrite_needed = True
        if kernelspec:
            self.metadata["kernelspec"] = dict(kernelspec)
        if language_info:
            self.metadata["language_info"] = _jsonable(dict(language_info))

    # --- reading ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.cells)

    def cell(self, index: int) -> NotebookNode:
        return self.cells[index]

    def to_notebook(self) -> NotebookNode:
        """A deep copy as an nbformat NotebookNode."""
        nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(self.metadata))
        nb.nbformat_minor = NBFORMAT_MINOR
        nb.cells = [copy.deepcopy(c) for c in self.cells]
        return nbformat.from_dict(nb)

    def solution(self) -> NotebookNode:
        return build_solution(self.to_notebook())

    # --- writing ----------------------------------------------------------------------
    def _head(self) -> str:
        return ('{\n "metadata": ' + self._metadata_fragment()
                + f',\n "nbformat": 4,\n "nbformat_minor": {NBFORMAT_MINOR},\n "cells": [\n')

    def _cell_fragments(self, start: int = 0) -> list[str]:
        for i in range(start, len(self._fragments)):
            if self._fragments[i] is None:
                self._fragments[i] = _dumps(self.cells[i])
        return self._fragments[start:]  # type: ignore[return-value]

    def dumps(self) -> str:
        """The notebook as JSON text; cells encoded before are reused, not re-encoded.

        The cells come last, so that a new cell is an append at the end of the file.
        """
        return self._head() + ",\n".join(self._cell_fragments()) + _TAIL

    def save(self, path: Path | str | None = None) -> Path:
        """Write the notebook so that a killed writer leaves the old file or the new one.

        Saving to the trajectory's own path after only new cells were added appends them in
        place when they fit in the file's last memory page: one write of the new cells and
        the closing brackets over the old closing brackets. Linux copies a one-page write
        whole even when SIGKILL arrives, so a killed driver still leaves a valid file, and a
        small step costs the size of its cell, not of the whole notebook. Anything else
        (bigger cells, metadata or an older cell changed, another path, the file changed by
        someone else, $DOJO_NB_FSYNC set) rewrites the file atomically (temp file, rename).
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("this trajectory has no path; pass one to save()")
        if target == self.path and not _FSYNC and self._append_new_cells():
            return target
        text = self.dumps().encode("utf-8", errors="backslashreplace")
        atomic_write_bytes(target, text)
        if target == self.path:
            self._on_disk = (len(self.cells), len(text), _file_id(target))
            self._rewrite_needed = False
        return target

    def _append_new_cells(self) -> bool:
        """Append the cells added since the last save; False when a full rewrite is needed."""
        if self._rewrite_needed or self._on_disk is None or self.path is None:
            return False
        n_on_disk, size, file_id = self._on_disk
        if _file_id(self.path) != file_id:  # replaced or changed behind our back
            return False
        if n_on_disk == len(self.cells):
            return True
        new = ",\n".join(self._cell_fragments(n_on_disk))
        data = ((",\n" if n_on_disk else "") + new + _TAIL).encode("utf-8", errors="backslashreplace")
        offset = size - len(_TAIL_BYTES)
        if len(data) > _PAGE - offset % _PAGE:
            return False  # a write over two pages could be cut by a signal between them
        fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW)
        try:
            try:
                written = os.pwrite(fd, data, offset)
                if written != len(data):
                    raise OSError(28, "short write")
            except OSError:
                # A full disk mid-write: put the old end back, so the file is the old notebook.
                os.ftruncate(fd, offset)
                os.pwrite(fd, _TAIL_BYTES, offset)
                raise
            new_size = offset + len(data)
        finally:
            os.close(fd)
        self._on_disk = (len(self.cells), new_size, _file_id(self.path))
        return True

    def save_solution(self, path: Path | str) -> Path:
        path = Path(path)
        atomic_write_text(path, _dumps(self.solution()) + "\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> Trajectory:
        """Reopen a trajectory written earlier (to resume appending to it)."""
        nb = load_trajectory(path)
        return cls.from_notebook(nb, Path(path) if Path(path).suffix == ".ipynb" else Path(path) / layout.TRAJECTORY)

    @classmethod
    def from_notebook(cls, nb: NotebookNode, path: Path | str) -> Trajectory:
        """A trajectory that goes on from a notebook read back (saved to `path`)."""
        traj = cls(Path(path))
        traj.metadata = _jsonable(dict(nb.metadata))
        traj.metadata.setdefault(DOJO, {})
        traj.cells = list(nb.cells)
        traj._fragments = [None] * len(traj.cells)
        return traj



__all__ = ["LAYOUT_VERSION", "Trajectory", "atomic_write_bytes", "atomic_write_text", "event_markdown",
           "package_versions", "parameters_source"]
