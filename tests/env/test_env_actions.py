"""Each action type on a live episode (real kernel, real task), including bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dojo_nb import notebook as nbk
from dojo_nb.env import OBS_KEYS
from dojo_nb.tasks.cache import prepare_task


def _ok_obs(env, obs):
    assert obs in env.observation_space
    json.dumps(obs)  # JSON-able
    assert set(obs) == set(OBS_KEYS)


def test_reset_describes_the_task(shared_env):
    env, first = shared_env
    obs, info = first["obs"], first["info"]
    _ok_obs(env, obs)
    assert obs["status"] == "ok" and obs["action_type"] == "reset"
    for name in ("INPUT_DIR", "WORKING_DIR", "SUBMISSION_PATH", "SEED"):
        assert name in obs["text"]
    task = info["task"]
    for key in ("id", "metric", "lower_is_better", "id_column", "target_columns", "submission_kind", "type"):
        assert key in task
    assert info["submission_path"].endswith("submission.csv")
    nb = nbk.load_trajectory(env.episode_dir)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[1].metadata.tags == ["parameters"] and "SEED = 7" in nb.cells[1].source


def test_execute_code_ok_and_error(shared_env):
    env, _ = shared_env
    obs, reward, term, trunc, info = env.step({"type": "execute_code", "code": "print(INPUT_DIR); 6 * 7"})
    _ok_obs(env, obs)
    assert obs["status"] == "ok" and "42" in obs["text"] and reward == 0.0 and not term and not trunc
    assert obs["outputs"] and obs["execution_count"] is not None
    cell = env.trajectory.cell(obs["cell_index"])
    assert cell.cell_type == "code" and cell.metadata.dojo["status"] == "ok"

    obs, *_ = env.step({"type": "execute_code", "code": "1 / 0"})
    assert obs["status"] == "error" and obs["error"]["ename"] == "ZeroDivisionError"
    assert "ZeroDivisionError" in obs["text"]


def test_edit_and_run_cell(shared_env):
    env, _ = shared_env
    obs, *_ = env.step({"type": "execute_code", "code": "counter = 1"})
    first = obs["cell_index"]
    obs, *_ = env.step({"type": "edit_cell", "cell_index": first, "code": "counter = 10"})
    assert obs["status"] == "ok" and obs["cell_index"] > first
    assert env.trajectory.cell(obs["cell_index"]).metadata.dojo["edits"] == first
    inc, *_ = env.step({"type": "execute_code", "code": "counter += 1; counter"})
    obs, *_ = env.step({"type": "run_cell", "cell_index": inc["cell_index"]})
    assert obs["status"] == "ok" and "12" in obs["text"]
    assert env.trajectory.cell(obs["cell_index"]).metadata.dojo["reruns"] == inc["cell_index"]

    for bad, words in [
        ({"type": "run_cell", "cell_index": 0}, "markdown"),
        ({"type": "run_cell", "cell_index": 10_000}, "does not exist"),
        ({"type": "edit_cell", "cell_index": 1, "code": "x = 1"}, "parameters"),
        ({"type": "run_cell", "cell_index": 1}, "parameters"),
    ]:
        obs, *_ = env.step(bad)
        assert obs["status"] == "invalid_action" and words in obs["message"], obs


def test_markdown_info_validate_interrupt(copy_sample, shared_env):
    env, _ = shared_env
    obs, *_ = env.step({"type": "add_markdown", "text": "## Plan\nlook at the data"})
    assert obs["status"] == "ok"
    assert env.trajectory.cell(obs["cell_index"]).source == "## Plan\nlook at the data"

    for what in ("description", "data", "submission_format", "metric", "history"):
        obs, *_ = env.step({"type": "request_info", "what": what})
        _ok_obs(env, obs)
        assert obs["status"] == "ok" and obs["text"].strip(), what
    obs, *_ = env.step({"type": "request_info", "what": "data"})
    assert "train" in obs["text"] or "csv" in obs["text"]

    obs, *_ = env.step({"type": "interrupt"})
    assert obs["status"] == "ok"
    obs, *_ = env.step({"type": "execute_code", "code": "'still alive'"})
    assert obs["status"] == "ok"

    obs, *_ = env.step({"type": "execute_code", "code": copy_sample})
    assert obs["status"] == "ok", obs["text"]
    obs, reward, *_ = env.step({"type": "validate"})
    assert obs["status"] == "ok" and obs["grading"]["valid"] is True and reward == 0.0
    assert "private_score" not in obs["grading"]


def test_restart_kernel_keeps_parameters(shared_env):
    env, _ = shared_env
    env.step({"type": "execute_code", "code": "secret = 5"})
    obs, *_ = env.step({"type": "restart_kernel"})
    assert obs["status"] == "ok"
    assert env.trajectory.cell(obs["cell_index"]).metadata.dojo["kernel_restarted"] is True
    obs, *_ = env.step({"type": "execute_code", "code": "secret"})
    assert obs["status"] == "error" and obs["error"]["ename"] == "NameError"
    obs, *_ = env.step({"type": "execute_code", "code": "print(SUBMISSION_PATH)"})
    assert obs["status"] == "ok" and "submission" in obs["text"]


def test_a_cell_that_kills_the_kernel(shared_env):
    env, _ = shared_env
    obs, reward, term, trunc, _ = env.step({"type": "execute_code", "code": "import os; os._exit(1)"})
    assert obs["status"] == "crashed" and not term and not trunc
    assert env.trajectory.cell(obs["cell_index"]).metadata.dojo["kernel_restarted"] is True
    obs, *_ = env.step({"type": "execute_code", "code": "print(WORKING_DIR)"})  # parameters ran again
    assert obs["status"] == "ok" and "working" in obs["text"]


def test_invalid_actions_are_observations(shared_env):
    env, _ = shared_env
    for bad in [None, 3, "nope", "{\"type\": \"fly\"}", {"type": "execute_code"},
                {"type": "execute_code", "code": 5}, {"type": "submit", "final": "yes"},
                {"type": "request_info", "what": "answers"}, [], {"code": "1"}]:
        obs, reward, term, trunc, _ = env.step(bad)
        _ok_obs(env, obs)
        assert obs["status"] == "invalid_action" and obs["message"], bad
        assert reward == 0.0 and not term and not trunc
        cell = env.trajectory.cell(obs["cell_index"])
        assert cell.metadata.dojo["status"] == "invalid_action"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.none(), st.integers(), st.text(max_size=30), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["type", "cell_index", "what", "final", "code", "junk"]),
                    st.one_of(st.none(), st.integers(-5, 10**9), st.booleans(), st.floats(),
                              st.sampled_from(["validate", "run_cell", "edit_cell", "request_info",
                                               "interrupt", "fly", "submit"])),
                    max_size=4),
))
def test_nothing_an_agent_sends_raises(shared_env, raw):
    env, _ = shared_env
    if isinstance(raw, dict) and raw.get("type") == "submit":
        raw = dict(raw, final=False) if raw.get("final") is True else raw
    obs, reward, term, trunc, info = env.step(raw)
    _ok_obs(env, obs)
    assert not term and not trunc


def test_trajectory_on_disk_after_every_step(shared_env):
    env, _ = shared_env
    obs, *_ = env.step({"type": "execute_code", "code": "'on disk'"})
    nb = nbk.load_trajectory(env.episode_dir)
    nbformat.validate(nb)
    assert len(nb.cells) == len(env.trajectory)
    steps = nbk.list_steps(nb)
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert all({"step", "action_type", "status", "elapsed_s", "kernel_restarted"} <= set(s.dojo) for s in steps)
    meta = nbk.episode_metadata(nb)
    assert meta["task"]["id"] == env.task_id and meta["backend"] == "local" and meta["agent"] == "tests"
    assert nb.metadata.kernelspec["name"] and nb.metadata.language_info["name"] == "python"


def test_a_symlink_to_the_answers_is_refused(shared_env):
    env, _ = shared_env
    answers = next(p for p in Path(prepare_task(env.task).private_dir).rglob("*") if p.is_file())
    code = (f"import os\nif os.path.lexists(SUBMISSION_PATH): os.remove(SUBMISSION_PATH)\n"
            f"os.symlink({str(answers)!r}, SUBMISSION_PATH)")
    obs, *_ = env.step({"type": "execute_code", "code": code})
    assert obs["status"] == "ok", obs["text"]
    for kind in ("validate", "submit"):
        obs, reward, *_ = env.step({"type": kind})
        assert obs["status"] == "error" and "symbolic link" in obs["message"] and reward == 0.0
    env.step({"type": "execute_code", "code": "os.remove(SUBMISSION_PATH)"})
