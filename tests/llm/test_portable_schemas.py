"""Tool schemas use only the portable JSON-schema subset; a strict server (llama.cpp-like) takes
them, and the contract's other rules are still enforced on our side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dojo_nb.actions import ACTION_TYPES, PORTABLE_SCHEMA_KEYS, action_schema
from dojo_nb.agents.llm import LLMAgent, tool_definitions
from dojo_nb.runners.episodes import run_episode
from tests.llm.server import ScriptedChatServer, tool
from tests.llm.strict_schema import ALLOWED, SchemaRejected, check_tools, to_grammar

CLASSIFY = """\
import os
import pandas as pd
from sklearn.linear_model import LogisticRegression
train = pd.read_csv(os.path.join(INPUT_DIR, "train.csv"))
test = pd.read_csv(os.path.join(INPUT_DIR, "test.csv"))
features = [c for c in test.columns if c != "id" and pd.api.types.is_numeric_dtype(test[c])]
model = LogisticRegression(max_iter=500).fit(train[features].fillna(0), train["species"])
pd.DataFrame({"id": test["id"], "species": model.predict(test[features].fillna(0))}).to_csv(SUBMISSION_PATH, index=False)
print("wrote", len(test))
"""


def test_the_converter_is_strict() -> None:
    for bad in ({"type": "string", "pattern": r"\S"}, {"type": "string", "minLength": 1},
                {"type": "string", "format": "date"}, {"oneOf": [{"type": "string"}]},
                {"anyOf": [{"type": "string"}]}, {"type": "integer", "minimum": 0},
                {"type": "object", "properties": {"a": {"const": "x"}}}):
        with pytest.raises(SchemaRejected):
            to_grammar(bad)
    with pytest.raises(SchemaRejected):  # the old tool schemas carried pattern/minLength
        to_grammar({k: v for k, v in action_schema("execute_code").items() if not k.startswith("$")
                    and k not in ("title",)})


def test_every_tool_converts_and_uses_the_subset_only() -> None:
    assert PORTABLE_SCHEMA_KEYS == ALLOWED
    tools = tool_definitions()
    assert [t["function"]["name"] for t in tools] == list(ACTION_TYPES)
    assert check_tools(tools) is None
    for t in tools:
        assert "grammar" not in json.dumps(t)
        to_grammar(t["function"]["parameters"])
    code = tools[0]["function"]["parameters"]["properties"]["code"]
    assert "must not be empty" in code["description"]


def test_rules_the_schema_no_longer_states_are_checked_here() -> None:
    agent = LLMAgent("http://127.0.0.1:9/v1", "m")
    assert "empty" in agent._to_action("execute_code", '{"code": "   "}')[1]
    assert ">= 0" in agent._to_action("run_cell", '{"cell_index": -1}')[1]
    assert agent._to_action("submit", "{}")[0] == {"type": "submit", "final": False}


def test_an_episode_against_a_strict_schema_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOJO_NB_API_KEY", "sk-test-strict")
    script = [tool("execute_code", {"code": CLASSIFY}), tool("validate", {}), tool("submit", {"final": True})]
    with ScriptedChatServer(script, check_request=lambda body: check_tools(body.get("tools"))) as server:
        outcome = run_episode("iris-species", "llm", out_dir=tmp_path, replay=False, max_steps=10,
                              cell_timeout_s=120, agent_kwargs={"base_url": server.base_url, "model": "m"})
        statuses = [r for r in server.requests]
        left = server.left
    assert outcome.error is None and outcome.valid, outcome
    assert left == 0 and len(statuses) == 3
