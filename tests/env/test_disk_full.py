"""A full disk: the cell gets a clear error, the trajectory save failure is reported, the episode goes on.

The episode lives on a small tmpfs the test mounts (root only), so the disk really fills up:
the cell's write fails with ENOSPC and so may the trajectory save right after it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

import dojo_nb
from tests.docker_support import backend_param, skip_without_docker
from dojo_nb import notebook as nbk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("backend", ["local", backend_param("docker")])
def test_working_dir_full_gives_a_clear_error_and_the_episode_goes_on(small_disk: Path, task_id: str,
                                                                       backend: str) -> None:
    if backend == "local" and not shutil.which("bwrap"):
        pytest.skip("bwrap is not installed")
    if backend == "docker":
        skip_without_docker()
    # Where the driver can mount (root), working/ is a capped disk of its own: make it small too.
    env = dojo_nb.make(task_id, backend=backend, out_dir=small_disk / "ep", max_steps=20, disk_mb=8)
    try:
        env.reset()
        env.step({"type": "execute_code", "code": "x = 7"})
        obs, *_ = env.step({"type": "execute_code", "code":
                            "import os\nwith open(os.path.join(WORKING_DIR, 'big.bin'), 'wb') as f:\n"
                            "    for _ in range(64):\n        f.write(b'0' * 1_000_000)"})
        assert obs["status"] == "error"
        assert "No space left on device" in obs["text"]
        assert obs["message"] and "WORKING_DIR is full" in obs["message"], obs
        # The kernel is fine and keeps its state; the agent frees the space.
        obs, *_ = env.step({"type": "execute_code", "code":
                            "os.remove(os.path.join(WORKING_DIR, 'big.bin')); print(x)"})
        assert obs["status"] == "ok" and obs["text"].strip() == "7", obs
        assert "could not be saved" not in (obs["message"] or "")
        nb = nbk.load_trajectory(env.episode_dir)
        nbformat.validate(nb)
        assert [s.step for s in nbk.list_steps(nb)] == [1, 2, 3]  # nothing lost on the way
        statuses = [s.status for s in nbk.list_steps(nb)]
        assert statuses == ["ok", "error", "ok"]
    finally:
        env.close()
    assert (env.episode_dir / "summary.json").is_file()


def test_a_failed_save_is_reported_and_retried(small_disk: Path, task_id: str) -> None:
    env = dojo_nb.make(task_id, out_dir=small_disk / "ep", max_steps=20)
    try:
        env.reset()
        filler = small_disk / "filler.bin"  # the host side fills the disk: the next save fails
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"0" * 65536)
            except OSError:
                pass
        # Its output is too big to be appended inside the file's last page: a full rewrite.
        obs, *_ = env.step({"type": "execute_code", "code": "y = 'x' * 20_000\nprint(y)"})
        assert obs["status"] == "ok"
        assert "could not be saved" in obs["message"], obs
        assert not list(env.episode_dir.glob(".*.tmp")), "a half-written temp file was left"
        nbformat.validate(nbk.load_trajectory(env.episode_dir))  # the old file is intact
        filler.unlink()
        obs, *_ = env.step({"type": "execute_code", "code": "print(len(y))"})
        assert obs["status"] == "ok" and obs["message"] is None
        nb = nbk.load_trajectory(env.episode_dir)
        assert [s.step for s in nbk.list_steps(nb)] == [1, 2]  # the unsaved step arrived with this save
    finally:
        env.close()
