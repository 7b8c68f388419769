"""The search's policies: what proposes the next cell of a node (scripted lists, or a chat model).

The chat-model policy appends every request it sends, with the reply and the node it was for,
to ``search/model_calls.jsonl`` (`dojo_nb.record.model_calls`, the LLM agent's format), so a
search's model behaviour is on disk as sent, not rebuilt from the journal.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dojo_nb.kernel.render import render_error, truncate_middle
from dojo_nb.record import layout
from dojo_nb.record.model_calls import ModelCallLog

if TYPE_CHECKING:
    from dojo_nb.agents.search import Node

SCORE_LINE = "VALIDATION_SCORE"
_MAX_TEXT = 4000


# --- policies ---------------------------------------------------------------------------------
@dataclass
class Proposal:
    """What a policy is asked: write the next cell for `stage` from `parent`'s notebook state."""

    stage: str
    task: dict[str, Any]
    description: str
    parent: Node | None
    history: list[Node]
    node: str = ""                   # the id the node will have (the model call log names it)
    search_dir: Path | None = None   # the search's folder (where a policy may keep its log)


@runtime_checkable
class Policy(Protocol):
    """Proposes the code of one new cell; None means it has nothing more to try."""

    name: str

    def propose(self, request: Proposal) -> str | None: ...


class ScriptedPolicy:
    """A policy from lists of cells per stage, used in order (tests, demos, reproducible runs).

    A list item may be a string or a callable taking the `Proposal` and returning a string.
    """

    name = "scripted"

    def __init__(self, drafts: list[Any], debugs: list[Any] | None = None,
                 improves: list[Any] | None = None) -> None:
        self.queues = {"draft": deque(drafts), "debug": deque(debugs or []),
                       "improve": deque(improves or [])}
        self.asked: list[tuple[str, str | None]] = []

    def propose(self, request: Proposal) -> str | None:
        self.asked.append((request.stage, request.parent.id if request.parent else None))
        queue = self.queues[request.stage]
        if not queue:
            return None
        item = queue.popleft()
        return item(request) if callable(item) else str(item)


_SYSTEM = f"""You are an expert machine-learning engineer working in a live Jupyter notebook.
The kernel already defines INPUT_DIR (the task's data, read-only), WORKING_DIR (scratch),
SUBMISSION_PATH (where the submission file must be written) and SEED.
Reply with exactly one Python code block: the next notebook cell. The cell must
1. measure its own validation score on held-out data (a hold-out split or cross-validation of
   the training data; never the test set) in the task metric's units and print it on its own
   line as `{SCORE_LINE}: <number>`; with cross-validation print the folds' mean and standard
   deviation, `{SCORE_LINE}: <mean> +- <std>` (a difference within one std is treated as noise);
2. write a valid submission for the test data to SUBMISSION_PATH.
Keep it fast (a few minutes at most on 1 CPU); print short summaries, not whole tables."""


def _fence(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def build_prompt(req: Proposal) -> str:
    """The user message for one proposal (AIDE-style: task, memory, then the stage's ask)."""
    t = req.task
    direction = "lower" if t.get("lower_is_better") else "higher"
    parts = [f"# Task\n{req.description.strip()}",
             f"Metric: {t.get('metric')} ({direction} is better). Submission columns: "
             f"{t.get('id_column')} + {t.get('target_columns')}."]
    tried = [n for n in req.history if n.status == "good"][-5:]
    if tried:
        parts.append("# Earlier solutions (self-measured validation scores)\n" + "\n".join(
            f"- node {n.id} ({n.stage}): {n.score}"
            + (f" +- {n.score_std}" if getattr(n, "score_std", None) is not None else "") for n in tried))
    p = req.parent
    if req.stage == "draft":
        parts.append("# Ask\nThe kernel is fresh (only the parameters above exist). Write a first, "
                     "simple but complete solution cell; try something different from earlier solutions.")
    elif p is not None:
        state = "\n\n".join(_fence(c) for c in p.cells) or "(none)"
        parts.append(f"# Cells already run in this kernel (their variables exist)\n{state}")
        if req.stage == "debug":
            err = p.error or {}
            trace = truncate_middle(render_error(err), _MAX_TEXT) if err else ""
            parts.append(f"# This cell failed\n{_fence(p.code)}\nOutput:\n{p.output[-_MAX_TEXT:]}\n"
                         f"Error: {err.get('ename', '')}: {err.get('evalue', '')}\n"
                         + (f"Traceback:\n```text\n{trace}\n```\n" if trace else "")
                         + f"Problem: {p.message}\n"
                         "# Ask\nWrite a corrected cell (the failed cell's variables may not exist).")
        else:
            parts.append(f"# Last cell's output (validation score {p.score})\n{p.output[-_MAX_TEXT:]}\n"
                         "# Ask\nWrite ONE new cell that improves the validation score with one "
                         "specific change (features, model, hyper-parameters); do not repeat the "
                         "cells above, reuse their variables.")
    return "\n\n".join(parts)


def extract_code(content: str) -> str | None:
    """The (longest) fenced code block of a reply, else the reply itself if it looks like code."""
    blocks = re.findall(r"```(?:python|py)?\s*\n(.*?)```", content or "", flags=re.S)
    if blocks:
        return max(blocks, key=len).strip() or None
    text = (content or "").strip()
    return text or None


class EmptyProposal(RuntimeError):
    """The model answered without a cell: the node fails, the search goes on."""


class LLMPolicy:
    """Proposes cells with a chat model through `dojo_nb.agents.chat_client.ChatClient`.

    The client is imported lazily (the LLM agent's module), built from `client_kwargs`
    (e.g. base_url, model) unless a ready `client` is given; any object with
    ``complete(messages, tools=None) -> response`` whose ``response.message["content"]`` is
    the reply works. Each call (also a failed one) is logged in the request's search folder
    (``search/model_calls.jsonl``) unless ``record_calls=False``.
    """

    name = "llm"

    def __init__(self, client: Any = None, *, record_calls: bool = True, **client_kwargs: Any) -> None:
        client_kwargs.pop("max_context_tokens", None)  # an LLM-agent option; one prompt here is small
        self.client = client
        self.client_kwargs = client_kwargs
        self.calls = 0
        self.record_calls = bool(record_calls)
        self.log = ModelCallLog(None, layout.SEARCH_MODEL_CALLS)

    def _get_client(self) -> Any:
        if self.client is None:
            try:
                from dojo_nb.agents.chat_client import ChatClient
            except ImportError as exc:  # pragma: no cover - depends on the LLM agent being installed
                raise RuntimeError("the LLM policy needs dojo_nb.agents.chat_client (the LLM agent)") from exc
            self.client = ChatClient(**self.client_kwargs)
        return self.client

    def stats(self) -> dict[str, Any]:
        """What the search writes to ``search.json`` about its model calls (JSON-able)."""
        return {"calls": self.calls, "model_calls_logged": self.log.calls,
                "model_calls_log_problem": self.log.problem}

    def _log_for(self, request: Proposal) -> ModelCallLog:
        """The log of the request's search folder (a new one when the policy moves to another search)."""
        root = Path(request.search_dir) if self.record_calls and request.search_dir is not None else None
        if root != self.log.root:
            self.log = ModelCallLog(root, layout.SEARCH_MODEL_CALLS)
        return self.log

    def propose(self, request: Proposal) -> str | None:
        messages = [{"role": "system", "content": _SYSTEM},
                    {"role": "user", "content": build_prompt(request)}]
        log = self._log_for(request)
        node = {"node": request.node or None, "stage": request.stage,
                "parent": request.parent.id if request.parent else None}
        t0 = time.monotonic()
        try:
            response = self._get_client().complete(messages, tools=None)
        except Exception as exc:
            log.call(messages, None, None, error=f"{type(exc).__name__}: {exc}"[:2000],
                     fields={**node, "elapsed_s": round(time.monotonic() - t0, 3)})
            raise
        self.calls += 1
        message = getattr(response, "message", None) or {}
        usage = getattr(response, "usage", None)
        told = ({k: getattr(usage, k, None) for k in ("prompt_tokens", "completion_tokens")}
                if usage is not None and getattr(usage, "reported", False) else None)
        log.call(messages, None, {"role": "assistant", **message},
                 finish_reason=getattr(response, "finish_reason", None), usage=told,
                 fields={**node, "elapsed_s": round(time.monotonic() - t0, 3),
                         "attempts": getattr(response, "attempts", None)})
        content = message.get("content")
        if isinstance(content, list):  # list-form content: its text parts
            content = "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
        code = extract_code(str(content or ""))
        if not code:  # an empty reply fails this node; only a scripted policy is ever "exhausted"
            raise EmptyProposal(f"the model's reply held no code (finish_reason "
                                f"{getattr(response, 'finish_reason', None)!r})")
        return code


__all__ = ["EmptyProposal", "LLMPolicy", "Policy", "Proposal", "ScriptedPolicy", "build_prompt", "extract_code"]
