"""The notebook layer alone: layout, metadata.dojo, solution rules, atomic saves, reading back."""

from __future__ import annotations

import json

import nbformat

from dojo_nb import notebook as nbk


def _result(status="ok", text="2", count=1, restarted=False):
    outputs = [{"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {},
                "execution_count": count}] if status == "ok" else [
        {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["ValueError: bad"]}]
    return {"status": status, "outputs": outputs, "error": None, "text": text, "elapsed_s": 0.01,
            "execution_count": count, "kernel_restarted": restarted, "message": None}


def _trajectory(tmp_path):
    t = nbk.Trajectory(tmp_path / nbk.TRAJECTORY_NAME, dojo={"task": {"id": "t", "version": "1"}})
    t.add_description("# Task\nPredict things.")
    t.add_parameters("/episode/input", "/episode/working", "/episode/submission/submission.csv", 7)
    return t


def test_layout_and_metadata_validate(tmp_path):
    t = _trajectory(tmp_path)
    a = t.add_code("x = 1", _result(count=1), {"step": 1, "action_type": "execute_code"})
    t.add_markdown("thinking", {"step": 2, "action_type": "add_markdown", "status": "ok"})
    t.add_code("1/0", _result("error", count=2), {"step": 3, "action_type": "execute_code"})
    t.add_markdown(nbk.event_markdown("submit", "public score 0.9", "detail ``` text"),
                   {"step": 4, "action_type": "submit", "status": "ok", "reward": 0.5})
    t.update_cell(a, reward=0.0)
    path = t.save()
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and "Predict" in nb.cells[0].source
    assert nb.cells[1].metadata.tags == ["parameters"]
    assert "SEED = 7" in nb.cells[1].source
    assert all("dojo" in c.metadata for c in nb.cells)
    assert nb.metadata.dojo["task"]["id"] == "t"
    assert "nbformat" in nb.metadata.dojo["packages"]
    steps = nbk.list_steps(nb)
    assert [s.step for s in steps] == [1, 2, 3, 4]
    assert steps[0].status == "ok" and steps[2].status == "error"
    assert steps[3].reward == 0.5
    assert steps[0].action() == {"type": "execute_code", "code": "x = 1"}
    assert nbk.parameters_cell_index(nb) == 1
    # no leftover temp files
    assert [p.name for p in tmp_path.iterdir()] == [nbk.TRAJECTORY_NAME]


def test_solution_keeps_ok_cells_since_last_restart(tmp_path):
    t = _trajectory(tmp_path)
    t.add_code("a = 1", _result(), {"step": 1, "action_type": "execute_code"})
    t.add_markdown("restart", {"step": 2, "action_type": "restart_kernel", "kernel_restarted": True})
    b = t.add_code("b = 2", _result(), {"step": 3, "action_type": "execute_code"})
    t.add_code("boom", _result("error"), {"step": 4, "action_type": "execute_code"})
    e = t.add_code("b = 3", _result(), {"step": 5, "action_type": "edit_cell", "edits": b})
    sol = t.solution()
    nbformat.validate(sol)
    assert [c.source for c in sol.cells[2:]] == ["b = 2", "b = 3"]
    assert sol.cells[1].metadata.tags == ["parameters"]
    assert sol.cells[-1].metadata.dojo["trajectory_cell_index"] == e
    assert sol.metadata.dojo["kind"] == "solution"
    # the same rule from a trajectory read back from disk
    t.save()
    again = nbk.build_solution(nbk.load_trajectory(tmp_path))
    assert [c.source for c in again.cells] == [c.source for c in sol.cells]


def test_crash_restart_is_a_boundary(tmp_path):
    t = _trajectory(tmp_path)
    t.add_code("a = 1", _result(), {"step": 1, "action_type": "execute_code"})
    t.add_code("crash()", _result("error", restarted=True) | {"status": "crashed"},
               {"step": 2, "action_type": "execute_code"})
    t.add_code("c = 1", _result(), {"step": 3, "action_type": "execute_code"})
    assert [c.source for c in t.solution().cells[2:]] == ["c = 1"]


def test_incremental_dumps_equals_full_encoding(tmp_path):
    t = _trajectory(tmp_path)
    for i in range(5):
        t.add_code(f"x{i} = {i}", _result(count=i + 1), {"step": i + 1, "action_type": "execute_code"})
        t.save()
    t.update_metadata(final={"private_score": 0.7, "nan": float("nan")})
    t.update_cell(3, reward=1.0)
    text = t.dumps()
    assert json.loads(text) == json.loads(json.dumps(t.to_notebook()))
    assert "NaN" not in text
    reopened = nbk.Trajectory.load(t.save())
    reopened.add_markdown("more", {"step": 6, "action_type": "add_markdown"})
    nbformat.validate(nbformat.reads(reopened.dumps(), as_version=4))
    assert len(reopened) == len(t) + 1


def test_in_place_appends_match_a_full_rewrite(tmp_path):
    """Small cells are appended in place; whatever path a save takes, the file is the notebook."""
    import os

    path = tmp_path / "t.ipynb"
    t = nbk.Trajectory(path, dojo={"task": {"id": "x"}})
    t.add_description("# task")
    t.save()
    inode = os.stat(path).st_ino
    appended = 0
    for i in range(60):
        if i == 20:
            t.add_code("print('big')", {"status": "ok", "outputs": [
                {"output_type": "stream", "name": "stdout", "text": "é" * 9000}]}, {"step": i})
        elif i == 40:
            t.update_metadata(note="changed")  # metadata sits before the cells: a rewrite
        elif i == 50:
            t.update_cell(3, reward=1.0)  # an older cell changed: a rewrite
        else:
            t.add_code(f"x = {i}", {"status": "ok", "outputs": []}, {"step": i})
        t.save()
        appended += os.stat(path).st_ino == inode
        inode = os.stat(path).st_ino
        assert path.read_bytes() == t.dumps().encode(), f"file differs from the notebook after save {i}"
        nbformat.validate(nbformat.read(path, as_version=4))
    assert appended >= 40  # most small steps did not rewrite the file
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["dojo"]["note"] == "changed" and nb.cells[3].metadata["dojo"]["reward"] == 1.0


def test_a_file_changed_behind_our_back_is_rewritten(tmp_path):
    path = tmp_path / "t.ipynb"
    t = nbk.Trajectory(path)
    t.add_description("# task")
    t.save()
    path.write_text("garbage")  # someone else wrote it
    t.add_code("x = 1", {"status": "ok", "outputs": []}, {"step": 1})
    t.save()
    assert path.read_bytes() == t.dumps().encode()
