"""`dojo-nb export sft|rl` on a real baseline episode (real kernel, local sandbox)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dojo_nb.actions import ACTION_TYPES, Action, parse_action
from dojo_nb.cli import app
from dojo_nb.agents.llm import MAX_OBSERVATION_CHARS
from dojo_nb.export import export, load_episode, sft_record, ExportError
from dojo_nb.record.view import agent_observation
from dojo_nb.runners.episodes import run_episode

README = Path(__file__).resolve().parents[2] / "README.md"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "agents-and-export.md"


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One baseline episode on iris, with the observations the agent really saw."""
    seen: list[dict[str, Any]] = []
    out = tmp_path_factory.mktemp("export") / "iris"
    outcome = run_episode("iris-species", "baseline", out_dir=out, replay=False,
                          on_step=lambda task, step, obs, reward, info: seen.append(obs))
    assert outcome.valid, outcome
    summary = json.loads((outcome.episode_dir / "summary.json").read_text())
    return {"dir": outcome.episode_dir, "observations": seen, "summary": summary}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_writes_one_chat_record_per_episode(episode: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    result = CliRunner().invoke(app, ["export", "sft", str(episode["dir"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = _read_jsonl(out)
    assert len(records) == 1
    rec = records[0]
    assert set(rec) == {"messages", "tools", "metadata"}
    msgs = rec["messages"]
    assert [m["role"] for m in msgs[:2]] == ["system", "user"]
    assert "Iris" in msgs[1]["content"] and "INPUT_DIR" in msgs[1]["content"]
    assert [t["function"]["name"] for t in rec["tools"]] == list(ACTION_TYPES)

    # Pairs of (assistant with one tool call, tool result answering it), arguments valid actions.
    pairs = msgs[2:]
    assert len(pairs) % 2 == 0
    actions = []
    for call_msg, result_msg in zip(pairs[0::2], pairs[1::2]):
        assert call_msg["role"] == "assistant" and result_msg["role"] == "tool"
        (call,) = call_msg["tool_calls"]
        assert call["type"] == "function" and result_msg["tool_call_id"] == call["id"]
        args = json.loads(call["function"]["arguments"])
        action = parse_action({"type": call["function"]["name"], **args})
        assert isinstance(action, Action), action
        actions.append((action, result_msg["content"]))

    # The baseline's markdown notes became assistant content; each tool result is what the LLM
    # agent would have been shown for the observation the env really returned (its own renderer).
    summary = episode["summary"]
    obs = episode["observations"]
    shown = [agent_observation(o, MAX_OBSERVATION_CHARS) for o in obs if o["action_type"] != "add_markdown"]
    assert [text for _, text in actions] == shown
    assert msgs[1]["content"].startswith(msgs[1]["content"].split("\n\nTask facts:")[0])
    assert "Task facts:" in msgs[1]["content"] and "Steps left:" in msgs[1]["content"]
    assert any((m.get("content") or "").startswith("**Plan.**") for m in pairs if m["role"] == "assistant")
    assert actions[-1][0].to_dict() == {"type": "submit", "final": True}
    n_markdown = sum(o["action_type"] == "add_markdown" for o in obs)
    assert len(actions) == summary["steps"] - n_markdown

    meta = rec["metadata"]
    assert meta["task"] == "iris-species" and meta["agent"] == "baseline"
    assert meta["score"] == summary["final"]["private_score"] and meta["medal"] == summary["final"]["medal"]
    assert meta["valid"] is True and meta["end_reason"] == "final_submit"


def test_sft_markdown_as_tool_and_arguments_always_strings(episode: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    report = export("sft", [episode["dir"]], out, markdown="tool")
    assert report.records == 1 and not report.failed
    rec = _read_jsonl(out)[0]
    calls = [m["tool_calls"][0]["function"] for m in rec["messages"] if m.get("tool_calls")]
    assert len(calls) == episode["summary"]["steps"]          # every step, markdown included
    assert all(isinstance(c["arguments"], str) for c in calls)
    assert calls[0]["name"] == "add_markdown"
    details = rec["metadata"]["step_details"]                 # durations per step in SFT too
    assert len(details) == episode["summary"]["steps"] and all(d["wall_s"] is not None for d in details)
    with pytest.raises(ValueError, match="always JSON strings"):
        sft_record(load_episode(episode["dir"]), arguments="object")


def test_rl_transitions_follow_the_episode(episode: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "rl.jsonl"
    result = CliRunner().invoke(app, ["export", "rl", str(episode["dir"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _read_jsonl(out)
    summary = episode["summary"]
    assert [r["step"] for r in rows] == list(range(1, summary["steps"] + 1))
    assert {"episode_id", "step", "observation", "action", "reward", "terminated", "truncated"} <= set(rows[0])
    assert sum(r["reward"] for r in rows) == pytest.approx(summary["reward_sum"])
    assert [r["terminated"] for r in rows] == [False] * (len(rows) - 1) + [True]
    assert not any(r["truncated"] for r in rows)
    for prev, nxt in zip(rows, rows[1:]):
        assert nxt["observation"] == prev["next_observation"]
    assert [r["action_type"] for r in rows] == [o["action_type"] for o in episode["observations"]]
    assert "Iris" in rows[0]["observation"]
    assert all(r["durations"]["wall_s"] is not None and r["search"] is None for r in rows)


def test_corrupt_and_missing_episodes_are_skipped_with_a_message(episode: dict[str, Any], tmp_path: Path) -> None:
    torn = tmp_path / "torn"
    shutil.copytree(episode["dir"], torn)
    data = (torn / "trajectory.ipynb").read_bytes()
    (torn / "trajectory.ipynb").write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "sft.jsonl"
    result = CliRunner().invoke(app, ["export", "sft", str(torn), str(episode["dir"]), str(empty),
                                      str(tmp_path / "missing"), "--out", str(out)])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "not a readable notebook" in text and "no trajectory.ipynb" in text and "does not exist" in text
    assert "wrote 1 records from 1 episode(s)" in text and "3 skipped" in text
    assert len(_read_jsonl(out)) == 1                     # the good episode is still exported
    with pytest.raises(ExportError, match="not a readable notebook"):
        load_episode(torn)


def test_a_run_folder_is_searched_for_episodes(episode: dict[str, Any], tmp_path: Path) -> None:
    run = tmp_path / "run"
    for name in ("a", "b"):
        shutil.copytree(episode["dir"], run / name / "ep")
    report = export("rl", [run], tmp_path / "rl.jsonl")
    assert report.episodes == 2 and report.records == 2 * episode["summary"]["steps"]


def test_docs_show_a_record_shaped_like_a_real_export(episode: dict[str, Any], tmp_path: Path) -> None:
    """The records in docs/agents-and-export.md and the README are shortened real ones: same keys, roles, tools."""
    out = tmp_path / "sft.jsonl"
    export("sft", [episode["dir"]], out)
    real = _read_jsonl(out)[0]
    for doc in (DOCS, README):
        block = re.search(r"<!-- sft-record -->\s*```json\n(.*?)\n```", doc.read_text(), re.S)
        assert block, f"{doc.name} lacks the <!-- sft-record --> json block"
        shown = json.loads(block.group(1))
        assert set(shown) == set(real) and set(shown["metadata"]) <= set(real["metadata"])
        assert shown["metadata"]["task"] == real["metadata"]["task"] == "iris-species"
        assert [t["function"]["name"] for t in shown["tools"]] == \
            [t["function"]["name"] for t in real["tools"]][: len(shown["tools"])]
        roles = [m["role"] for m in shown["messages"]]
        assert roles == [m["role"] for m in real["messages"]][: len(roles)]
        for s, r in zip(shown["messages"], real["messages"]):
            assert set(s) == set(r)
            if s.get("tool_calls"):
                assert s["tool_calls"][0]["function"]["name"] == r["tool_calls"][0]["function"]["name"]
