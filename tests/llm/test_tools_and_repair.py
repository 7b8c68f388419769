"""Tool definitions come from the action contract; tool-call arguments are repaired only when clear."""

from __future__ import annotations

import json

import pytest

from dojo_nb.actions import ACTION_FIELDS, ACTION_TYPES
from dojo_nb.agents.llm import LLMAgent, estimate_tokens, parse_arguments, tool_definitions, truncate_middle


def test_one_tool_per_action_type_with_the_contract_fields() -> None:
    tools = tool_definitions()
    assert [t["function"]["name"] for t in tools] == list(ACTION_TYPES)
    for t in tools:
        purpose, fields = ACTION_FIELDS[t["function"]["name"]]
        params = t["function"]["parameters"]
        assert t["function"]["description"] == purpose
        assert set(params["properties"]) == set(fields)
        assert set(params["required"]) == {n for n, f in fields.items() if f.required}
        assert params["additionalProperties"] is False
    req = next(t for t in tools if t["function"]["name"] == "request_info")
    assert req["function"]["parameters"]["properties"]["what"]["enum"] == list(ACTION_FIELDS["request_info"][1]["what"].choices)


@pytest.mark.parametrize("raw, expected, repaired", [
    ('{"code": "print(1)"}', {"code": "print(1)"}, False),
    ("", {}, False),
    ('{"code": "a = 1\nprint(a)"}', {"code": "a = 1\nprint(a)"}, True),           # raw newline
    ('```json\n{"final": true}\n```', {"final": True}, True),                       # fenced
    ('{"what": "data",}', {"what": "data"}, True),                                  # trailing comma
    ("{'final': True}", {"final": True}, True),                                     # Python literal
    (json.dumps(json.dumps({"what": "metric"})), {"what": "metric"}, True),         # double-encoded
    ('Sure! {"code": "x = 2"} hope this helps', {"code": "x = 2"}, True),           # chatter around it
])
def test_lenient_repairs(raw: str, expected: dict, repaired: bool) -> None:
    assert parse_arguments(raw) == (expected, repaired)


@pytest.mark.parametrize("raw", ['{"code": "print(1)', "[1, 2]", "nonsense", '{"code": }'])
def test_hopeless_arguments_are_reported(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_arguments(raw)


def test_contract_violations_are_caught_before_the_env() -> None:
    agent = LLMAgent("http://127.0.0.1:9/v1", "m")
    assert agent._to_action("submit", '{"final": "yes"}')[1] == "submit.final must be true or false, got string"
    assert "unknown field(s) 'cod'" in agent._to_action("execute_code", '{"cod": "1"}')[1]
    assert "unknown tool 'shell'" in agent._to_action("shell", "{}")[1]
    assert agent._to_action("validate", "") == ({"type": "validate"}, None, False)


def test_truncation_and_estimate() -> None:
    text = "a" * 600 + "b" * 400
    cut = truncate_middle(text, 100)
    assert cut.startswith("a" * 60) and cut.endswith("b" * 40) and "[900 characters cut]" in cut
    assert truncate_middle("short", 100) == "short"
    assert estimate_tokens({"role": "user", "content": "x" * 400}) == 4 + -(-len(json.dumps({"role": "user", "content": "x" * 400})) // 4)
