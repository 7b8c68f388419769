"""An LLM agent: any OpenAI-compatible chat model, with one tool per action type.

The model sees the task (the env's reset text) and, after each tool call, the observation as
the env rendered it (``obs["text"]``, head+tail truncated to `max_observation_chars`, plus
status, grading and budget left). Tools are generated from `dojo_nb.actions` (the contract),
so a new action type becomes a new tool without touching this file.

Conversation budget: `dojo_nb.agents.llm_context` (the whole request counted conservatively
and calibrated on the server's ``usage.prompt_tokens``; no message over `message_share` of the
window; old turns compacted into one summary block after the stable prefix, rewritten only
when another chunk goes, so prompts share their prefix; a context-length 400 compacts and
retries). The prompt may use ``max_context_tokens - reply_reserve_tokens``.

Malformed tool calls are repaired when the intent is clear (arguments with raw newlines,
code fences, trailing commas, a Python-literal dict, double-encoded JSON); otherwise, and for
unknown tools or arguments that break the action contract, the problem goes back to the model
as that call's tool result and the model is asked again, at most `max_repairs` times in a row
(then a markdown cell records the failure and the step budget bounds the episode).

The model's text (and ``reasoning_content`` when the server sends it) is recorded as markdown
cells with ``add_markdown`` (one step each; ``record_messages=False`` turns this off). Tokens
and calls per episode come from `stats()`, which the runner writes to ``summary.json``
under ``agent_stats``.

Every request is written, as sent, to the episode folder (`dojo_nb.record.model_calls`,
``record_calls=False`` turns it off) with the reply kept and the steps it led to, so the SFT
export is exactly what the model saw; the actions the agent makes up itself (the failure note,
the forced final submit) are marked there as injected.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import deque
from typing import Any, Callable, Iterable, Sequence

from dojo_nb.record.model_calls import ModelCallLog, plain
from dojo_nb.record.view import agent_observation, feedback_sentence, task_message, truncate_middle
from dojo_nb.actions import ACTION_FIELDS, ACTION_TYPES, InvalidAction, parse_action, tool_parameters
from dojo_nb.agents.chat_client import DEFAULT_API_KEY_ENV, ChatClient, ChatError
from dojo_nb.agents.llm_context import ContextWindow
from dojo_nb.agents.llm_parse import calls_in_text, content_text, parse_arguments

_PROMPT_HEAD = """\
You are a careful machine-learning engineer working in a live Jupyter notebook. Each tool call \
is one notebook action: execute_code appends a code cell and runs it in the kernel (variables \
persist between cells); add_markdown writes a note; request_info, validate and submit ask the \
environment. The kernel already defines INPUT_DIR, WORKING_DIR, SUBMISSION_PATH and SEED. Read \
the data from INPUT_DIR, write your predictions as CSV to SUBMISSION_PATH, call validate, then \
submit. Measure your own validation score before submitting."""
_PROMPT_TAIL = """\
The first message says the time and step budgets and the kernel's CPUs, memory, disk, network \
and installed packages. Call exactly one tool per \
turn, keep cells short, and finish with submit(final=true) before the step budget runs out."""
#: What an episode under the default rules shows (`dojo_nb.env.rules.Rules`).
_DEFAULT_RULES = {"feedback": "public", "max_submissions": 5, "reward": "position", "public_decimals": 5}


def system_prompt(rules: dict[str, Any] | None = None) -> str:
    """The system prompt for an episode's rules: exactly what a submit shows, how many there are."""
    return f"{_PROMPT_HEAD} {feedback_sentence(rules or _DEFAULT_RULES)}\n{_PROMPT_TAIL}"


SYSTEM_PROMPT = system_prompt()

CUT = ("Your last reply was cut off at the output token limit (finish_reason=length). Send a "
       "shorter reply: one short cell per call. ")
#: How much of a cell's text a tool result shows (the export of other agents renders with it too).
MAX_OBSERVATION_CHARS = 8_000
#: Why the agent itself wrote an action (no model reply): export leaves these out.
INJECTED_UNREACHABLE = "the model could not be reached"
INJECTED_NO_VALID_CALL = "no valid tool call"
#: How the markdown cells the agent writes itself begin (read by export for logs that lack marks).
INJECTED_TEXTS = ("**The model could not be reached", "The model gave no valid tool call")
NUDGE = ("Please continue by calling exactly one of the tools (when you are done, call submit "
         "with final=true).")


# --- tools from the action contract ---------------------------------------------------------
def tool_definitions(action_types: Iterable[str] = ACTION_TYPES) -> list[dict[str, Any]]:
    """OpenAI tool definitions, one per action type, in the portable schema subset
    (`dojo_nb.actions.tool_parameters`): every server accepts them; `parse_action` checks the rest."""
    return [{"type": "function", "function": {"name": atype, "description": ACTION_FIELDS[atype][0],
                                              "parameters": tool_parameters(atype)}}
            for atype in action_types]


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """One tool call as the agent keeps it in its history (and export writes it)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --- rendering and budget --------------------------------------------------------------------
def render_observation(obs: dict[str, Any], max_chars: int) -> str:
    """What the model reads after a tool call (rendered by `dojo_nb.record.view.agent_observation`)."""
    return agent_observation(obs, max_chars)


def estimate_tokens(message: dict[str, Any]) -> int:
    """The old, optimistic estimate (ceil(characters of JSON / 4) + 4); the budget now uses
    `llm_context.TokenCounter`, which this never exceeds."""
    return math.ceil(len(json.dumps(message, ensure_ascii=False)) / 4) + 4


class LLMAgent:
    """Drives an episode with a chat model through tool calls (see the module docstring)."""

    name = "llm"

    def __init__(self, base_url: str = "http://localhost:8000/v1", model: str = "default", *,
                 api_key_env: str = DEFAULT_API_KEY_ENV, client: Any = None, timeout_s: float = 120.0,
                 max_retries: int = 5, backoff_s: float = 1.0, temperature: float | None = 0.0,
                 max_context_tokens: int = 32_000, reply_reserve_tokens: int = 4_096,
                 max_observation_chars: int = MAX_OBSERVATION_CHARS, max_repairs: int = 3,
                 record_messages: bool = True, record_calls: bool = True,
                 tools: Sequence[str] | None = None, system_prompt: str | None = None,
                 compaction: str = "summary", message_share: float = 0.25,
                 tokenize: Callable[[str], int] | None = None) -> None:
        self.client = client if client is not None else ChatClient(
            base_url, model, api_key_env=api_key_env, timeout_s=timeout_s, max_retries=max_retries,
            backoff_s=backoff_s, temperature=temperature)
        unknown = [t for t in (tools or ()) if t not in ACTION_TYPES]
        if unknown:
            raise ValueError(f"unknown action type(s) for tools: {unknown}; known: {ACTION_TYPES}")
        self.tool_names = tuple(tools or ACTION_TYPES)
        self.tools = tool_definitions(self.tool_names)
        self.max_context_tokens = int(max_context_tokens)
        self.reply_reserve_tokens = int(reply_reserve_tokens)
        if self.max_context_tokens - self.reply_reserve_tokens < 1000:
            raise ValueError("max_context_tokens - reply_reserve_tokens must leave >= 1000 tokens")
        self.max_observation_chars = int(max_observation_chars)
        self.max_repairs = int(max_repairs)
        self.max_retries = int(max_retries)
        self.record_messages = bool(record_messages)
        self.record_calls = bool(record_calls)
        self.log = ModelCallLog(None)
        #: None: built at reset from the episode's rules (what its submits really show).
        self.system_prompt = system_prompt
        self.compaction = compaction
        self.message_share = float(message_share)
        self.tokenize = tokenize  # e.g. lambda s: len(tok.encode(s)) with the model's own tokenizer
        self._reset_state()

    def _reset_state(self) -> None:
        self.context = ContextWindow(self.max_context_tokens - self.reply_reserve_tokens,
                                     compaction=self.compaction, message_share=self.message_share,
                                     tokenize=self.tokenize)
        # (action, tool_call_id or None, why the agent injected it or None)
        self._queue: deque[tuple[dict[str, Any], str | None, str | None]] = deque()
        self._acts = 0
        self._awaiting: tuple[str, dict[str, Any]] | None = None  # (tool_call_id, action) in flight
        self._seen_ids: set[str] = set()
        self._counts = {"tool_calls": 0, "repaired_tool_calls": 0, "rejected_tool_calls": 0,
                        "markdown_cells": 0, "model_errors": 0,
                        "text_tool_calls": 0, "cut_replies": 0, "renamed_call_ids": 0,
                        "context_overflows": 0}
        self._errors: list[str] = []

    @property
    def _turns(self) -> list[list[dict[str, Any]]]:
        return self.context.turns

    # --- protocol -------------------------------------------------------------------------
    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self._reset_state()
        if hasattr(self.client, "reset_stats"):
            self.client.reset_stats()
        task = dict(info.get("task") or {})
        user = task_message(str(observation.get("text", "")), task, observation.get("steps_left"),
                            observation.get("seconds_left"), 4 * self.max_observation_chars)
        prompt = self.system_prompt or system_prompt(info.get("rules"))
        self.context.memory.lower_is_better = bool(task.get("lower_is_better"))
        self.context.head = [{"role": "system", "content": prompt}, {"role": "user", "content": user}]
        self.log = ModelCallLog(info.get("episode_dir") if self.record_calls else None)
        self._acts = int(info.get("step") or 0)  # a resumed episode goes on counting its steps

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        if self._awaiting is not None:
            call_id, sent = self._awaiting
            self._awaiting = None
            self._turns[-1].append(self.context.cap({
                "role": "tool", "tool_call_id": call_id,
                "content": render_observation(observation, self.max_observation_chars)}))
            self._turns[-1][0].setdefault("_steps", []).append(f"{sent['type']} {observation.get('status')}")
            self.context.memory.observe(sent, observation)
        if not self._queue:
            self._ask_model()
        action, call_id, injected = self._queue.popleft()
        self._awaiting = (call_id, action) if call_id else None
        self._acts += 1
        self.log.action(self._acts, str(action.get("type")), call_id, injected)
        return action

    def stats(self) -> dict[str, Any]:
        """Calls and tokens of this episode (JSON-able; never the API key)."""
        client_stats = self.client.stats() if hasattr(self.client, "stats") else {}
        ctx = {k: v for k, v in self.context.stats.items() if k not in ("later_prompt_tokens", "requests")}
        return {**client_stats, **self._counts, **ctx, "errors": list(self._errors[-5:]),
                "model_calls_logged": self.log.calls, "model_calls_log_problem": self.log.problem,
                "prefix_share": self.context.prefix_share(), "compaction": self.compaction,
                "context_budget_tokens": self.context.budget,
                "token_estimate": self.context.counter.describe()}

    # --- talking to the model ---------------------------------------------------------------
    def _record(self, text: str, injected: str | None = None) -> None:
        if self.record_messages and text.strip():
            self._counts["markdown_cells"] += 1
            self._queue.append(({"type": "add_markdown", "text": text.strip()}, None, injected))

    def _ask_model(self) -> None:
        """Fill the queue: the model's notes, then its valid tool calls (repairing as needed).

        Bounded: at most `max_repairs` + 1 replies without a valid call, and at most
        `max_retries` context-overflow recoveries, per step."""
        last_problem = ""
        tries = overflows = 0
        while tries <= self.max_repairs:
            sent = self.prompt()
            self._call_started = time.monotonic()
            try:
                resp = self.client.complete(sent, tools=self.tools)
            except ChatError as exc:
                self.log.call([plain(m) for m in sent], self.tools, None, error=str(exc)[:2000],
                              fields={"elapsed_s": self._call_seconds()})
                if getattr(exc, "context_overflow", False) and overflows < self.max_retries:
                    overflows += 1
                    self._on_overflow(exc)
                    continue
                self._counts["model_errors"] += 1
                self._errors.append(str(exc)[:500])
                self._record(f"**The model could not be reached; ending the episode.**\n\n```text\n{exc}\n```",
                             INJECTED_UNREACHABLE)
                self._queue.append(({"type": "submit", "final": True}, None, INJECTED_UNREACHABLE))
                return
            tries += 1
            sent = [plain(m) for m in sent]  # as sent: the history's dicts change later (cuts, shrinks)
            self._on_usage(resp)
            msg = resp.message or {}
            text = content_text(msg.get("content"))
            cut = resp.finish_reason == "length"
            reasoning = msg.get("reasoning_content") or msg.get("reasoning") or ""
            calls = [c for c in (msg.get("tool_calls") or []) if isinstance(c, dict)]
            if not calls and text:
                found, rest = calls_in_text(text, self.tool_names)
                if found:
                    self._counts["text_tool_calls"] += len(found)
                    calls = [{"function": {"name": n, "arguments": a}} for n, a in found]
                    text = rest
            assistant: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                assistant["tool_calls"] = [self._normalise_call(c) for c in calls]
            turn: list[dict[str, Any]] = [assistant]
            self._turns.append(turn)
            note = "\n\n".join(p for p in (f"*Reasoning:* {reasoning.strip()}" if isinstance(reasoning, str)
                                           and reasoning.strip() else "", text.strip()) if p)
            self._record(note)
            if not calls:
                self._log_reply(sent, assistant, resp)
                self.context.cap(assistant)
                if cut:
                    self._counts["cut_replies"] += 1
                turn.append({"role": "user", "content": (CUT if cut else "") + NUDGE})
                if self._queue:  # the note is this turn's action; the model is asked again after it
                    return
                last_problem = "the reply was cut off" if cut else "the reply had no tool call"
                continue
            valid = 0
            for call in assistant["tool_calls"]:
                self._counts["tool_calls"] += 1
                action, problem, repaired = self._to_action(call["function"]["name"],
                                                            call["function"]["arguments"])
                if problem:
                    if cut and "could not read the arguments" in problem:
                        self._counts["cut_replies"] += 1
                        problem = CUT.rstrip() + " (" + problem + ")"
                    self._counts["rejected_tool_calls"] += 1
                    last_problem = problem
                    turn.append({"role": "tool", "tool_call_id": call["id"],
                                 "content": f"error: {problem}. Nothing was run; call the tool again "
                                            "with valid arguments."})
                    turn[0].setdefault("_steps", []).append(f"{call['function']['name']} rejected")
                    continue
                if repaired:
                    self._counts["repaired_tool_calls"] += 1
                    call["function"]["arguments"] = json.dumps(
                        {k: v for k, v in action.items() if k != "type"}, ensure_ascii=False)
                self._queue.append((action, call["id"], None))
                valid += 1
            self._log_reply(sent, assistant, resp)
            self.context.cap(assistant)  # the history's copy only: the actions keep the full code
            if valid:
                return
        self._errors.append(f"no valid tool call after {self.max_repairs + 1} tries: {last_problem}"[:500])
        if not self._queue:
            self._queue.append(({"type": "add_markdown",
                                 "text": f"The model gave no valid tool call after {self.max_repairs + 1} "
                                         f"tries (last problem: {last_problem})."}, None, INJECTED_NO_VALID_CALL))

    def _log_reply(self, sent: list[dict[str, Any]], assistant: dict[str, Any], resp: Any) -> None:
        """The request as sent and the reply as the history keeps it (repaired, not yet cut)."""
        usage = getattr(resp, "usage", None)
        told = ({k: getattr(usage, k, None) for k in ("prompt_tokens", "completion_tokens")}
                if usage is not None and getattr(usage, "reported", False) else None)
        self.log.call(sent, self.tools, assistant, finish_reason=resp.finish_reason, usage=told,
                      fields={"elapsed_s": self._call_seconds()})

    def _call_seconds(self) -> float:
        """How long the last model call took (retries inside the client included)."""
        return round(time.monotonic() - getattr(self, "_call_started", time.monotonic()), 3)

    def _on_usage(self, resp: Any) -> None:
        """Calibrate the token counter on the server's own count of the request just sent."""
        usage = getattr(resp, "usage", None)
        if usage is not None and getattr(usage, "reported", False) and usage.prompt_tokens:
            self.context.calibrate(int(usage.prompt_tokens))

    def _on_overflow(self, exc: ChatError) -> None:
        """The server said the prompt overflowed its window: shrink the budget and compact."""
        self._counts["context_overflows"] += 1
        limit = getattr(exc, "context_limit", None)
        if limit and limit < self.max_context_tokens:  # the server said its window: believe it
            self.max_context_tokens = int(limit)
            self.reply_reserve_tokens = min(self.reply_reserve_tokens, max(256, int(limit) // 4))
        else:
            self.max_context_tokens = int(self.max_context_tokens * 0.8)
        self.max_context_tokens = max(self.max_context_tokens, self.reply_reserve_tokens + 1000)
        self.context.budget = self.max_context_tokens - self.reply_reserve_tokens
        self.context.on_overflow()

    def _normalise_call(self, call: dict[str, Any]) -> dict[str, Any]:
        """An OpenAI-shaped call with string arguments and an id unique in this episode
        (a reused id would make the server pair tool results with the wrong call)."""
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        args = fn.get("arguments")
        if not isinstance(args, str):
            args = json.dumps(args if args is not None else {})
        call_id = str(call.get("id") or "")
        if not call_id or call_id in self._seen_ids:
            if call_id:
                self._counts["renamed_call_ids"] += 1
            call_id = f"call_{uuid.uuid4().hex[:12]}"
        self._seen_ids.add(call_id)
        return tool_call(call_id, str(fn.get("name") or ""), args)

    def _to_action(self, name: str, arguments: str) -> tuple[dict[str, Any], str | None, bool]:
        if name not in self.tool_names:
            return {}, f"unknown tool {name!r}; the tools are: {', '.join(self.tool_names)}", False
        try:
            args, repaired = parse_arguments(arguments)
        except ValueError as exc:
            return {}, f"could not read the arguments of {name}: {exc}", False
        args = dict(args)
        if args.get("type", name) != name:
            return {}, f"the arguments of {name} say type={args.get('type')!r}; leave 'type' out", False
        args.pop("type", None)
        parsed = parse_action({"type": name, **args})
        if isinstance(parsed, InvalidAction):
            return {}, parsed.message, False
        return parsed.to_dict(), None, repaired

    # --- the budget -------------------------------------------------------------------------
    def prompt(self) -> list[dict[str, Any]]:
        """The messages to send: prefix, the summary block if turns were compacted, the newest turns."""
        return self.context.prompt(self.tools)


__all__ = ["LLMAgent", "MAX_OBSERVATION_CHARS", "INJECTED_TEXTS", "tool_call", "tool_definitions", "parse_arguments", "render_observation", "estimate_tokens",
           "truncate_middle", "SYSTEM_PROMPT", "system_prompt"]
