"""The vectorised env: N=3 real episodes stepped together, autoreset, and a clean close."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.driver_processes import driver_kernels
from gymnasium.vector import AutoresetMode, VectorEnv

from dojo_nb.runners.vector import DojoVectorEnv, make_vec

TASK = "iris-species"
N = 3


_children = driver_kernels


def _assert_none_left(before: set[int]) -> None:
    """Every kernel (and sandbox) process started since `before` has exited."""
    procs = []
    for pid in _children() - before:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=20)
    assert not alive, f"processes left after close: {alive}"


@pytest.fixture
def vec(tmp_path: Path) -> Iterator[DojoVectorEnv]:
    before = _children()
    envs = make_vec(TASK, N, out_dir=tmp_path, max_steps=2, cell_timeout_s=60)
    try:
        yield envs
    finally:
        envs.close()
    _assert_none_left(before)


def test_batched_step_autoreset_and_close(vec: DojoVectorEnv, tmp_path: Path) -> None:
    assert isinstance(vec, VectorEnv) and vec.num_envs == N
    obs, infos = vec.reset(seed=7)
    assert len(obs) == N and obs in vec.observation_space
    assert list(infos["_episode_dir"]) == [True] * N
    first_dirs = list(infos["episode_dir"])
    assert len(set(first_dirs)) == N
    assert list(infos["paths"]["SEED"]) == [7, 8, 9]

    # Three cells that each wait 1.5 s: run concurrently, the batch takes well under 4.5 s.
    t0 = time.monotonic()
    obs, rewards, term, trunc, infos = vec.step(
        [{"type": "execute_code", "code": f"import time; time.sleep(1.5); X{i} = {i}; print(X{i} * 10)"}
         for i in range(N)])
    took = time.monotonic() - t0
    assert [o["status"] for o in obs] == ["ok"] * N
    assert [o["text"].strip() for o in obs] == ["0", "10", "20"]
    assert took < 3.5, f"batched step took {took:.2f}s: the envs did not run concurrently"
    assert rewards.shape == (N,) and not term.any() and not trunc.any()

    # Env 0 ends by a final submit; the others run out of steps (max_steps=2): all done.
    obs, rewards, term, trunc, infos = vec.step(
        [{"type": "submit", "final": True}, {"type": "execute_code", "code": "X1"},
         {"type": "add_markdown", "text": "a note"}])
    assert list(term) == [True, False, False] and list(trunc) == [False, True, True]
    assert list(infos["_final"]) == [True] * N  # each env's final grading is in its info
    for d in first_dirs:
        assert json.loads((Path(d) / "summary.json").read_text())["steps"] == 2

    # NEXT_STEP autoreset: this step resets every env (actions ignored), new folders and kernels.
    obs, rewards, term, trunc, infos = vec.step([{"type": "execute_code", "code": "1/0"}] * N)
    assert [o["action_type"] for o in obs] == ["reset"] * N
    assert not rewards.any() and not term.any() and not trunc.any()
    new_dirs = list(infos["episode_dir"])
    assert not set(new_dirs) & set(first_dirs)
    obs, *_ = vec.step([{"type": "execute_code", "code": "'X0' in globals()"}] * N)
    assert [o["text"].strip() for o in obs] == ["False"] * N  # fresh kernels


def test_same_step_autoreset_reports_the_final_observation(tmp_path: Path) -> None:
    before = _children()
    vec = make_vec([TASK, "wine-cultivar"], out_dir=tmp_path, max_steps=1, cell_timeout_s=60,
                   autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        first, infos = vec.reset()
        obs, rewards, term, trunc, infos = vec.step([{"type": "execute_code", "code": "41 + 1"}] * 2)
        assert list(trunc) == [True, True]
        assert [o["action_type"] for o in obs] == ["reset"] * 2  # already reset
        assert [o["text"].strip() for o in infos["final_obs"]] == ["42", "42"]
        assert list(infos["_final_info"]) == [True, True]
        assert infos["final_info"]["final"]["valid"].tolist() == [False, False]  # nothing was submitted
    finally:
        vec.close()
    _assert_none_left(before)


def test_disabled_autoreset_with_reset_mask(tmp_path: Path) -> None:
    before = _children()
    vec = make_vec(TASK, 2, out_dir=tmp_path, max_steps=1, cell_timeout_s=60,
                   autoreset_mode=AutoresetMode.DISABLED)
    try:
        vec.reset()
        _, _, _, trunc, infos = vec.step([{"type": "validate"}] * 2)
        assert list(trunc) == [True, True]
        old = list(infos["episode_dir"])
        obs, infos = vec.reset(options={"reset_mask": np.array([True, False])})
        assert list(infos["_episode_dir"]) == [True, False]
        assert infos["episode_dir"][0] != old[0]
        obs, _, _, _, _ = vec.step([{"type": "execute_code", "code": "2 * 21"}] * 2)
        assert obs[0]["status"] == "ok" and obs[1]["status"] == "invalid_action"  # env 1 was not reset
    finally:
        vec.close()
    _assert_none_left(before)
