"""Crafted episode folders: links planted where the driver reads and writes, and a notebook
whose metadata asks for a network and extra environment.

Every test works on a copy of one real episode (made once, with a real kernel) and keeps a
canary folder beside it, that the links point into: its files must keep their bytes and
mtimes whatever replay, resume, report and export do.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

import dojo_nb
from dojo_nb import notebook as nbk
from dojo_nb.env import ResumeError
from dojo_nb.replay import ReplayError, replay_episode

CRAFTED_LIMITS = {"network": True, "env": {"DOJO_CRAFTED_VAR": "leaked"}, "memory_mb": 65536}

#: A cell that fails when the kernel has a network or the crafted variable.
NO_NETWORK_CELL = """
import os, socket
names = sorted(n for _, n in socket.if_nameindex())
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3).close()
    reached = True
except OSError as exc:
    reached = False
print("interfaces", names, "reached", reached, "var", os.environ.get("DOJO_CRAFTED_VAR"))
assert names == ["lo"], names
assert not reached
assert "DOJO_CRAFTED_VAR" not in os.environ
"""


class Canary:
    """Files outside the episode that planted links point at; `unchanged()` says if any moved."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "outside"
        (self.dir / "folder").mkdir(parents=True)
        for name in ("target.txt", "folder/inside.txt"):
            (self.dir / name).write_bytes(b"canary bytes: must never change\n")
        os.utime(self.dir / "target.txt", ns=(1_000_000_000, 1_000_000_000))
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        return {str(p.relative_to(self.dir)): (p.read_bytes() if p.is_file() else b"", p.lstat().st_mtime_ns)
                for p in sorted(self.dir.rglob("*"))}

    def assert_unchanged(self) -> None:
        assert self.snapshot() == self.before, "a file outside the episode folder changed"

    def link(self, at: Path, to: str = "target.txt") -> None:
        at.parent.mkdir(parents=True, exist_ok=True)
        if at.is_dir() and not at.is_symlink():
            shutil.rmtree(at)
        elif at.exists() or at.is_symlink():
            at.unlink()
        at.symlink_to(self.dir / to)


@pytest.fixture(scope="module")
def episodes(tmp_path_factory: pytest.TempPathFactory, task_id: str, copy_sample: str) -> Iterator[dict[str, Path]]:
    """A finished episode and an unfinished copy of it (trajectory saved after a valid submit)."""
    base = tmp_path_factory.mktemp("crafted-base")
    env = dojo_nb.make(task_id, out_dir=base / "finished", max_steps=20, cell_timeout_s=120, agent_name="tests")
    try:
        _, info = env.reset()
        env.step({"type": "execute_code", "code": copy_sample})
        env.step({"type": "submit"})
        root = Path(info["episode_dir"])
        unfinished = base / "unfinished"
        unfinished.mkdir()
        shutil.copy2(root / nbk.TRAJECTORY_NAME, unfinished / nbk.TRAJECTORY_NAME)
        shutil.copytree(root / "submissions", unfinished / "submissions")
        env.step({"type": "submit", "final": True})
    finally:
        env.close()
    try:
        yield {"finished": root, "unfinished": unfinished}
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def work(tmp_path: Path, episodes: dict[str, Path]) -> Iterator[tuple[Path, Path, Canary]]:
    """Fresh copies of both episodes and a canary, removed at the end even when the test fails."""
    finished, unfinished = tmp_path / "finished", tmp_path / "unfinished"
    shutil.copytree(episodes["finished"], finished, symlinks=True)
    shutil.copytree(episodes["unfinished"], unfinished, symlinks=True)
    try:
        yield finished, unfinished, Canary(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _craft_limits(path: Path, extra_cell: str | None = None) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.metadata.setdefault("dojo", {})["sandbox_limits"] = CRAFTED_LIMITS
    if extra_cell:
        nb.cells.append(nbformat.v4.new_code_cell(extra_cell))
    nbformat.write(nb, path)


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


# --- replay --------------------------------------------------------------------------------
def test_replay_writes_fresh_files_over_planted_links_and_ignores_crafted_limits(work) -> None:
    ep, _, canary = work
    _craft_limits(ep / nbk.SOLUTION_NAME, NO_NETWORK_CELL)
    for name in ("replay.json", "replay.ipynb", "submissions/replay.csv"):
        canary.link(ep / name)
    canary.link(ep / "replay-sandbox", "folder")

    rep = replay_episode(ep)

    canary.assert_unchanged()
    assert rep.failed_cell is None and rep.error is None, rep.message  # no network, no crafted variable
    assert rep.valid and rep.reproduced, rep.message
    assert any("ignored" in n and "network" in n for n in rep.notes), rep.notes
    for name in ("replay.json", "replay.ipynb", "submissions/replay.csv"):
        assert _regular(ep / name), name
    assert json.loads((ep / "replay.json").read_text())["reproduced"] is True
    assert not os.path.lexists(ep / "replay-sandbox")
    assert (canary.dir / "folder" / "inside.txt").is_file()


def test_replay_command_with_a_linked_submissions_folder_grades_nothing_outside(work) -> None:
    from dojo_nb.cli import app

    ep, _, canary = work
    shutil.rmtree(ep / "submissions")
    canary.link(ep / "submissions", "folder")
    result = CliRunner().invoke(app, ["replay", str(ep)], terminal_width=400)
    canary.assert_unchanged()
    assert result.exit_code == 1, result.output  # ran, but nothing was graded: not reproduced
    rep = json.loads((ep / "replay.json").read_text())
    assert not rep["valid"] and "symlink" in rep["message"], rep["message"]
    assert _regular(ep / "replay.json") and (ep / "submissions").is_symlink()


@pytest.mark.parametrize("name", ["summary.json", nbk.SOLUTION_NAME])
def test_replay_refuses_linked_inputs(work, name: str) -> None:
    ep, _, canary = work
    canary.link(ep / name)
    with pytest.raises(ReplayError, match="symlink"):
        replay_episode(ep)
    canary.assert_unchanged()
    assert not (ep / "replay.json").exists()


# --- resume --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sandbox", "sandbox/working", "sandbox/submission", "submissions",
                                  nbk.TRAJECTORY_NAME, "summary.json"])
def test_resume_refuses_linked_folders_and_files(work, name: str) -> None:
    _, ep, canary = work
    if name == nbk.TRAJECTORY_NAME:
        shutil.copy2(ep / name, canary.dir / "target.txt")
        canary.before = canary.snapshot()
    canary.link(ep / name, "target.txt" if "." in name else "folder")
    before = sorted(str(p.relative_to(ep)) for p in ep.rglob("*"))
    with pytest.raises(ResumeError, match="symlink"):
        dojo_nb.resume(ep)
    canary.assert_unchanged()
    assert sorted(str(p.relative_to(ep)) for p in ep.rglob("*")) == before  # nothing was made


def test_resume_clears_planted_links_ignores_crafted_limits_and_finishes(work) -> None:
    _, ep, canary = work
    _craft_limits(ep / nbk.TRAJECTORY_NAME)
    pid = os.getpid()  # the temp names a driver in this process would use
    planted = [f".{n}.{pid}.tmp" for n in (nbk.TRAJECTORY_NAME, nbk.SOLUTION_NAME, "summary.json")]
    planted += [nbk.SOLUTION_NAME, "replay.json", "submissions/final.csv", "submissions/.validate.tmp"]
    for name in planted:
        canary.link(ep / name)

    env, obs, info = dojo_nb.resume(ep)
    try:
        assert obs["status"] == "ok", obs["text"]
        assert "ignored" in obs["text"] and "network" in obs["text"], obs["text"]
        assert not any(os.path.lexists(ep / n) for n in planted)
        assert "network" not in env.sandbox_limits and "env" not in env.sandbox_limits
        o, *_ = env.step({"type": "execute_code", "code": NO_NETWORK_CELL})
        assert o["status"] == "ok", o["text"]
        assert "reached False" in o["text"] and "var None" in o["text"]
        env.step({"type": "validate"})
        *_, info = env.step({"type": "submit", "final": True})
        assert info["final"]["valid"]
    finally:
        env.close()
    canary.assert_unchanged()
    for name in (nbk.TRAJECTORY_NAME, nbk.SOLUTION_NAME, "summary.json"):
        assert _regular(ep / name), name
    meta = nbk.episode_metadata(nbk.load_trajectory(ep))
    assert meta["sandbox_limits"] == {} and meta["resumes"][-1]["ignored_sandbox_limits"] == CRAFTED_LIMITS


def test_resume_skips_a_kept_submission_outside_the_folder(work) -> None:
    _, ep, canary = work
    nb = nbformat.read(ep / nbk.TRAJECTORY_NAME, as_version=4)
    for cell in nb.cells:
        d = cell.get("metadata", {}).get("dojo", {})
        if d.get("action_type") == "submit":
            d["submission_file"] = str(canary.dir / "target.txt")
    nbformat.write(nb, ep / nbk.TRAJECTORY_NAME)
    from dojo_nb.env import _kept_submission

    assert _kept_submission(ep, str(canary.dir / "target.txt")) is None
    assert _kept_submission(ep, "submissions/../../outside/target.txt") is None
    canary.link(ep / "submissions" / "linked.csv")
    assert _kept_submission(ep, "submissions/linked.csv") is None
    kept = sorted(p.name for p in (ep / "submissions").iterdir() if not p.is_symlink())
    assert kept and _kept_submission(ep, f"submissions/{kept[0]}") == ep.resolve() / "submissions" / kept[0]
    canary.assert_unchanged()


# --- report and export ----------------------------------------------------------------------
def test_report_refuses_a_linked_trajectory_and_replaces_a_linked_page(work) -> None:
    from dojo_nb.cli import app
    from dojo_nb.views.report import ReportError
    from dojo_nb.views.report.episode import load_episode

    ep, _, canary = work
    canary.link(ep / "report.html")
    canary.link(ep / "summary.json")
    result = CliRunner().invoke(app, ["report", str(ep)])
    assert result.exit_code == 0, result.output
    assert _regular(ep / "report.html") and "summary.json was ignored" in load_episode(ep).problems[0]
    canary.assert_unchanged()

    shutil.copy2(ep / nbk.TRAJECTORY_NAME, canary.dir / "target.txt")
    canary.before = canary.snapshot()
    canary.link(ep / nbk.TRAJECTORY_NAME)
    with pytest.raises(ReportError, match="symlink"):
        load_episode(ep)
    result = CliRunner().invoke(app, ["report", str(ep)])
    assert result.exit_code == 2 and "symlink" in result.output
    canary.assert_unchanged()


def test_read_episode_refuses_a_linked_summary(work) -> None:
    from dojo_nb.env import DojoEnv
    from dojo_nb.safe_io import UnsafePathError

    ep, _, canary = work
    assert DojoEnv.read_episode(ep)["summary"]["final"]["valid"]
    canary.link(ep / "summary.json")
    with pytest.raises(UnsafePathError, match="symlink"):
        DojoEnv.read_episode(ep)
    canary.assert_unchanged()


def test_export_refuses_linked_files_and_writes_a_fresh_output(work) -> None:
    from dojo_nb.export import export

    ep, _, canary = work
    out = ep.parent / "out.jsonl"
    canary.link(out)
    rep = export("sft", [ep], out)
    assert rep.episodes == 1 and _regular(out)
    canary.assert_unchanged()

    canary.link(ep / "summary.json")
    rep = export("rl", [ep], out)
    assert rep.episodes == 0 and "symlink" in rep.failed[0][1]
    shutil.copy2(ep / nbk.TRAJECTORY_NAME, canary.dir / "target.txt")
    canary.before = canary.snapshot()
    (ep / "summary.json").unlink()
    canary.link(ep / nbk.TRAJECTORY_NAME)
    rep = export("sft", [ep], out)
    assert rep.episodes == 0 and "symlink" in rep.failed[0][1]
    canary.assert_unchanged()


# --- safe_io itself -------------------------------------------------------------------------
def test_safe_io_refuses_links_dotdot_and_fifos_and_replaces_links(tmp_path: Path) -> None:
    from dojo_nb import safe_io

    root = tmp_path / "ep"
    root.mkdir()
    canary = Canary(tmp_path)
    canary.link(root / "dirlink", "folder")
    canary.link(root / "file.txt")
    for bad in (lambda: safe_io.read_text(root, "dirlink/inside.txt"),
                lambda: safe_io.write_text(root, "dirlink/new.txt", "x"),
                lambda: safe_io.read_text(root, "file.txt"),
                lambda: safe_io.make_dirs(root, "dirlink/sub"),
                lambda: safe_io.read_text(root, "../outside/target.txt"),
                lambda: safe_io.write_text(root, "/etc/passwd", "x")):
        with pytest.raises(safe_io.UnsafePathError):
            bad()
    os.mkfifo(root / "fifo")
    with pytest.raises(safe_io.UnsafePathError, match="not a regular file"):
        safe_io.read_bytes(root, "fifo")  # would block forever if opened for real
    safe_io.write_text(root, "file.txt", "fresh")
    assert _regular(root / "file.txt") and (root / "file.txt").read_text() == "fresh"
    safe_io.remove(root, "dirlink")
    assert not os.path.lexists(root / "dirlink")
    assert safe_io.kind(root, "nothing/here") is None and safe_io.kind(root, "fifo") == "other"
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
    canary.assert_unchanged()
