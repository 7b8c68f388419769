"""Whole episodes: rewards, final scores, budgets, the episode folder and its notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import nbformat
import pytest
from gymnasium.utils.env_checker import check_env

import dojo_nb
from dojo_nb import notebook as nbk
from dojo_nb.env import DojoEnv
from dojo_nb.tasks.cache import prepare_task


def test_rewards_sum_to_best_public_position_and_resubmit_earns_nothing(copy_sample, model_cell, make_env):
    env = make_env(max_steps=50)
    _, info0 = env.reset(seed=3)
    obs, reward, *_ = env.step({"type": "submit"})
    assert obs["status"] == "error" and reward == 0.0 and "no submission file" in obs["message"]
    obs, *_ = env.step({"type": "execute_code", "code": copy_sample})
    assert obs["status"] == "ok", obs["text"]
    obs, r1, term, trunc, info = env.step({"type": "submit"})
    assert obs["status"] == "ok", obs
    g = obs["grading"]
    assert g["valid"] is True and "private_score" not in g and "private_position_score" not in g
    assert r1 == pytest.approx(g["public_position_score"]) and not term and not trunc
    obs, r2, *_ = env.step({"type": "submit"})
    assert r2 == 0.0
    # a real model: the reward is exactly the gain over the best so far
    obs, *_ = env.step({"type": "execute_code", "code": model_cell(info0["task"])})
    assert obs["status"] == "ok", obs["text"]
    obs, r_model, *_ = env.step({"type": "submit"})
    assert obs["grading"]["valid"] is True, obs
    pos_model = obs["grading"]["public_position_score"]
    assert r_model == pytest.approx(max(0.0, pos_model - g["public_position_score"]))
    if env.task_id == "penguins-species":  # a forest beats uniform probabilities
        assert r_model > 0
    # a broken file: graded invalid, no reward, the episode goes on
    env.step({"type": "execute_code", "code": "open(SUBMISSION_PATH, 'w').write('garbage\\n')"})
    obs, r3, term, *_ = env.step({"type": "submit"})
    assert obs["status"] == "error" and obs["grading"]["valid"] is False and r3 == 0.0 and not term
    env.step({"type": "execute_code", "code": copy_sample})
    obs, r4, term, trunc, info = env.step({"type": "submit", "final": True})
    assert term is True and trunc is False and r4 == 0.0
    total = r1 + r2 + r_model + r3 + r4
    assert total == pytest.approx(info["best_public_position_score"])
    assert total == pytest.approx(info["reward_sum"])
    final = info["final"]
    assert final["valid"] is True and final["rule"] == "last_valid_submission"
    assert final["private_score"] is not None and "medal" in final
    assert final["public_position_score"] == pytest.approx(g["public_position_score"])

    ep = env.episode_dir
    summary = json.loads((ep / "summary.json").read_text())
    assert summary["end_reason"] == "final_submit" and summary["final"] == final
    assert [s["valid"] for s in summary["submissions"]] == [True, True, True, False, True]
    nb = nbk.load_trajectory(ep)
    nbformat.validate(nb)
    assert nb.metadata.dojo["final"] == final
    rewards = [s.reward for s in nbk.list_steps(nb) if s.action_type == "submit"]
    assert sum(r for r in rewards if r) == pytest.approx(total)
    # after the end: an observation, never an exception
    obs, reward, term, trunc, _ = env.step({"type": "execute_code", "code": "1"})
    assert obs["status"] == "invalid_action" and "reset" in obs["message"] and term


def test_solution_and_episode_layout(copy_sample, make_env):
    env = make_env()
    env.reset()
    env.step({"type": "execute_code", "code": "a = 1"})
    env.step({"type": "execute_code", "code": "1 / 0"})
    env.step({"type": "add_markdown", "text": "thinking"})
    env.step({"type": "restart_kernel"})
    env.step({"type": "execute_code", "code": "b = 2"})
    env.step({"type": "execute_code", "code": copy_sample})
    obs, *_ = env.step({"type": "execute_code",
                        "code": "import os; print(sorted(os.listdir(os.path.dirname(INPUT_DIR))))"})
    # the kernel sees only input/working/submission: never the notebook or the summary
    assert "trajectory" not in obs["text"] and "input" in obs["text"]
    obs, *_ = env.step({"type": "execute_code", "code": "open(INPUT_DIR + '/hack.txt', 'w')"})
    assert obs["status"] == "error"  # input/ is read-only inside the sandbox
    env.close()
    env.close()  # closing twice is fine
    ep = env.episode_dir
    assert sorted(p.name for p in ep.iterdir()) == [
        "sandbox", "solution.ipynb", "submissions", "summary.json", "trajectory.ipynb"]
    assert sorted(p.name for p in (ep / "sandbox").iterdir()) == ["input", "submission", "working"]
    # the private answers are nowhere in the episode folder
    private = [f.read_bytes() for f in Path(prepare_task(env.task).private_dir).rglob("*") if f.is_file()]
    for f in ep.rglob("*"):
        if f.is_file():
            assert f.read_bytes() not in private, f
    sol = nbformat.read(ep / "solution.ipynb", as_version=4)
    nbformat.validate(sol)
    assert sol.cells[1].metadata.tags == ["parameters"]
    assert [c.source for c in sol.cells[2:]] == ["b = 2", copy_sample,
                                                "import os; print(sorted(os.listdir(os.path.dirname(INPUT_DIR))))"]
    summary = json.loads((ep / "summary.json").read_text())
    assert summary["end_reason"] == "closed"
    # never submitted: the file left at SUBMISSION_PATH is graded as the final one
    assert summary["final"]["source"] == "file_at_end" and summary["final"]["valid"] is True
    assert summary["replay"] == "replay.json"
    back = DojoEnv.read_episode(ep)
    assert back["summary"] == summary and back["metadata"]["final"] == summary["final"]
    assert [s.step for s in back["steps"]] == list(range(1, summary["steps"] + 1))


def test_step_budget_truncates(make_env):
    env = make_env(max_steps=2)
    env.reset()
    _, _, term, trunc, _ = env.step({"type": "add_markdown", "text": "one"})
    assert not term and not trunc
    obs, _, term, trunc, info = env.step({"type": "this is not an action"})
    assert obs["steps_left"] == 0 and trunc is True and term is False
    assert info["end_reason"] == "max_steps" and info["final"]["valid"] is False


def test_cell_and_episode_timeouts(make_env):
    env = make_env(cell_timeout_s=1, episode_timeout_s=6)
    env.reset()
    obs, _, term, trunc, _ = env.step({"type": "execute_code", "code": "import time; time.sleep(30)"})
    assert obs["status"] == "timeout" and not trunc
    obs, *_ = env.step({"type": "execute_code", "code": "'after timeout'"})
    assert obs["status"] == "ok"
    for _ in range(20):
        obs, _, term, trunc, info = env.step({"type": "execute_code", "code": "time.sleep(0.9)"})
        if trunc:
            break
    assert trunc is True and not term and info["end_reason"] == "episode_timeout"
    assert obs["seconds_left"] == 0.0


def test_gymnasium_make_and_check_env(tmp_path, task_id, monkeypatch):
    dojo_nb.register_envs([task_id])  # a task from $DOJO_NB_TASKS may not be in the default catalogue
    monkeypatch.chdir(tmp_path)  # episodes made by check_env's spec.make() land in tmp_path/runs
    env = gymnasium.make(f"dojo_nb/{task_id}", out_dir=tmp_path / "ep", max_steps=20)
    try:
        check_env(env.unwrapped)
        obs, info = env.reset()
        obs, *_ = env.step({"type": "execute_code", "code": "SEED"})
        assert obs["status"] == "ok"
        assert env.action_space.contains({"type": "validate"})
        assert not env.action_space.contains({"type": "validate", "x": 1})
    finally:
        env.close()
    for ep in list(tmp_path.glob("ep*")) + list((tmp_path / "runs").glob("*")):
        nbformat.validate(nbk.load_trajectory(ep))
