"""Context budgeting on real kernels: a server whose window is smaller than the agent was told
(context-length 400, then compaction and a retry), a 200 KB cell, and compaction that keeps
the prefix stable and what the dropped turns taught. Every episode ends with a valid submission."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from dojo_nb.agents.llm_context import ContextWindow, Memory, TokenCounter
from dojo_nb.runners.episodes import run_episode
from tests.llm.server import ScriptedChatServer, tool
from tests.llm.test_portable_schemas import CLASSIFY

_DIGIT = re.compile(r"\d")
TABLE = "import numpy as np\nnp.set_printoptions(threshold=10**6)\nprint(np.random.RandomState({i}).rand(40, 6))"


def strict_count(body: Any) -> int:
    """A tokenizer that counts more than the agent's first guess: chars / 2.5, one per digit."""
    text = json.dumps(body, ensure_ascii=False)
    digits = len(_DIGIT.findall(text))
    return math.ceil((len(text) - digits) / 2.5) + digits


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOJO_NB_API_KEY", "sk-test-context")


def _episode(tmp_path: Path, script: list, check: Any = None, **agent: Any):
    with ScriptedChatServer(script, check_request=check) as server:
        outcome = run_episode("iris-species", "llm", out_dir=tmp_path, replay=False, max_steps=30,
                              cell_timeout_s=120, agent_kwargs=dict(base_url=server.base_url, model="m",
                                                                    backoff_s=0.01, **agent))
        return outcome, list(server.requests), server.left


def test_a_context_length_400_compacts_and_retries(tmp_path: Path) -> None:
    window = 9000

    def refuse(body: dict[str, Any]) -> str | None:
        n = strict_count(body.get("tools")) + sum(strict_count(m) for m in body["messages"])
        if n > window:
            return (f"This model's maximum context length is {window} tokens. However, you requested "
                    f"{n} tokens in the messages. Please reduce the length of the messages.")
        return None

    script = [tool("execute_code", {"code": TABLE.format(i=i)}) for i in range(8)]
    script += [tool("execute_code", {"code": CLASSIFY}), tool("validate", {}), tool("submit", {"final": True})]
    outcome, requests, left = _episode(tmp_path, script, refuse, max_context_tokens=32_000)
    assert outcome.error is None and outcome.valid, outcome
    assert left == 0
    stats = json.loads((outcome.episode_dir / "summary.json").read_text())["agent_stats"]
    assert stats["context_overflows"] >= 1 and stats["model_errors"] == 0
    assert stats["context_budget_tokens"] <= window and stats["compactions"] >= 1
    summaries = [m["content"] for m in requests[-1]["body"]["messages"] if m["role"] == "user"
                 and (m.get("content") or "").startswith("[Context budget")]
    assert summaries and "execute_code ok x" in summaries[0]
    assert "variables defined" in summaries[0] and "np" in summaries[0]


def test_a_200_kb_cell_runs_whole_and_is_cut_in_the_history(tmp_path: Path) -> None:
    big = "DATA = '" + "0123456789abcdef" * 12_800 + "'\nprint('chars', len(DATA))\nprint(DATA)"
    assert len(big) > 200_000
    script = [tool("execute_code", {"code": big}), tool("execute_code", {"code": CLASSIFY}),
              tool("validate", {}), tool("submit", {"final": True})]
    outcome, requests, left = _episode(tmp_path, script, max_context_tokens=16_000)
    assert outcome.error is None and outcome.valid, outcome
    nb = nbformat.read(outcome.episode_dir / "trajectory.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "DATA = '" in c.source)
    assert len(cell.source) == len(big)                                   # the whole cell ran
    assert "chars 204800" in "".join(o.get("text", "") for o in cell.outputs)
    counter = TokenCounter()
    for q in requests[1:]:
        body = q["body"]
        assert len(json.dumps(body)) < 120_000
        assert max(counter.raw(m) for m in body["messages"]) <= 0.25 * (16_000 - 4_096) / 0.8 + 10
    sent = requests[1]["body"]["messages"]
    args = next(m for m in sent if m["role"] == "assistant")["tool_calls"][0]["function"]["arguments"]
    assert "characters cut" in json.loads(args)["code"]                 # cut, and saying so
    stats = json.loads((outcome.episode_dir / "summary.json").read_text())["agent_stats"]
    assert stats["cut_messages"] >= 1 and stats["prefix_share"] is not None


def test_compaction_is_chunked_and_keeps_the_prefix_stable() -> None:
    ctx = ContextWindow(4000)
    ctx.head = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}]
    prompts = []
    for i in range(30):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "execute_code", "arguments": "{}"}}
        ctx.turns.append([{"role": "assistant", "content": None, "tool_calls": [call], "_steps": ["execute_code ok"]},
                          {"role": "tool", "tool_call_id": f"c{i}", "content": "x" * 1500}])
        ctx.memory.observe({"type": "execute_code", "code": f"v{i} = 1\ndf.to_csv(os.path.join(WORKING_DIR, 'f{i}.csv'))"},
                           {"status": "ok", "text": f"CV accuracy 0.{50 + i}", "cell_index": i})
        prompts.append(ctx.prompt())
    summaries = {p[2]["content"] for p in prompts if len(p) > 2 and p[2]["role"] == "user"}
    assert 1 <= ctx.stats["compactions"] == len(summaries) < ctx.stats["dropped_turns"]
    assert ctx.prefix_share() is not None and ctx.prefix_share() > 0.6
    last = prompts[-1][2]["content"]
    assert re.search(r"best validation score seen: 0\.7\d", last) and "f20.csv" in last and "v0," in last
    for p in prompts:
        assert ctx.total(p, None) <= 4000


def test_memory_tracks_errors_fixed_submissions_and_restarts() -> None:
    m = Memory(lower_is_better=True)
    m.observe({"type": "execute_code", "code": "x = 1"}, {"status": "ok", "text": "val rmse 3.5", "cell_index": 1})
    m.observe({"type": "execute_code", "code": "y"}, {"status": "error", "cell_index": 2,
                                                      "error": {"ename": "NameError", "evalue": "y"}})
    m.observe({"type": "edit_cell", "code": "y = 2"}, {"status": "ok", "text": "val rmse 2.5", "cell_index": 3})
    m.observe({"type": "submit"}, {"status": "ok", "cell_index": 4, "grading": {"valid": True, "public_score": 2.6}})
    text = "\n".join(m.summary())
    assert "2.5 (cell 3" in text and "NameError: y (cell 2) -> fixed by cell 3" in text
    assert "public_score=2.6" in text and "x, y" in text
    m.observe({"type": "restart_kernel"}, {"status": "ok"})
    assert "variables" not in "\n".join(m.summary())


def test_the_benchmark_compaction_beats_dropping() -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "llm_context.py"
    spec = importlib.util.spec_from_file_location("llm_context_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    drop, summary = bench.run("drop", 40, 32_000), bench.run("summary", 40, 32_000)
    assert drop["over_window"] == summary["over_window"] == 0
    assert summary["prefix_share"] > 2 * drop["prefix_share"]
    assert summary["uncached_prompt_tokens"] < 0.5 * drop["uncached_prompt_tokens"]
    assert summary["prompt_tokens_total"] < drop["prompt_tokens_total"]
    assert abs(summary["agent_prefix_share"] - summary["prefix_share"]) < 0.02  # agent_stats tells the truth


def test_counter_calibrates_on_the_server_and_takes_a_local_tokenizer() -> None:
    c = TokenCounter()
    assert c.raw("1234567890") == 10 + 4             # a digit is a token (Qwen-like splitting)
    c.calibrate(1000, 1500)
    assert c.count("x" * 360) == math.ceil((100 + 4) * 1.5 * 1.05)
    c.calibrate(1000, 10)                            # not this request's count: ignored
    assert len(c.ratios) == 1
    words = TokenCounter(tokenize=lambda s: len(s.split()))
    assert words.raw("a b c") == 3 + 4
    ctx = ContextWindow(2000, tokenize=lambda s: len(s) // 10)
    assert "local tokenizer" in ctx.counter.describe()
