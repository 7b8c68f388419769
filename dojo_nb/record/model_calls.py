"""``model_calls.jsonl``: what an LLM agent (or a search's LLM policy) sent its model, and what it
kept of each reply.

Why: a training record must be exactly what the model saw (the task facts line, each tool
result's status / cell / steps-left header, the summary block of compacted turns, cells cut to
fit the window). Rebuilding that from the notebook afterwards cannot be exact, so the agent
writes every request as it goes and `dojo_nb.export` reads this file back.

One JSON line per event, appended while the episode runs:

- ``{"kind": "call", "call": n, "shared": k, "messages": [...], "tools": [...], "reply": {...},
  "finish_reason": ..., "usage": {...}, "error": null}``: request n's messages are the first
  ``k`` messages of request n-1 followed by ``messages`` (the file grows with the conversation,
  not with its square); ``tools`` is written only when they differ from the previous request's.
  ``reply`` is the assistant message as the agent put it in its history (string arguments,
  unique call ids, repaired arguments), before any cut to the window; None when the call
  failed (``error`` says why). A caller may add keys of its own (`ModelCallLog.call`'s `fields`):
  the search's policy writes ``node``, ``stage``, ``parent``, ``elapsed_s``, ``attempts`` (its log is
  ``search/model_calls.jsonl``, one call per node tried).
- ``{"kind": "actions", "actions": [{"step": s, "type": ..., "tool_call_id": id or null,
  "injected": reason or null}]}``: an env step the agent took, as it took it;
  ``injected`` marks an action the agent made up itself (a failure note, the forced final
  submit): no model behaviour, so export leaves it out of the messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dojo_nb import safe_io
from dojo_nb.record import layout


#: The keys of a call line the format itself uses.
_KEYS = frozenset({"kind", "call", "shared", "messages", "tools", "reply", "finish_reason", "usage", "error"})


def _key(message: Any) -> str:
    return json.dumps(message, sort_keys=True, ensure_ascii=False, default=str)


def plain(message: dict[str, Any]) -> dict[str, Any]:
    """A JSON copy of a message without the agent's private ``_`` keys (what goes on the wire)."""
    return json.loads(json.dumps({k: v for k, v in message.items() if not str(k).startswith("_")},
                                 ensure_ascii=False, default=str))


class ModelCallLog:
    """Appends model calls to ``root/name`` (``EPISODE/model_calls.jsonl``; `root` None: keeps nothing).

    Writing must never cost the episode: the first failure (a full disk) stops the log and is
    kept in `problem`, which the agent reports in its stats (export then renders from the notebook).
    """

    def __init__(self, root: str | Path | None, name: str = layout.MODEL_CALLS) -> None:
        self.root = Path(root) if root is not None else None
        self.name = name
        self.calls = 0
        self.problem: str | None = None
        self._last: list[str] = []
        self._last_tools: str | None = None

    @property
    def active(self) -> bool:
        return self.root is not None and self.problem is None

    def call(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
             reply: dict[str, Any] | None, *, finish_reason: str | None = None,
             usage: dict[str, Any] | None = None, error: str | None = None,
             fields: dict[str, Any] | None = None) -> None:
        """One request as sent and the reply kept (None when the call failed); `fields`: the
        caller's own keys for this line (never one of the format's)."""
        if not self.active:
            return
        keys = [_key(m) for m in messages]
        shared = 0
        for old, new in zip(self._last, keys):
            if old != new:
                break
            shared += 1
        self.calls += 1
        line: dict[str, Any] = {"kind": "call", "call": self.calls, "shared": shared,
                                "messages": [json.loads(k) for k in keys[shared:]]}
        tools_key = _key(tools)
        if tools_key != self._last_tools:
            line["tools"] = tools
        line.update(reply=plain(reply) if reply is not None else None, finish_reason=finish_reason,
                    usage=usage, error=error)
        line.update({k: v for k, v in (fields or {}).items() if k not in _KEYS})
        self._last, self._last_tools = keys, tools_key
        self._write(line)

    def action(self, step: int, action_type: str, tool_call_id: str | None, injected: str | None = None) -> None:
        """One env step the agent took: which tool call asked for it, or why the agent made it up."""
        if self.active:
            self._write({"kind": "actions", "actions": [{"step": step, "type": action_type,
                                                         "tool_call_id": tool_call_id, "injected": injected}]})

    def _write(self, line: dict[str, Any]) -> None:
        assert self.root is not None
        try:
            safe_io.append_text(self.root, self.name, json.dumps(line, ensure_ascii=False, default=str) + "\n")
        except OSError as exc:
            self.problem = f"{self.name} could not be written: {exc}"


@dataclass
class ModelCall:
    """One request, rebuilt whole: its messages and tools, and the reply the agent kept."""

    call: int
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    reply: dict[str, Any] | None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # the caller's own keys (a search's node, ...)


@dataclass
class ModelCalls:
    """What ``model_calls.jsonl`` holds; `problem` says where reading had to stop (a torn line)."""

    calls: list[ModelCall] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None

    def conversations(self) -> list[ModelCall]:
        """The calls that end a conversation: those whose request plus reply the next answered
        call does not begin with (compaction rewrote the history, or a message was cut), and the
        last one. Their messages plus reply, together, hold every reply the model gave."""
        done = [c for c in self.calls if c.reply is not None]
        ends = []
        for i, c in enumerate(done):
            conv = [_key(m) for m in c.messages + [c.reply]]  # type: ignore[list-item]
            nxt = done[i + 1] if i + 1 < len(done) else None
            if nxt is None or [_key(m) for m in nxt.messages[:len(conv)]] != conv:
                ends.append(c)
        return ends

    def injected(self) -> list[dict[str, Any]]:
        return [a for a in self.actions if a.get("injected")]


def read_model_calls(root: str | Path, name: str = layout.MODEL_CALLS) -> ModelCalls | None:
    """The model calls logged in ``root/name`` (None when there is no such file); never follows a link."""
    if safe_io.kind(root, name) != "file":
        return None
    out = ModelCalls()
    messages: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] | None = None
    for n, raw in enumerate(safe_io.read_text(root, name).splitlines(), 1):
        try:
            line = json.loads(raw)
            if line.get("kind") == "actions":
                out.actions += [dict(a) for a in line["actions"] if isinstance(a, dict)]
                continue
            shared, new = int(line["shared"]), line["messages"]
            if not (0 <= shared <= len(messages)) or not isinstance(new, list) \
                    or not all(isinstance(m, dict) for m in new):
                raise ValueError("the messages do not continue the previous request")
            messages = messages[:shared] + new
            if "tools" in line:
                tools = line["tools"]
            reply = line.get("reply")
            out.calls.append(ModelCall(int(line["call"]), list(messages), tools,
                                       reply if isinstance(reply, dict) else None,
                                       line.get("finish_reason"), line.get("usage"), line.get("error"),
                                       {k: v for k, v in line.items() if k not in _KEYS}))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            out.problem = f"{name} line {n} cannot be read ({type(exc).__name__}: {exc}); stopped there"
            break
    return out


__all__ = ["ModelCall", "ModelCallLog", "ModelCalls", "plain", "read_model_calls"]
