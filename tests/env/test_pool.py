"""The warm pool: reset() takes a kernel started ahead of time, clean, once, and nothing leaks.

Runs on the local backend (bwrap) and, when a Docker engine and the kernel image are there,
on docker. Without bwrap the pool cannot move kernels and must say so and fall back.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

import dojo_nb
from tests.docker_support import backend_param, docker_wanted
from dojo_nb.kernel import KernelPool
from dojo_nb.kernel.bwrap import bwrap_path

PROBE = ("import os\n"
         "print(sorted(os.listdir(INPUT_DIR)), os.getcwd(), os.getpid(), "
         "'leftover' in globals())\n"
         "leftover = 1")


def _backends() -> list:
    return ["local", backend_param("docker")] if docker_wanted() else ["local"]


def _left(before: set[int]) -> list[str]:
    """The kernels and sandboxes (bwrap, launcher, template) this test left running; the driver's
    own services (the grading server, joblib's workers) are not the pool's."""
    found = []
    for pid in _children() - before:
        try:
            cmd = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        if "bwrap" in cmd or "ipykernel" in cmd or "docker" in cmd:
            found.append(cmd[:300])
    return found


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE}


@pytest.mark.parametrize("backend", _backends())
def test_reset_hands_out_each_pooled_kernel_once_and_clean(tmp_path: Path, task_id: str,
                                                           backend: str) -> None:
    if backend == "local" and not bwrap_path():
        pytest.skip("the local pool needs bwrap (see test_pool_without_bwrap_falls_back)")
    before = _children()
    env = dojo_nb.make(task_id, backend=backend, out_dir=tmp_path / "ep", pool=2, max_steps=10)
    try:
        assert env.pool is not None and env.pool.wait_ready(timeout=180) == 2
        seen_kernels = set()
        for n in range(3):
            obs, info = env.reset()
            assert obs["status"] == "ok", obs
            meta = env.trajectory.metadata["dojo"]
            assert meta["kernel_source"] == "pool"
            # The parameters cell is the kernel's first counted execution: nothing ran before.
            assert env.trajectory.cell(1).execution_count == 1
            o, *_ = env.step({"type": "execute_code", "code": PROBE})
            assert o["status"] == "ok", o["text"]
            files, cwd, pid, leftover = _parse_probe(o["text"])
            assert "train.csv" in files and cwd == "/episode/working"
            assert leftover is False  # a kernel never serves two episodes
            seen_kernels.add((backend, pid if backend == "local" else env.episode_dir.name))
            # The kernel writes into the episode's own folder, not the staging one.
            o, *_ = env.step({"type": "execute_code",
                              "code": "open(os.path.join(WORKING_DIR, 'mark.txt'), 'w').write('x')"})
            assert (env.sandbox_dir / "working" / "mark.txt").is_file()
            # A restart after the move starts the kernel in the episode's folder.
            o, *_ = env.step({"type": "restart_kernel"})
            o, *_ = env.step({"type": "execute_code",
                              "code": "import os; print(open(os.path.join(WORKING_DIR, 'mark.txt')).read())"})
            assert o["status"] == "ok" and o["text"].strip() == "x", o["text"]
            env.pool.wait_ready(timeout=180)
        assert env.pool.stats.handed_out == 3 and env.pool.stats.misses == 0
        staging = env.pool.staging_dir
    finally:
        env.close()
    assert not staging.exists()
    assert not _left(before)  # the pool's spare kernels (and its template) were stopped too


def _parse_probe(text: str) -> tuple[list[str], str, int, bool]:
    import ast

    line = text.strip().splitlines()[-1]
    lst_end = line.index("]") + 1
    files = ast.literal_eval(line[:lst_end])
    cwd, pid, leftover = line[lst_end:].split()
    return files, cwd, int(pid), leftover == "True"


def test_shared_pool_must_match_and_outlives_the_env(tmp_path: Path, task_id: str) -> None:
    if not bwrap_path():
        pytest.skip("needs bwrap")
    with KernelPool("local", 1, staging_dir=tmp_path) as pool:
        with pytest.raises(ValueError, match="do not match"):
            dojo_nb.make(task_id, out_dir=tmp_path / "x", pool=pool, memory_mb=1024)
        env = dojo_nb.make(task_id, out_dir=tmp_path / "a", pool=pool)
        pool.wait_ready(timeout=120)
        env.reset()
        assert env.trajectory.metadata["dojo"]["kernel_source"] == "pool"
        env.close()
        assert env.session is None
        assert pool.wait_ready(timeout=120) == 1  # the shared pool refilled and is still open
    assert not pool.staging_dir.exists()


def test_refill_waits_for_the_quiet_period_after_a_hand_out(tmp_path: Path, task_id: str) -> None:
    """A replacement kernel starts refill_delay_s after a hand-out, not while the episode starts;
    the previous episode's kernel is stopped after the next reset, and nothing outlives close()."""
    if not bwrap_path():
        pytest.skip("needs bwrap")
    before = _children()
    with KernelPool("local", 1, staging_dir=tmp_path, refill_delay_s=4.0) as pool:
        pool.wait_ready(timeout=120)
        env = dojo_nb.make(task_id, out_dir=tmp_path / "a", pool=pool)
        try:
            env.reset()
            first_kernel = _children() - before
            assert env.trajectory.metadata["dojo"]["kernel_source"] == "pool"
            assert pool.stats.started == 1 and len(pool) == 0  # within the quiet period
            assert pool.wait_ready(timeout=120) == 1 and pool.stats.started == 2  # then refilled
            env.reset()  # from the pool again; the first episode's kernel stops in the background
            assert env.trajectory.metadata["dojo"]["kernel_source"] == "pool"
        finally:
            env.close()
        assert not (first_kernel & _children())
    assert not _left(before)


def test_empty_pool_is_a_miss_not_a_wait(tmp_path: Path, task_id: str) -> None:
    with KernelPool("local", 1, staging_dir=tmp_path) as pool:  # filling has just begun
        env = dojo_nb.make(task_id, out_dir=tmp_path / "a", pool=pool)
        try:
            if len(pool) == 0:
                env.reset()
                assert env.trajectory.metadata["dojo"]["kernel_source"] == "cold"
                assert pool.stats.misses >= 1
        finally:
            env.close()


def test_pool_without_bwrap_falls_back(tmp_path: Path, task_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOJO_NB_NO_BWRAP", "1")
    env = dojo_nb.make(task_id, out_dir=tmp_path / "ep", pool=1, allow_unsandboxed=True)
    try:
        env.pool.wait_ready(timeout=60)
        assert env.pool.unsupported and "host paths" in env.pool.unsupported
        obs, _ = env.reset()
        assert obs["status"] == "ok"
        assert env.trajectory.metadata["dojo"]["kernel_source"] == "cold"
    finally:
        env.close()
