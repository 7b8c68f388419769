"""Episode ids are unique across search nodes and repeated runs, and stable across re-exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

import json

from dojo_nb.export import load_episode, rl_transitions, sft_record

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
    assert all(i.startswith("iris-species/") and i.endswith("/000-draft") for i in ids)
    assert load_episode(a).episode_id == ids[0]  # the same folder: the same id


def test_an_episode_uid_is_the_folder_s_own_id(tmp_path: Path) -> None:
    """A folder written with an ``episode_uid`` keeps its id when moved; a copy run again differs."""
    a = _copy(tmp_path / "a" / "ep")
    nb = nbformat.read(a / "trajectory.ipynb", as_version=4)
    nb.metadata["dojo"]["episode_uid"] = "0123456789abcdef"
    nbformat.write(nb, a / "trajectory.ipynb")
    before = load_episode(a).episode_id
    moved = tmp_path / "b" / "ep"
    moved.parent.mkdir()
    a.rename(moved)
    assert load_episode(moved).episode_id == before == "iris-species/0123456789ab/ep"


def test_search_nodes_export_under_their_tree_with_their_parent(tmp_path: Path) -> None:
    search = tmp_path / "run" / "search"
    draft = _copy(search / "nodes" / "000-draft")
    improve = _copy(search / "nodes" / "001-improve")
    journal = [{"id": "000-draft", "parent": None, "stage": "draft", "status": "good", "score": 0.95},
               {"id": "001-improve", "parent": "000-draft", "stage": "improve", "status": "buggy", "score": 0.97}]
    (search / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in journal))
    a, b = load_episode(draft), load_episode(improve)
    assert a.run_id == b.run_id and a.episode_id != b.episode_id
    ma, mb = sft_record(a)["metadata"], sft_record(b)["metadata"]
    assert ma["search"]["parent_episode_id"] is None and mb["search"]["parent_episode_id"] == a.episode_id
    assert mb["search"]["stage"] == "improve" and mb["run_id"] == ma["run_id"]
    # The buggy node wrote no file of its own: the grade at its end is not its score.
    assert ma["score"] is not None and mb["score"] is None and mb["medal"] is None
    assert {r["search"]["node"] for r in rl_transitions(b)} == {"001-improve"}
    # Another run of the same search: other ids, so no (episode, step) key repeats.
    other = tmp_path / "run2" / "search"
    _copy(other / "nodes" / "000-draft")
    (other / "journal.jsonl").write_text(json.dumps({**journal[0], "episode_dir": str(other)}) + "\n")
    assert load_episode(other / "nodes" / "000-draft").episode_id != a.episode_id
