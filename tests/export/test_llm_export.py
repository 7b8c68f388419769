"""An LLM episode exports exactly what its model saw: the SFT messages are the request bodies the
(scripted, real HTTP) server received, plus the reply; injected actions never appear as model turns;
search-free ids are unique; per-step durations are in both exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dojo_nb.export import export, load_episode
from dojo_nb.runners.episodes import run_episode
from tests.llm.server import Reply, ScriptedChatServer, tool
from tests.llm.test_llm_episodes import CLASSIFY, LOOK

NOISY = "print('\\n'.join(f'row {i}: ' + '7' * 60 for i in range(60)))"


def _reply_message(reply: Reply) -> dict[str, Any]:
    assert isinstance(reply.body, dict)
    return reply.body["choices"][0]["message"]


def _episode(tmp_path: Path, script: list[Reply], **agent: Any) -> tuple[Path, list[dict[str, Any]]]:
    with ScriptedChatServer(list(script)) as server:
        kwargs = {"base_url": server.base_url, "model": "scripted", "timeout_s": 5.0, "backoff_s": 0.05,
                  "max_retries": 1, **agent}
        outcome = run_episode("iris-species", "llm", out_dir=tmp_path / "ep", replay=False, max_steps=30,
                              cell_timeout_s=120, agent_kwargs=kwargs)
        requests = [q["body"] for q in server.requests]
    assert outcome.error is None and outcome.valid, outcome
    return outcome.episode_dir, requests


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_messages_are_the_request_bodies_the_server_received(tmp_path: Path) -> None:
    script = [tool("request_info", {"what": "metric"}, text="First the metric."),
              tool("execute_code", {"code": LOOK}),
              tool("execute_code", {"code": CLASSIFY}, text="Gradient boosting on the measurements."),
              tool("validate", {}),
              tool("submit", {"final": True}, text="Submitting.")]
    root, requests = _episode(tmp_path, script)
    assert len(requests) == 5
    calls = [line for line in _jsonl(root / "model_calls.jsonl") if line.get("kind") == "call"]
    assert len(calls) == 5 and all(c["elapsed_s"] >= 0 for c in calls)  # each call's time is kept
    report = export("sft", [root], tmp_path / "sft.jsonl")
    assert report.records == 1 and not report.failed
    (rec,) = _jsonl(tmp_path / "sft.jsonl")
    # Identical: the last request's messages, then the model's final reply; the tools as sent.
    assert rec["messages"] == requests[-1]["messages"] + [_reply_message(script[-1])]
    assert rec["tools"] == requests[-1]["tools"]
    # One conversation: every earlier request, plus its reply, is where the record begins.
    for body, reply in zip(requests, script):
        n = len(body["messages"])
        assert rec["messages"][:n + 1] == body["messages"] + [_reply_message(reply)]
    # What the old export lost is there: task facts, the tool results' header, the grading.
    assert "Task facts:" in rec["messages"][1]["content"] and "Steps left: 30" in rec["messages"][1]["content"]
    tool_texts = [m["content"] for m in rec["messages"] if m["role"] == "tool"]
    assert all(t.startswith("status: ") and "steps left" in t for t in tool_texts)
    assert any(t.startswith("status: ok\ngrading: ") for t in tool_texts)
    assert all(isinstance(c["function"]["arguments"], str)
               for m in rec["messages"] for c in m.get("tool_calls") or [])

    meta = rec["metadata"]
    assert meta["messages_from"] == "model_calls.jsonl" and meta["injected"] == []
    assert meta["episode_id"] == f"iris-species/{meta['run_id']}/{root.name}"
    details = meta["step_details"]
    assert [d["step"] for d in details] == list(range(1, len(details) + 1))
    assert all(d["wall_s"] is not None and d["kernel_cpu_s"] is not None for d in details)
    called = [c["id"] for m in rec["messages"] for c in m.get("tool_calls") or []]
    assert [d["tool_call_id"] for d in details if d["tool_call_id"]] == called

    export("rl", [root], tmp_path / "rl.jsonl")
    rows = _jsonl(tmp_path / "rl.jsonl")
    assert [r["step"] for r in rows] == [d["step"] for d in details]
    assert all(r["durations"]["wall_s"] is not None for r in rows)
    assert [r["tool_call_id"] for r in rows if r["tool_call_id"]] == called


def test_injected_failure_text_is_no_model_turn(tmp_path: Path) -> None:
    # After the validate the script is exhausted: the server answers 400, the agent writes a note
    # and submits by itself. Neither is the model's; the record ends at the model's last reply.
    script = [tool("execute_code", {"code": CLASSIFY}), tool("validate", {})]
    root, requests = _episode(tmp_path, script)
    recs = load_episode(root)
    from dojo_nb.export import sft_records

    (rec,) = sft_records(recs)
    assert rec["messages"] == requests[1]["messages"] + [_reply_message(script[-1])]
    injected = rec["metadata"]["injected"]
    assert [a["type"] for a in injected] == ["add_markdown", "submit"]
    assert all(a["injected"] == "the model could not be reached" for a in injected)
    assert not any("could not be reached" in (m.get("content") or "") for m in rec["messages"])
    marked = [d for d in rec["metadata"]["step_details"] if d["injected"]]
    assert [d["action_type"] for d in marked] == ["add_markdown", "submit"]


def test_compacted_episode_exports_every_reply_once_per_conversation(tmp_path: Path) -> None:
    script = [tool("execute_code", {"code": NOISY}, text=f"Look {i}.") for i in range(8)]
    script += [tool("execute_code", {"code": CLASSIFY}), tool("validate", {}), tool("submit", {"final": True})]
    root, requests = _episode(tmp_path, script, max_context_tokens=5000, reply_reserve_tokens=1000,
                              max_observation_chars=3000)
    assert any("[Context budget" in (m.get("content") or "") for b in requests for m in b["messages"])
    report = export("sft", [root], tmp_path / "sft.jsonl")
    recs = _jsonl(tmp_path / "sft.jsonl")
    assert report.records == len(recs) > 1
    for body, reply in zip(requests, script):  # each request + its reply begins some record
        conv = body["messages"] + [_reply_message(reply)]
        assert any(r["messages"][:len(conv)] == conv for r in recs)
    for r in recs:  # and each record is one request + its reply, exactly
        assert any(r["messages"] == b["messages"] + [_reply_message(s)] for b, s in zip(requests, script))
    assert len({r["metadata"]["episode_id"] for r in recs}) == 1
    assert [r["metadata"]["conversation"] for r in recs] == list(range(len(recs)))
