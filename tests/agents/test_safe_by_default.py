"""Safe by default, through the real `dojo-nb` command in a subprocess: an agent that is not the
built-in baseline refuses a backend that does not isolate it (bubblewrap missing, or switched
off), with one message naming every way out; `--unsafe-no-sandbox` runs it anyway; the
baseline runs unsandboxed with the warning said once; Python's `make` refuses the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dojo_nb
from dojo_nb.agents.base import is_builtin_baseline
from dojo_nb.agents.baseline import BaselineAgent
from dojo_nb.kernel.backends import UNSAFE_ENV, NotIsolated
from tests.llm.server import ScriptedChatServer, tool

REPO = Path(__file__).resolve().parents[2]
TASK = "iris-species"
WARNING = "local kernels run WITHOUT a sandbox"
CLASSIFY = """\
import os
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
train = pd.read_csv(os.path.join(INPUT_DIR, "train.csv"))
test = pd.read_csv(os.path.join(INPUT_DIR, "test.csv"))
features = [c for c in test.columns if c != "id" and pd.api.types.is_numeric_dtype(test[c])]
model = HistGradientBoostingClassifier(max_iter=20).fit(train[features], train["species"])
pd.DataFrame({"id": test["id"], "species": model.predict(test[features])}).to_csv(SUBMISSION_PATH, index=False)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOJO_NB_NO_BWRAP", UNSAFE_ENV)}
    env.update({"PYTHONPATH": str(REPO), "COLUMNS": "80", "DOJO_NB_API_KEY": "sk-test-unused"})
    env.update(extra)
    return env


def _cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dojo_nb.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _no_bwrap_path(tmp_path: Path) -> str:
    """A PATH on which bwrap cannot be found: only this interpreter's folder (and a scratch one)."""
    bare = tmp_path / "bin"
    bare.mkdir(exist_ok=True)
    return f"{bare}:{os.path.dirname(sys.executable)}"


def _assert_refused(done: subprocess.CompletedProcess[str], why: str, out_dir: Path) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    flat = " ".join(out.split())
    assert why in flat, out
    for way_out in ("install bubblewrap", "--backend docker", "--unsafe-no-sandbox", "allow_unsandboxed=True"):
        assert way_out in flat, (way_out, out)
    assert flat.count("refusing to run") == 1, out
    assert not out_dir.exists(), "nothing may start before the refusal"


@pytest.mark.parametrize("agent", ["llm", "search", "tests.agents.test_safe_by_default:ThirdParty"])
def test_non_baseline_agents_refuse_when_bwrap_is_switched_off(tmp_path: Path, agent: str) -> None:
    out_dir = tmp_path / "runs"
    done = _cli(["run", "--task", TASK, "--agent", agent, "--out", str(out_dir), "--base-url",
                 "http://127.0.0.1:9/v1", "--model", "m"], _env(DOJO_NB_NO_BWRAP="1"), timeout=120)
    _assert_refused(done, "$DOJO_NB_NO_BWRAP is set", out_dir)


def test_llm_refuses_when_bwrap_is_not_on_path(tmp_path: Path) -> None:
    out_dir = tmp_path / "runs"
    done = _cli(["run", "--task", TASK, "--agent", "llm", "--out", str(out_dir)],
                _env(PATH=_no_bwrap_path(tmp_path)), timeout=120)
    _assert_refused(done, "bwrap is not installed", out_dir)


def test_llm_runs_with_unsafe_no_sandbox_and_the_warning_is_said_once(tmp_path: Path) -> None:
    finish = [tool("validate"), tool("submit", {"final": True})]
    out_dir = tmp_path / "runs"
    with ScriptedChatServer([tool("execute_code", {"code": CLASSIFY}), *finish]) as server:
        done = _cli(["run", "--task", TASK, "--agent", "llm", "--out", str(out_dir), "--no-replay",
                     "--max-steps", "6", "--base-url", server.base_url, "--model", "m", "--unsafe-no-sandbox"],
                    _env(PATH=_no_bwrap_path(tmp_path)))
        calls = len(server.requests)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert calls == 3
    assert " ".join(out.split()).count(WARNING) == 1, out
    assert "SandboxWarning" not in out and "jupyter_client" not in out, out
    summary = json.loads(next(out_dir.rglob("summary.json")).read_text())
    assert summary["agent"] == "llm" and summary["final"]["valid"]

    # Its solution notebook is the agent's code: replaying it unconfined is refused the same way,
    # whatever agent the folder names, and runs only when asked to.
    episode = next(out_dir.rglob("summary.json")).parent
    refused = _cli(["replay", str(episode)], _env(PATH=_no_bwrap_path(tmp_path)))
    flat = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode == 2, flat
    assert "refusing to run a solution notebook" in flat and "--unsafe-no-sandbox" in flat, flat
    assert not (episode / "replay.json").exists()
    replayed = _cli(["replay", str(episode), "--unsafe-no-sandbox"], _env(PATH=_no_bwrap_path(tmp_path)))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert json.loads((episode / "replay.json").read_text())["reproduced"] is True


def test_baseline_runs_unsandboxed_with_one_warning_through_its_replay(tmp_path: Path) -> None:
    done = _cli(["run", "--task", TASK, "--agent", "baseline", "--out", str(tmp_path / "runs")],
                _env(DOJO_NB_NO_BWRAP="1"))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert " ".join(out.split()).count(WARNING) == 1, out  # the episode and papermill's replay: said once
    assert "refusing" not in out and TASK in out and "reproduced" in out


def test_python_make_refuses_unless_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOJO_NB_NO_BWRAP", "1")
    monkeypatch.delenv(UNSAFE_ENV, raising=False)
    with pytest.raises(NotIsolated, match="allow_unsandboxed=True"):
        dojo_nb.make(TASK, out_dir=tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    env = dojo_nb.make(TASK, out_dir=tmp_path / "allowed", allow_unsandboxed=True)
    try:
        obs, _ = env.reset()
        assert obs["status"] == "ok"
    finally:
        env.close()
    monkeypatch.setenv(UNSAFE_ENV, "1")  # what --unsafe-no-sandbox sets for the agent's own envs
    dojo_nb.make(TASK, out_dir=tmp_path / "by-env").close()


class ThirdParty(BaselineAgent):
    """The baseline's code under another class: not the built-in baseline, so not trusted."""

    name = "baseline"


def test_only_the_builtin_baseline_class_is_trusted() -> None:
    assert is_builtin_baseline("baseline") and is_builtin_baseline(BaselineAgent())
    assert is_builtin_baseline("dojo_nb.agents.baseline:BaselineAgent")
    assert not is_builtin_baseline("llm") and not is_builtin_baseline("search")
    assert not is_builtin_baseline(ThirdParty()) and not is_builtin_baseline(f"{__name__}:ThirdParty")
