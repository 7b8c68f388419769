"""One bad reply never ends an episode or a search: empty choices, empty or cut replies, tool
calls written in the text, list-form content, reused call ids; a search whose model call fails.
Real kernels, a scripted model over real HTTP; every episode ends with a valid submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dojo_nb.agents.search import run_search
from dojo_nb.agents.search_policies import LLMPolicy
from dojo_nb.runners.episodes import run_episode
from tests.llm.server import Reply, ScriptedChatServer, _completion, error, say, tool
from tests.llm.test_portable_schemas import CLASSIFY
from tests.search.cells import DRAFT_GOOD


def _raw(message: dict[str, Any], finish: str = "stop") -> Reply:
    return Reply(body=_completion(message, 100, 20, finish))


def _with_id(reply: Reply, call_id: str) -> Reply:
    reply.body["choices"][0]["message"]["tool_calls"][0]["id"] = call_id  # type: ignore[index]
    return reply


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOJO_NB_API_KEY", "sk-test-resilience")


def test_messy_replies_are_retried_parsed_or_repaired(tmp_path: Path) -> None:
    look = "import os\nprint(sorted(os.listdir(INPUT_DIR)))"
    text_call = ('I will look first.\n<tool_call>\n{"name": "execute_code", "arguments": '
                 + json.dumps({"code": look}) + "}\n</tool_call>")
    script = [
        Reply(body={"id": "x", "choices": [], "usage": {}}),                 # empty choices
        _raw({"role": "assistant", "content": ""}),                          # empty reply
        _raw({"role": "assistant", "content": text_call}),                   # call inside content
        _raw({"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "execute_code", "arguments": '{"code": "import pandas as pd\\nx = [1, 2, 3'}}]},
            finish="length"),                                                # cut mid-arguments
        _raw({"role": "assistant", "content": [{"type": "text", "text": "Now the model."}]}),  # list content
        _with_id(tool("execute_code", {"code": CLASSIFY}), "c1"),            # reused id
        _with_id(tool("validate", {}), "c1"),                                # reused again
        tool("submit", {"final": True}),
    ]
    with ScriptedChatServer(script) as server:
        outcome = run_episode("iris-species", "llm", out_dir=tmp_path, replay=False, max_steps=20,
                              cell_timeout_s=120, agent_kwargs=dict(
                                  base_url=server.base_url, model="m", backoff_s=0.01, max_retries=3))
        requests = list(server.requests)
        left = server.left
    assert outcome.error is None and outcome.valid, outcome
    assert left == 0
    stats = json.loads((outcome.episode_dir / "summary.json").read_text())["agent_stats"]
    assert stats["empty_replies"] == 2 and stats["text_tool_calls"] == 1
    assert stats["cut_replies"] == 1 and stats["renamed_call_ids"] == 2
    last = requests[-1]["body"]["messages"]
    ids = [c["id"] for m in last if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert len(ids) == len(set(ids))                       # every call id unique in what was sent
    assert any("cut off at the output token limit" in (m.get("content") or "") for m in last)
    assert any(m["role"] == "assistant" and m.get("content") == "I will look first." for m in last)


def test_a_search_survives_a_failed_and_an_empty_call(tmp_path: Path) -> None:
    fenced = "```python\n" + DRAFT_GOOD + "\n```"
    script = [say(fenced), error(400), Reply(body={"choices": []}), Reply(body={"choices": []}),
              say(fenced)]
    with ScriptedChatServer(script) as server:
        policy = LLMPolicy(base_url=server.base_url, model="m", max_retries=1, backoff_s=0.01)
        result = run_search("penguins-species", tmp_path, policy, max_nodes=4, num_drafts=2,
                            debug_prob=0.0, time_budget_s=300, cell_timeout_s=120)
    statuses = [n.status for n in result.nodes]
    assert statuses == ["good", "failed", "failed", "good"], [(n.status, n.message) for n in result.nodes]
    assert "HTTP 400" in result.nodes[1].message and "choices" in result.nodes[2].message
    assert result.best is not None and result.best.status == "good"
    assert result.final and result.final.get("valid"), result.final


def test_cli_flags_reach_the_agent(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dojo_nb.cli import app

    script = [Reply(body={"choices": []}), tool("execute_code", {"code": CLASSIFY}), tool("validate", {}),
              tool("submit", {"final": True})]
    with ScriptedChatServer(script) as server:
        result = CliRunner().invoke(app, [
            "run", "--agent", "llm", "--task", "iris-species", "--out", str(tmp_path / "out"), "--no-replay",
            "--max-steps", "10", "--base-url", server.base_url, "--model", "m", "--request-timeout", "30",
            "--max-retries", "1", "--max-context-tokens", "12000"])
        left = server.left
    assert result.exit_code == 0, result.output
    assert left == 0
    stats = json.loads(next((tmp_path / "out").rglob("summary.json")).read_text())["agent_stats"]
    assert stats["context_budget_tokens"] == 12000 - 4096
    assert stats["empty_replies"] == 1 and stats["retries"] == 1
