"""Episode ids are unique across search nodes and repeated runs, and stable across re-exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from dojo_nb.export import load_episode

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "episode-layout-v1"


def _copy(dst: Path, started_at: str | None = None) -> Path:
    shutil.copytree(FIXTURE, dst)
    if started_at:
        nb = nbformat.read(dst / "trajectory.ipynb", as_version=4)
        nb.metadata["dojo"]["started_at"] = started_at
        nbformat.write(nb, dst / "trajectory.ipynb")
    return dst


def test_ids_are_unique_and_stable(tmp_path: Path) -> None:
    a = _copy(tmp_path / "run-a" / "ep" / "search" / "nodes" / "000-draft")
    b = _copy(tmp_path / "run-b" / "ep" / "search" / "nodes" / "000-draft")
    c = _copy(tmp_path / "run-c" / "000-draft", started_at="2030-01-01T00:00:00Z")
    d = _copy(tmp_path / "run-d" / "000-draft", started_at="2030-01-01T00:00:01Z")
    ids = [load_episode(p).episode_id for p in (a, b, c, d)]
    assert len(set(ids)) == 4, ids
    assert all(i.split("/")[1].startswith("000-draft-") for i in ids)
    assert load_episode(a).episode_id == ids[0]  # the same folder: the same id
