"""The search agent on a real task with real kernels (local backend), driven by a scripted policy."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.driver_processes import driver_kernels

from dojo_nb.agents.search import (Node, ScriptedPolicy, TreeSearch, best_node, extract_code,
                                   parse_score, run_search)
from dojo_nb.record.metadata import CellMeta, EpisodeMeta
from tests.search.cells import DEBUG_LIAR, DRAFT_BUGGY, DRAFT_GOOD, IMPROVE

TASK = "penguins-species"  # log loss: lower is better


_kernels = driver_kernels


def test_parse_score_takes_the_last_finite_line() -> None:
    assert parse_score("fold 1\nVALIDATION_SCORE: 0.5\nVALIDATION_SCORE = 1e-3\n") == pytest.approx(1e-3)
    assert parse_score("VALIDATION_SCORE: -2.5 (neg rmse)") == -2.5
    assert parse_score("no score here") is None
    assert parse_score("VALIDATION_SCORE: nan") is None


def test_best_node_follows_the_metric_direction_and_skips_buggy() -> None:
    nodes = [Node("a", None, "draft", "", score=0.2, status="good"),
             Node("b", None, "draft", "", score=0.1, status="good"),
             Node("c", None, "draft", "", score=0.0, status="buggy")]
    assert best_node(nodes, lower_is_better=True).id == "b"
    assert best_node(nodes, lower_is_better=False).id == "a"
    assert best_node(nodes[2:], lower_is_better=True) is None


def test_extract_code_from_a_chat_reply() -> None:
    reply = "Here it is:\n```python\nprint('VALIDATION_SCORE: 1')\n```\nGood luck."
    assert extract_code(reply) == "print('VALIDATION_SCORE: 1')"


@pytest.mark.slow
def test_tree_search_drafts_debugs_improves_and_chooses_by_own_score(tmp_path: Path) -> None:
    before = _kernels()
    policy = ScriptedPolicy(drafts=[DRAFT_GOOD, DRAFT_BUGGY], debugs=[DEBUG_LIAR], improves=[IMPROVE])
    result = run_search(TASK, tmp_path, policy, max_nodes=4, num_drafts=2, debug_prob=1.0,
                        time_budget_s=300, cell_timeout_s=120)
    by_stage = {n.stage: [m for m in result.nodes if m.stage == n.stage] for n in result.nodes}
    assert [n.stage for n in result.nodes] == ["draft", "draft", "debug", "improve"]
    good, buggy = by_stage["draft"]
    debug, improve = by_stage["debug"][0], by_stage["improve"][0]
    assert good.status == "good" and good.score is not None and good.score > 0.0001
    assert buggy.status == "buggy" and buggy.error["ename"] == "KeyError"
    # The buggy node got debugged: the debug node is its child and the policy saw it as parent.
    assert debug.parent == buggy.id and buggy.children == [debug.id] and debug.status == "good"
    assert ("debug", buggy.id) in policy.asked
    # The improve node forked the best node (the liar): its live kernel was forked, no cell re-ran,
    # so the variable the liar's cell defined exists in the child.
    assert improve.parent == debug.id and improve.status == "good", improve.message
    assert "parent token: token-of-the-liar" in improve.output
    assert improve.cells == [DEBUG_LIAR, IMPROVE]
    improve_nb = nbformat.read(Path(improve.episode_dir) / "trajectory.ipynb", as_version=4)
    assert EpisodeMeta.of(improve_nb).fork["method"] == "fork"
    assert EpisodeMeta.of(improve_nb).fork["parent_episode"] == debug.episode_dir
    ran = [c for c in improve_nb.cells if c.cell_type == "code" and c.source == DEBUG_LIAR]
    assert len(ran) == 1 and CellMeta.of(ran[0]).step == 2  # the parent's own cell (its step), not a re-run

    # Journal: one line per node, with the fields a reader needs.
    lines = [json.loads(x) for x in result.journal_path.read_text().splitlines()]
    assert [x["id"] for x in lines] == [n.id for n in result.nodes]
    for rec, node in zip(lines, result.nodes):
        assert {"id", "parent", "stage", "cells", "score", "status", "episode_dir"} <= set(rec)
        nb = nbformat.read(Path(rec["episode_dir"]) / "trajectory.ipynb", as_version=4)
        assert any(c.source == node.code for c in nb.cells)  # each node's notebook is saved
    search = json.loads((result.root / "search.json").read_text())
    assert search["best"] == debug.id and search["stop_reason"] == "max_nodes"

    # The choice is the best SELF-MEASURED score, although its hidden score is the worst.
    def hidden(node: Node) -> float:
        return json.loads((Path(node.episode_dir) / "summary.json").read_text())["final"]["private_score"]

    assert result.best is not None and result.best.id == debug.id
    assert hidden(debug) > hidden(good)  # log loss: the liar's uniform guess is worse
    assert result.final is not None and result.final["valid"] is True
    assert result.final["private_score"] == pytest.approx(hidden(debug))
    final_nb = nbformat.read(result.final_dir / "trajectory.ipynb", as_version=4)
    assert [c.source for c in final_nb.cells if c.cell_type == "code"][1:] == [DEBUG_LIAR]
    assert _kernels() <= before  # every node's kernel is gone


@pytest.mark.slow
def test_search_agent_through_the_runner(tmp_path: Path) -> None:
    """`dojo-nb run --agent search`: the runner's episode holds the chosen solution, the tree beside it."""
    from dojo_nb.agents import load_agent
    from dojo_nb.agents.search import SearchAgent
    from dojo_nb.runners.episodes import run_episode

    assert isinstance(load_agent("search", policy=ScriptedPolicy([DRAFT_GOOD])), SearchAgent)
    policy = ScriptedPolicy(drafts=[DRAFT_GOOD])
    outcome = run_episode(TASK, "search", out_dir=tmp_path / "ep", replay=True, max_steps=10,
                          cell_timeout_s=120, episode_timeout_s=600,
                          agent_kwargs={"policy": policy, "max_nodes": 3})
    assert outcome.error is None and outcome.valid, outcome.final
    assert outcome.replay and outcome.replay.get("reproduced"), outcome.replay
    search = json.loads((outcome.episode_dir / "search" / "search.json").read_text())
    assert search["n_nodes"] == 1 and search["stop_reason"] == "policy_exhausted"
    summary = json.loads((outcome.episode_dir / "summary.json").read_text())
    assert summary["agent"] == "search" and summary["final"]["valid"]
    nb = nbformat.read(outcome.episode_dir / "trajectory.ipynb", as_version=4)
    assert DRAFT_GOOD in [c.source for c in nb.cells]


def test_next_step_without_kernels() -> None:
    """The policy order: drafts first, then debug a buggy leaf, else improve the best."""
    s = TreeSearch(TASK, "/nonexistent-unused", ScriptedPolicy([]), num_drafts=1, debug_prob=1.0)
    assert s.next_step() == ("draft", None)
    s.nodes = [Node("0", None, "draft", "", status="buggy")]
    stage, parent = s.next_step()
    assert stage == "debug" and parent.id == "0"
    s.nodes[0].children = ["1"]
    s.nodes.append(Node("1", "0", "debug", "", status="good", score=0.3, debug_depth=1))
    stage, parent = s.next_step()
    assert stage == "improve" and parent.id == "1"


class _ScriptedChat:
    """Stands in for the LLM agent's ChatClient: same call shape, a scripted model's replies."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.seen: list[list[dict]] = []

    def complete(self, messages: list[dict], tools: list | None = None):  # noqa: ANN201
        self.seen.append(messages)
        reply = self.replies.pop(0)
        return type("Response", (), {"message": {"role": "assistant", "content": reply}})()


@pytest.mark.slow
def test_llm_policy_prompts_and_runs_the_reply(tmp_path: Path) -> None:
    from dojo_nb.agents.search import LLMPolicy

    chat = _ScriptedChat([f"A logistic regression first.\n```python\n{DRAFT_GOOD}```\n"])
    result = TreeSearch(TASK, tmp_path, LLMPolicy(client=chat), max_nodes=1, num_drafts=1,
                        cell_timeout_s=120).run()
    assert [n.status for n in result.nodes] == ["good"] and result.best is result.nodes[0]
    system, user = chat.seen[0]
    assert "VALIDATION_SCORE" in system["content"] and "SUBMISSION_PATH" in system["content"]
    assert "log_loss (lower is better)" in user["content"] and "# Ask" in user["content"]
