"""The LLM agent works real episodes (real kernel, local sandbox) against a scripted model served
over real HTTP on loopback: three task types, malformed and unknown tool calls, a 429 with
Retry-After, a 500, a reply slower than the client's timeout, and a tight context budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from dojo_nb import notebook as nbk
from dojo_nb.actions import ACTION_TYPES
from dojo_nb.agents.llm_context import TokenCounter
from dojo_nb.runners.episodes import run_episode
from tests.llm.server import ScriptedChatServer, error, slow, tool

KEY = "sk-dojo-test-4f1d9c2b7a6e5d3c"

LOOK = "import os\nprint(sorted(os.listdir(INPUT_DIR)))"

CLASSIFY = """\
import os
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
train = pd.read_csv(os.path.join(INPUT_DIR, "train.csv"))
test = pd.read_csv(os.path.join(INPUT_DIR, "test.csv"))
# Playground data has gaps and word columns: numeric features, a model that takes NaN.
features = [c for c in test.columns if c != "id" and pd.api.types.is_numeric_dtype(test[c])]
model = HistGradientBoostingClassifier(max_iter=50).fit(train[features], train["species"])
pd.DataFrame({"id": test["id"], "species": model.predict(test[features])}).to_csv(SUBMISSION_PATH, index=False)
print("wrote", len(test), "rows")
"""

REGRESS = """\
import os
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import cross_val_score
train = pd.read_csv(os.path.join(INPUT_DIR, "train.csv"))
test = pd.read_csv(os.path.join(INPUT_DIR, "test.csv"))
features = [c for c in test.columns if c != "id" and pd.api.types.is_numeric_dtype(test[c])]
model = HistGradientBoostingRegressor(max_iter=50)
print("CV RMSE", -cross_val_score(model, train[features], train["progression"], cv=5,
                                   scoring="neg_root_mean_squared_error").mean())
model.fit(train[features], train["progression"])
pd.DataFrame({"id": test["id"], "progression": model.predict(test[features])}).to_csv(SUBMISSION_PATH, index=False)
"""

FORECAST = """\
import os
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
train = pd.read_csv(os.path.join(INPUT_DIR, "train.csv"))
test = pd.read_csv(os.path.join(INPUT_DIR, "test.csv"))

def feats(df):
    d = pd.to_datetime(df["date"])
    t = (d - pd.Timestamp("1950-01-01")).dt.days / 365.25
    m = 2 * np.pi * d.dt.month / 12
    return pd.DataFrame({"t": t, "t2": t ** 2, "s": np.sin(m), "c": np.cos(m)})

model = LinearRegression().fit(feats(train), train["co2"])
pd.DataFrame({"id": test["id"], "co2": model.predict(feats(test))}).to_csv(SUBMISSION_PATH, index=False)
print("forecast", len(test), "months")
"""

# Output big enough that a small context budget must drop old turns.
NOISY = "print('\\n'.join(f'line {i}: ' + 'x' * 60 for i in range(60)))"

ENV_DUMP = "import os\nprint(dict(os.environ))\nprint('ENV_KEYS', sorted(os.environ))"


def _finish() -> list:
    return [tool("validate", {}), tool("submit", {"final": True}, text="Submitting the validated file.")]


def _run(tmp_path: Path, task: str, script: list, **agent_kwargs: Any):
    with ScriptedChatServer(script) as server:
        kwargs = dict(base_url=server.base_url, model="scripted-model", timeout_s=1.5, backoff_s=0.05,
                      max_retries=3)
        kwargs.update(agent_kwargs)
        outcome = run_episode(task, "llm", out_dir=tmp_path / task, replay=False, max_steps=40,
                              cell_timeout_s=120, agent_kwargs=kwargs)
        requests = list(server.requests)
        left = server.left
    return outcome, requests, left


def _check_protocol(messages: list[dict[str, Any]]) -> None:
    """Every tool message answers a call of an earlier assistant message; every call is answered."""
    open_calls: set[str] = set()
    for m in messages:
        if m["role"] == "assistant":
            assert not open_calls, f"calls left unanswered before a new assistant turn: {open_calls}"
            open_calls = {c["id"] for c in m.get("tool_calls") or []}
        elif m["role"] == "tool":
            assert m["tool_call_id"] in open_calls, m
            open_calls.discard(m["tool_call_id"])
    assert not open_calls


def _all_episode_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


@pytest.fixture()
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DOJO_NB_API_KEY", KEY)
    return KEY


def test_classification_with_every_failure_mode(tmp_path: Path, api_key: str) -> None:
    broken = '{"code": "print(1)'                                     # unrepairable JSON
    repairable = '{"code": "' + ENV_DUMP + '",}'                      # raw newlines + trailing comma
    script = [
        error(429, retry_after="1"),
        tool("execute_code", {"code": LOOK}, text="I will look at the files first."),
        error(500),
        tool("execute_code", broken),
        tool("run_python", {"code": "1"}),
        slow(3.0),
        tool("execute_code", repairable),
        tool("execute_code", {"code": CLASSIFY}, text="Logistic regression on the four measurements."),
        *_finish(),
    ]
    outcome, requests, left = _run(tmp_path, "iris-species", script)
    assert outcome.error is None and outcome.valid, outcome
    assert left == 0
    root = outcome.episode_dir

    # The model was told what was wrong, as the tool result of the bad call, and asked again.
    texts = [q["body"]["messages"][-1].get("content") or "" for q in requests]
    assert any("could not read the arguments of execute_code" in t for t in texts)
    assert any("unknown tool 'run_python'" in t for t in texts)
    assert all(q["headers"]["Authorization"] == f"Bearer {KEY}" for q in requests)
    assert [t["function"]["name"] for t in requests[0]["body"]["tools"]] == list(ACTION_TYPES)
    for q in requests:
        _check_protocol(q["body"]["messages"])

    nb = nbformat.read(root / "trajectory.ipynb", as_version=4)
    nbformat.validate(nb)
    steps = nbk.list_steps(nb)
    notes = [s.source for s in steps if s.action_type == "add_markdown"]
    assert "I will look at the files first." in notes
    assert "Logistic regression on the four measurements." in notes
    # The repaired call ran: the kernel's environment was dumped, and holds no key.
    dump = next(s for s in steps if s.action_type == "execute_code" and "os.environ" in s.source)
    assert dump.status == "ok"
    out = "".join(o.get("text", "") for o in nb.cells[dump.cell_index].outputs)
    assert "ENV_KEYS" in out and "PATH" in out
    assert KEY not in out and "DOJO_NB_API_KEY" not in out and "OPENAI_API_KEY" not in out

    # The key is nowhere in what the episode wrote.
    assert KEY.encode() not in _all_episode_bytes(root)

    summary = json.loads((root / "summary.json").read_text())
    stats = summary["agent_stats"]
    answered = [r for r in requests if r["body"]]  # every request the server saw
    assert len(answered) == 10
    assert stats["calls"] == 7                      # 200 replies the agent used
    assert stats["attempts"] == 10 and stats["retries"] == 3  # the 429, the 500, the timeout
    assert stats["prompt_tokens"] == 700 and stats["completion_tokens"] == 140
    assert stats["rejected_tool_calls"] == 2 and stats["repaired_tool_calls"] == 1
    assert stats["markdown_cells"] == 3 and stats["model"] == "scripted-model"


def test_regression_episode_replays(tmp_path: Path, api_key: str) -> None:
    script = [tool("request_info", {"what": "metric"}, text="Check the metric."),
              tool("execute_code", {"code": REGRESS}), *_finish()]
    with ScriptedChatServer(script) as server:
        outcome = run_episode("diabetes-progression", "llm", out_dir=tmp_path / "ep", replay=True,
                              max_steps=20, agent_kwargs={"base_url": server.base_url, "model": "m"})
        requests = list(server.requests)
    assert outcome.error is None and outcome.valid, outcome
    assert outcome.replay and outcome.replay["reproduced"], outcome.replay
    # The metric answer came back to the model as the tool result.
    assert "rmse" in requests[1]["body"]["messages"][-1]["content"].lower()
    summary = json.loads((outcome.episode_dir / "summary.json").read_text())
    assert summary["agent_stats"]["calls"] == 4 and summary["agent_stats"]["total_tokens"] == 480
    assert summary["final"]["private_score"] is not None
    assert KEY.encode() not in _all_episode_bytes(outcome.episode_dir)

    # Exported for SFT, the model's note is the content before its call, and its tokens are kept.
    from dojo_nb.export import export

    report = export("sft", [outcome.episode_dir], tmp_path / "sft.jsonl")
    rec = json.loads((tmp_path / "sft.jsonl").read_text())
    assert report.records == 1 and rec["metadata"]["agent"] == "llm"
    assert rec["metadata"]["agent_stats"]["calls"] == 4
    first = rec["messages"][2]
    assert first["content"] == "Check the metric." and first["tool_calls"][0]["function"]["name"] == "request_info"


def test_cli_run_agent_llm(tmp_path: Path, api_key: str) -> None:
    from typer.testing import CliRunner

    from dojo_nb.cli import app

    with ScriptedChatServer([tool("execute_code", {"code": CLASSIFY}), *_finish()]) as server:
        result = CliRunner().invoke(app, [
            "run", "--agent", "llm", "--task", "iris-species", "--out", str(tmp_path / "out"),
            "--no-replay", "--max-steps", "10", "--base-url", server.base_url, "--model", "cli-model",
            "--api-key-env", "DOJO_NB_API_KEY"])
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    assert len(requests) == 3 and requests[0]["body"]["model"] == "cli-model"
    summary = json.loads(next((tmp_path / "out").rglob("summary.json")).read_text())
    assert summary["agent"] == "llm" and summary["final"]["valid"]
    assert summary["agent_stats"]["calls"] == 3


def test_forecasting_under_a_small_context_budget(tmp_path: Path, api_key: str) -> None:
    budget, reserve = 3000, 1000
    script = [tool("execute_code", {"code": NOISY}) for _ in range(5)]
    script += [tool("execute_code", {"code": FORECAST}), *_finish()]
    outcome, requests, left = _run(tmp_path, "co2-forecast", script, max_context_tokens=budget,
                                   reply_reserve_tokens=reserve, max_observation_chars=3000)
    assert outcome.error is None and outcome.valid, outcome
    assert left == 0
    # The whole request (tools too) fits, counted the agent's conservative way.
    counter = TokenCounter()
    sizes = [counter.raw(q["body"]["tools"]) + sum(counter.raw(m) for m in q["body"]["messages"])
             for q in requests]
    assert max(sizes) <= (budget - reserve) / 0.8, sizes  # 0.8: the lowest calibrated scale
    notes = [m["content"] for q in requests for m in q["body"]["messages"]
             if m["role"] == "user" and "[Context budget" in (m.get("content") or "")]
    assert notes, "no turn was dropped although the outputs exceed the budget"
    assert "execute_code ok x" in notes[-1]
    for q in requests:
        msgs = q["body"]["messages"]
        assert msgs[0]["role"] == "system" and "co2" in msgs[1]["content"].lower()  # the head is kept
        _check_protocol(msgs)
    stats = json.loads((outcome.episode_dir / "summary.json").read_text())["agent_stats"]
    assert stats["dropped_turns"] >= 1 and stats["max_prompt_tokens_estimate"] <= budget - reserve
