"""The LLM agent's context window: counting a whole request, capping messages, compacting.

Why it exists: real windows are small (a 32k llama.cpp server) and real tokenizers count more
than ``chars / 4`` (digit-dense tables and code: 1.2-2x; Qwen splits every digit), while
tools add hundreds of tokens to every call. So:

- `TokenCounter` counts the *whole request* (tools + every message) conservatively: non-digit
  characters / 3.6, one token per digit, 4 per message; then scales by the worst ratio of the
  server's own ``usage.prompt_tokens`` to that estimate over the last calls (calibrated online).
- No single message may take more than `message_share` of the window: a longer tool result,
  note or code argument is cut head-and-tail by `truncate_middle` (the project's one
  truncation, which says how much it cut), once, when it enters the history.
- `ContextWindow` keeps the stable prefix (system + task) and the turns. When the prompt is
  over budget it drops a *chunk* of the oldest turns (down to `low_water` of the budget) and
  puts one summary block right after the prefix: what the dropped turns taught (`Memory`). The
  block is rewritten only when another chunk goes, so between drops each prompt extends the
  previous one and the server's prompt cache keeps hitting. `prefix_share` measures it: the
  share of each request's tokens that the previous request began with.
- At a compaction the tool results of older kept turns also shrink (head and tail, to
  `old_result_share` of the window; the newest `keep_full` turns stay whole): the prefix after
  the head changes then anyway, so this costs no extra cache miss and more turns fit.
- ``compaction="drop"`` keeps the old rule (drop one turn at a time, a note that changes on every
  call) for comparison (`benchmarks/llm_context.py`).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import deque
from typing import Any, Callable, Iterable

from dojo_nb import python_ast
from dojo_nb.kernel.render import truncate_middle

_DIGIT = re.compile(r"\d")
_SCORE = re.compile(r"(?i)\b(cv|cross[- ]?val\w*|val\w*|hold[- ]?out|oof|accuracy|auc|rmse|mae|f1|"
                    r"log ?loss|r2|score)\b[^\n]{0,60}?([-+]?\d*\.\d+(?:[eE][-+]?\d+)?)")
_WORKING_FILE = re.compile(r"""WORKING_DIR\s*(?:,|\)?\s*/|\}/?)\s*[fr]?["']([^"'\n{}]{1,120})["']""")
CHARS_PER_TOKEN = 3.6


class TokenCounter:
    """Conservative tokens of messages and tools, scaled by what the server reported."""

    def __init__(self, window: int = 8, tokenize: Callable[[str], int] | None = None) -> None:
        self.ratios: deque[float] = deque(maxlen=window)
        self.bumps = 1.0  # raised on each context-overflow error
        self.tokenize = tokenize  # a local tokenizer's count, when the caller has one

    def raw(self, obj: Any) -> int:
        """The unscaled estimate of one message (or the tool list) as JSON."""
        text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
        if self.tokenize is not None:
            return int(self.tokenize(text)) + 4
        digits = len(_DIGIT.findall(text))
        return math.ceil((len(text) - digits) / CHARS_PER_TOKEN) + digits + 4

    @property
    def scale(self) -> float:
        """The worst recent ratio plus 5%, never below 0.8: a server's count may be wrong, and
        undercounting costs a 400 while overcounting only costs a little context."""
        base = max(self.ratios) * 1.05 if self.ratios else 1.0
        return min(4.0, max(0.8, base)) * self.bumps

    def count(self, obj: Any) -> int:
        return math.ceil(self.raw(obj) * self.scale)

    def calibrate(self, raw_request: int, prompt_tokens: int) -> None:
        """One observation: the server counted `prompt_tokens` for a request estimated `raw_request`."""
        if raw_request > 0 and prompt_tokens > 0 and 0.2 <= prompt_tokens / raw_request <= 5.0:
            self.ratios.append(prompt_tokens / raw_request)  # outside that range: not this request's count

    def describe(self) -> str:
        rule = "local tokenizer" if self.tokenize else f"non-digit chars / {CHARS_PER_TOKEN} + digits"
        return (f"({rule} + 4 per message) x {self.scale:.3f} "
                f"(calibrated on {len(self.ratios)} server counts)")


def cap_message(msg: dict[str, Any], max_tokens: int, counter: TokenCounter) -> bool:
    """Cut `msg` in place so it counts at most `max_tokens` (a few passes: the cut is proportional,
    the count is not quite); True if it was cut."""
    cut = False
    for _ in range(4):
        if counter.count(msg) <= max_tokens or not _cut_once(msg, max_tokens, counter):
            break
        cut = True
    return cut


def _cut_once(msg: dict[str, Any], max_tokens: int, counter: TokenCounter) -> bool:
    tokens = counter.count(msg)
    cut = False
    content = msg.get("content")
    if isinstance(content, str) and len(content) > 200:
        keep = max(200, int(len(content) * max_tokens / tokens) - 100)
        if keep < len(content):
            msg["content"] = truncate_middle(content, keep)
            cut = True
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except ValueError:
            args = None
        if isinstance(args, dict):
            for key, value in args.items():
                if isinstance(value, str) and len(value) > 400:
                    args[key] = truncate_middle(value, max(200, int(len(value) * max_tokens / tokens) - 100))
                    cut = True
            fn["arguments"] = json.dumps(args, ensure_ascii=False)
        elif isinstance(fn.get("arguments"), str) and len(fn["arguments"]) > 2000:
            fn["arguments"] = json.dumps({"truncated": truncate_middle(fn["arguments"], 2000)})
            cut = True
    return cut


class Memory:
    """Facts the dropped turns taught, gathered from every step (why: dropping lost them)."""

    def __init__(self, lower_is_better: bool = False) -> None:
        self.lower_is_better = lower_is_better
        self.best: tuple[float, Any, str] | None = None  # (value, cell, the line that printed it)
        self.files: dict[str, Any] = {}
        self.variables: dict[str, Any] = {}
        self.submissions: list[str] = []
        self.fixed: list[str] = []
        self._open_error: str | None = None

    def observe(self, action: dict[str, Any], obs: dict[str, Any]) -> None:
        atype = action.get("type")
        status = obs.get("status")
        cell = obs.get("cell_index")
        code = action.get("code")
        if atype in ("execute_code", "edit_cell", "run_cell"):
            if status == "ok":
                if self._open_error:
                    self.fixed.append(f"{self._open_error} -> fixed by cell {cell}")
                    self._open_error = None
                if isinstance(code, str):
                    self._learn_code(code, cell)
                self._learn_score(str(obs.get("text") or ""), cell)
            elif status == "error":
                err = obs.get("error") or {}
                self._open_error = (f"{err.get('ename', 'error')}: {str(err.get('evalue', ''))[:100]} "
                                    f"(cell {cell})")
        elif atype == "restart_kernel":
            self.variables.clear()
        elif atype == "submit":
            g = obs.get("grading") or {}
            self.submissions.append(f"submit (cell {cell}): valid={g.get('valid')}, public_score="
                                    f"{g.get('public_score')}, public_position_score={g.get('public_position_score')}")

    def _learn_code(self, code: str, cell: Any) -> None:
        for name in _WORKING_FILE.findall(code):
            self.files[name] = cell
        try:
            tree = python_ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return
        for node in tree.body:
            names: list[str] = []
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    names += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
            for n in names:
                self.variables.pop(n, None)
                self.variables[n] = cell

    def _learn_score(self, text: str, cell: Any) -> None:
        for line in text.splitlines()[-200:]:
            found = _SCORE.search(line)
            if not found:
                continue
            try:
                value = float(found.group(2))
            except ValueError:
                continue
            if not math.isfinite(value):
                continue
            better = self.best is None or (value < self.best[0] if self.lower_is_better else value > self.best[0])
            if better:
                self.best = (value, cell, line.strip()[:160])

    def summary(self) -> list[str]:
        lines = []
        if self.best:
            lines.append(f"- best validation score seen: {self.best[0]:g} (cell {self.best[1]}: "
                         f"`{self.best[2]}`)")
        if self.submissions:
            lines.append("- submissions: " + "; ".join(self.submissions[-5:]))
        if self.files:
            lines.append("- files written in WORKING_DIR: " + ", ".join(
                f"{k} (cell {v})" for k, v in list(self.files.items())[-15:]))
        if self.variables:
            lines.append("- variables defined (may still exist in the kernel): " + ", ".join(
                list(self.variables)[-40:]))
        if self.fixed:
            lines.append("- errors fixed: " + "; ".join(self.fixed[-5:]))
        if self._open_error:
            lines.append(f"- last error, not fixed yet: {self._open_error}")
        return lines


def _step_counts(entries: Iterable[str]) -> str:
    counts: dict[str, dict[str, int]] = {}
    for entry in entries:
        atype, _, status = entry.partition(" ")
        counts.setdefault(atype, {}).setdefault(status, 0)
        counts[atype][status] += 1
    return "; ".join(f"{a} " + ", ".join(f"{s} x{n}" for s, n in st.items()) for a, st in counts.items())


class ContextWindow:
    """The conversation the model is sent: prefix, one summary block, the newest turns."""

    def __init__(self, budget: int, *, compaction: str = "summary", message_share: float = 0.25,
                 tokenize: Callable[[str], int] | None = None,
                 low_water: float = 0.5, keep_full: int = 3, old_result_share: float = 0.015) -> None:
        if compaction not in ("summary", "drop"):
            raise ValueError("compaction must be 'summary' or 'drop'")
        self.budget = int(budget)
        self.compaction = compaction
        self.message_share = float(message_share)
        self.low_water = float(low_water)
        self.keep_full = int(keep_full)
        self.old_result_share = float(old_result_share)
        self.counter = TokenCounter(tokenize=tokenize)
        self.memory = Memory()
        self.head: list[dict[str, Any]] = []
        self.turns: list[list[dict[str, Any]]] = []
        self.dropped: list[str] = []
        self.summary_text = ""
        self.stats = {"dropped_turns": 0, "compactions": 0, "cut_messages": 0, "shrunk_results": 0, "requests": 0,
                      "prompt_tokens_estimate_total": 0, "shared_prefix_tokens": 0, "later_prompt_tokens": 0,
                      "max_prompt_tokens_estimate": 0}
        self._last: list[Any] = []
        self._last_raw = 0

    # --- the history ----------------------------------------------------------------------
    def cap(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A message entering the history, cut to its share of the window."""
        if cap_message(msg, max(300, int(self.budget * self.message_share)), self.counter):
            self.stats["cut_messages"] += 1
        return msg

    def recap_all(self) -> None:
        for m in self.head[1:]:
            self.cap(m)
        for turn in self.turns:
            for m in turn:
                self.cap(m)

    # --- the prompt -----------------------------------------------------------------------
    def _assemble(self) -> list[dict[str, Any]]:
        msgs = list(self.head)
        if self.dropped:
            msgs.append({"role": "user", "content": self.summary_text})
        for turn in self.turns:
            msgs += [{k: v for k, v in m.items() if not k.startswith("_")} for m in turn]
        return msgs

    def total(self, msgs: list[dict[str, Any]], tools: Any) -> int:
        return (self.counter.count(tools) if tools else 0) + sum(self.counter.count(m) for m in msgs)

    def _drop(self, n: int) -> None:
        for _ in range(n):
            gone = self.turns.pop(0)
            self.dropped += gone[0].get("_steps", [])
            self.stats["dropped_turns"] += 1
        self.summary_text = self._summary()

    def _shrink_old_results(self) -> None:
        """At a compaction (the prefix after the head changes anyway, so this costs no extra cache
        miss), the tool results of all but the newest `keep_full` turns shrink to head and tail."""
        limit = max(150, int(self.budget * self.old_result_share))
        for turn in self.turns[:-self.keep_full] if self.keep_full else self.turns:
            for m in turn:
                if m.get("role") == "tool" and cap_message(m, limit, self.counter):
                    self.stats["shrunk_results"] += 1

    def _summary(self) -> str:
        head = (f"[Context budget: the {len(self.dropped)} oldest tool calls were removed from this "
                f"conversation ({_step_counts(self.dropped) or 'none'}). The notebook still has them and "
                "the kernel keeps their variables; request_info(what='history') lists the submissions.]")
        if self.compaction == "drop":
            return head
        facts = self.memory.summary()
        return head + ("\nWhat they established:\n" + "\n".join(facts) if facts else "")

    def prompt(self, tools: Any = None) -> list[dict[str, Any]]:
        """The messages to send now (compacting first if they do not fit)."""
        msgs = self._assemble()
        total = self.total(msgs, tools)
        if total > self.budget and len(self.turns) > 1:
            if self.compaction == "drop":  # the old rule: one turn at a time, the note changes each call
                while total > self.budget and len(self.turns) > 1:
                    self._drop(1)
                    msgs = self._assemble()
                    total = self.total(msgs, tools)
            else:  # one chunk, down to the low-water mark, so the next prompts only append
                self._shrink_old_results()
                msgs = self._assemble()
                total = self.total(msgs, tools)
                target = self.budget * self.low_water
                sizes = [sum(self.counter.count(m) for m in t) for t in self.turns]
                n, over = 0, total - target + (0 if self.dropped else 300)  # 300: a new summary block
                while n < len(self.turns) - 1 and over > 0:
                    over -= sizes[n]
                    n += 1
                if n:
                    self._drop(n)
                self.stats["compactions"] += 1
                msgs = self._assemble()
                total = self.total(msgs, tools)
        if total > self.budget and self.turns:  # the newest turn alone is too big: cut it further
            share = max(300, (self.budget - (total - sum(self.counter.count(m) for m in self.turns[-1])))
                        // max(1, len(self.turns[-1])))
            for m in self.turns[-1]:
                cap_message(m, share, self.counter)
            msgs = self._assemble()
            total = self.total(msgs, tools)
        if total > self.budget and len(self.head) > 1:  # a tiny window: the task text itself must give
            room = self.counter.count(self.head[1]) - (total - self.budget)
            if cap_message(self.head[1], max(300, room), self.counter):
                self.stats["cut_messages"] += 1
            msgs = self._assemble()
            total = self.total(msgs, tools)
        self._account(msgs, tools, total)
        return msgs

    def _account(self, msgs: list[dict[str, Any]], tools: Any, total: int) -> None:
        s = self.stats
        s["requests"] += 1
        s["prompt_tokens_estimate_total"] += total
        s["max_prompt_tokens_estimate"] = max(s["max_prompt_tokens_estimate"], total)
        if self._last:
            shared = self.counter.count(tools) if tools else 0
            for old, new in zip(self._last, msgs):
                if old != new:
                    break
                shared += self.counter.count(new)
            s["shared_prefix_tokens"] += shared
            s["later_prompt_tokens"] += total
        self._last = [dict(m) for m in msgs]
        raw = self.counter.raw
        self._last_raw = (raw(tools) if tools else 0) + sum(raw(m) for m in msgs)

    def calibrate(self, prompt_tokens: int) -> None:
        """The server's count for the last request sent."""
        self.counter.calibrate(self._last_raw, prompt_tokens)

    def on_overflow(self) -> None:
        """The server refused the last request as too long: count higher from now on."""
        self.counter.bumps *= 1.25
        self.recap_all()

    def prefix_share(self) -> float | None:
        """Tokens each request shared with the start of the one before, over all but the first."""
        later = self.stats["later_prompt_tokens"]
        return round(self.stats["shared_prefix_tokens"] / later, 4) if later > 0 else None


__all__ = ["TokenCounter", "Memory", "ContextWindow", "cap_message", "CHARS_PER_TOKEN"]
