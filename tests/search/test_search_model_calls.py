"""The search's LLM policy logs every model call in ``search/model_calls.jsonl``: one line per call
with the request as the (scripted, real HTTP) server received it, the reply or the error, its
timing and the node it was for; export can turn a node's call into that node's SFT record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from dojo_nb.agents.search import SearchResult, run_search
from dojo_nb.agents.search_policies import LLMPolicy
from dojo_nb.cli import app
from dojo_nb.export import load_episode, sft_records
from dojo_nb.record import layout
from dojo_nb.record.model_calls import read_model_calls
from tests.llm.server import Reply, ScriptedChatServer, error, say
from tests.search.cells import DRAFT_GOOD, IMPROVE

TASK = "penguins-species"


def _fenced(code: str) -> Reply:
    return say(f"One cell:\n```python\n{code.rstrip()}\n```\n")


@dataclass
class _Search:
    result: SearchResult
    script: list[Reply]
    bodies: list[dict[str, Any]]   # every request body the server received, in order

    @property
    def folder(self) -> Path:
        return self.result.root

    def reply(self, i: int) -> dict[str, Any]:
        assert isinstance(self.script[i].body, dict)
        return self.script[i].body["choices"][0]["message"]


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Search]:
    """Two drafts (the second one's call fails: HTTP 400), then an improve of the good draft."""
    script = [_fenced(DRAFT_GOOD), error(400), _fenced(IMPROVE)]
    with pytest.MonkeyPatch.context() as mp, ScriptedChatServer(list(script)) as server:
        mp.setenv("DOJO_NB_API_KEY", "sk-test-search-log")
        policy = LLMPolicy(base_url=server.base_url, model="m", max_retries=1, backoff_s=0.01)
        result = run_search(TASK, tmp_path_factory.mktemp("search-log"), policy, final=False, max_nodes=3,
                            num_drafts=2, debug_prob=0.0, time_budget_s=300, cell_timeout_s=120)
        bodies = [q["body"] for q in server.requests]
    assert [(n.id, n.status) for n in result.nodes] == [
        ("000-draft", "good"), ("001-draft", "failed"), ("002-improve", "good")], \
        [(n.id, n.status, n.message) for n in result.nodes]
    yield _Search(result, script, bodies)


def test_one_well_formed_line_per_model_call_with_its_node(search: _Search) -> None:
    lines = [json.loads(line) for line in (search.folder / layout.SEARCH_MODEL_CALLS).read_text().splitlines()]
    assert len(lines) == len(search.bodies) == 3
    assert [(x["kind"], x["call"], x["node"], x["stage"], x["parent"]) for x in lines] == [
        ("call", 1, "000-draft", "draft", None), ("call", 2, "001-draft", "draft", None),
        ("call", 3, "002-improve", "improve", "000-draft")]
    assert all(isinstance(x["elapsed_s"], float) and x["elapsed_s"] >= 0 for x in lines)
    assert lines[0]["reply"] == search.reply(0) and lines[2]["reply"] == search.reply(2)
    assert lines[0]["usage"] == {"prompt_tokens": 50, "completion_tokens": 10}
    assert lines[1]["reply"] is None and "400" in lines[1]["error"]
    # Read back, every request is the body the server received (the system prompt is shared).
    logged = read_model_calls(search.folder, layout.SEARCH_MODEL_CALLS)
    assert logged is not None and logged.problem is None
    assert [c.messages for c in logged.calls] == [b["messages"] for b in search.bodies]
    assert [c.fields["node"] for c in logged.calls] == ["000-draft", "001-draft", "002-improve"]
    assert lines[1]["shared"] == 1 and lines[2]["shared"] == 1
    summary = json.loads((search.folder / layout.SEARCH_SUMMARY).read_text())
    assert summary["policy_stats"] == {"calls": 2, "model_calls_logged": 3, "model_calls_log_problem": None}


def test_export_reads_a_node_s_call_only_when_asked(search: _Search, tmp_path: Path) -> None:
    improve = load_episode(search.folder / layout.SEARCH_NODES / "002-improve")
    (rec,) = sft_records(improve, search_calls=True)
    assert rec["messages"] == search.bodies[2]["messages"] + [search.reply(2)]
    assert rec["tools"] is None and rec["metadata"]["messages_from"] == "search/model_calls.jsonl"
    assert rec["metadata"]["search"]["node"] == "002-improve" and rec["metadata"]["call"] == 3
    assert rec["metadata"]["model_call"]["finish_reason"] == "stop"
    assert sft_records(improve)[-1]["metadata"]["messages_from"] == "rendered"  # off by default
    result = CliRunner().invoke(app, ["export", "sft", str(search.folder), "--out", str(tmp_path / "sft.jsonl"),
                                      "--search-calls"])
    assert result.exit_code == 0 and "wrote 2 records from 2 episode(s)" in result.output, result.output
    rows = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]  # no failed draft
    assert sorted(r["metadata"]["search"]["node"] for r in rows) == ["000-draft", "002-improve"]
    assert all(r["metadata"]["messages_from"] == "search/model_calls.jsonl" for r in rows)
