"""The per-kernel disk budget on its own: real loop mounts, odd folder names, hostile files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dojo_nb.kernel import disk

from .conftest import require_sandbox


@pytest.fixture(autouse=True)
def _root_sandbox() -> None:
    require_sandbox()


def _mounted_under(root: Path) -> list[str]:
    return [m[4] for m in disk._mounts() if m[4].startswith(str(root))]


def test_attach_detach_keeps_files_and_strips_set_id_bits(tmp_path: Path) -> None:
    root = tmp_path / "my episode ü!\tx"
    working, submission = root / "working", root / "submission"
    working.mkdir(parents=True)
    submission.mkdir()
    (working / "before.txt").write_text("from a resumed episode")
    d = disk.EpisodeDisk.new(16, 300123, 300123)
    d.attach(working, submission)
    try:
        assert sorted(_mounted_under(root)) == sorted([str(submission), str(working)])
        assert (working / "before.txt").read_text() == "from a resumed episode"
        (working / "tool").write_bytes(b"#!/bin/sh\n")
        os.chmod(working / "tool", 0o6755)
        os.symlink("/etc/shadow", working / "link")
        os.mkfifo(working / "fifo")
        (submission / "submission.csv").write_text("id,y\n")
        with pytest.raises(OSError):  # the budget: 16 MB
            with open(working / "big", "wb") as fh:
                for _ in range(40):
                    fh.write(b"x" * (1 << 20))
    finally:
        d.detach(working, submission)
    assert _mounted_under(root) == [] and not d.folder.exists()
    assert (working / "before.txt").read_text() == "from a resumed episode"
    assert (submission / "submission.csv").read_text() == "id,y\n"
    mode = (working / "tool").lstat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID) and (working / "tool").lstat().st_uid == 300123
    assert os.readlink(working / "link") == "/etc/shadow"  # a link stays a link: never followed
    assert not (working / "fifo").exists()


def test_stale_disks_of_dead_drivers_are_copied_back_and_unmounted(tmp_path: Path) -> None:
    working, submission = tmp_path / "w", tmp_path / "s"
    working.mkdir()
    submission.mkdir()
    d = disk.EpisodeDisk(key="999999999-deadbeef00", size_mb=16, uid=300124, gid=300124)  # no such pid
    d.attach(working, submission)
    (working / "result.txt").write_text("kept")
    assert d.key in disk.remove_stale()
    assert _mounted_under(tmp_path) == [] and (working / "result.txt").read_text() == "kept"
