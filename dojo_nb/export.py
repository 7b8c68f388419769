"""Training data from episode folders: chat records for SFT, per-step transitions for RL.

SFT (one JSON line per conversation, the OpenAI chat format with tools, which TRL's SFTTrainer
and axolotl's ``chat_template`` datasets read)::

    {"messages": [{"role": "system", ...}, {"role": "user", "content": <task, facts, budget>},
                  {"role": "assistant", "content": <notes or null>,
                   "tool_calls": [{"id": "call_3", "type": "function",
                                   "function": {"name": "execute_code", "arguments": "{\\"code\\": ...}"}}]},
                  {"role": "tool", "tool_call_id": "call_3", "content": <status, cell, budget, output>}, ...],
     "tools": [<one function per action type>],
     "metadata": {"episode_id", "run_id", "task", "agent", "score", "medal", "step_details": [...], ...}}

Two sources, one rendering:

- **An LLM episode** (it has ``model_calls.jsonl``, `dojo_nb.record.model_calls`): the messages
  and tools are exactly what the agent sent its model, and the final message is the reply it
  kept. A conversation ends where the next request does not begin with it (compaction
  replaced old turns by a summary, or a message was cut to the window): each such end is one
  record, so every reply the model gave is in some record, each record exactly one request
  plus its reply. Actions the agent made up itself (a failure note, the forced final submit)
  are never model messages; ``metadata.injected`` lists them.
- **Any other agent** (a baseline, a search node): rendered with the LLM agent's own
  functions (`dojo_nb.agents.llm.system_prompt`, `dojo_nb.record.view.task_message`,
  `dojo_nb.record.view.agent_observation`, `dojo_nb.agents.llm.tool_call`), so the record is
  what an LLM agent would have been shown for those actions. An ``add_markdown`` step becomes
  the ``content`` of the next assistant message (``markdown="tool"`` keeps it a tool call);
  invalid actions, environment notes and notes the LLM agent injected are left out and
  counted in ``metadata.skipped_steps``.
- **A search node, with ``search_calls=True``** (``--search-calls``), whose search's LLM policy
  logged the call that wrote its cell (``search/model_calls.jsonl``): that request (system
  prompt, task and parent's state, the ask) plus the model's reply, exactly as sent, with no
  tools (``metadata.messages_from`` says which). Off by default: a record of another shape
  (one prompt, a code block back) than every other episode's tool-call conversation.

Tool-call arguments are always JSON strings, as on the OpenAI wire (a dict form loads other
tools' keys as nulls under some ``datasets`` versions). ``metadata.step_details`` lists every env
step: its type, status, the tool call that asked for it, whether it was injected, and its
durations (``wall_s``, ``kernel_cpu_s``, ``budget_share``; `dojo_nb.env.progress`).

Ids: ``episode_id`` is ``task/run_id/folder``: the run id is the episode's own random
``episode_uid`` (made at reset), or for a search node its tree's id, so repeated runs and search
nodes never share an (episode, step) key; an episode recorded before uids existed uses a hash
of its start time, seeds and path. A search node's metadata has ``search`` (tree, node, parent,
``parent_episode_id``, stage, status) and keeps final scores only if the node wrote its own valid
file (otherwise the file graded at its end may be its parent's).

RL (one JSON line per step): ``episode_id, step, observation`` (the env's text the agent acted
on), ``action``, ``action_type``, ``reward``, ``next_observation``, ``status``, ``terminated``,
``truncated`` (on the last step: terminated after a final submit; truncated when a budget or
the driver ended the episode), ``durations`` (``wall_s``, ``kernel_cpu_s``, ``budget_share``),
``reward_components`` (the milestones seen after the step), ``tool_call_id`` and ``injected``
(from the LLM agent's log, else None) and ``search`` (the node's place in its tree, else None).

Episode folders may be crafted: their files are read through `dojo_nb.safe_io` (a link is
refused, never followed), and the output is a fresh file renamed into place.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from dojo_nb import safe_io
from dojo_nb.actions import ACTION_TYPES
from dojo_nb.record import layout, view
from dojo_nb.record.load import EpisodeRecord, EpisodeRecordError
from dojo_nb.record.load import load_episode as _load_record
from dojo_nb.record.model_calls import ModelCalls, read_model_calls
from dojo_nb.record.search_tree import SearchNode, search_node
from dojo_nb.record.steps import StepRecord, description_of

#: Where a search node's logged call is read from, relative to the search's parent folder.
_SEARCH_LOG = f"{layout.SEARCH}/{layout.SEARCH_MODEL_CALLS}"
#: Final-grade fields a search node keeps only when the graded file was its own.
_GRADE_FIELDS = ("score", "public_score", "position_score", "medal", "valid", "gap_closed")


class ExportError(EpisodeRecordError):
    """An episode folder that cannot be exported (missing or corrupt trajectory)."""


class Episode(EpisodeRecord):
    """What an exporter needs from one episode folder (an `EpisodeRecord` with ids)."""

    @property
    def episode_uid(self) -> str:
        """The folder's own id: the random one made at reset, else (recorded before there was one)
        a hash of the start time, seeds and resolved path."""
        meta = self.meta
        if isinstance(meta.episode_uid, str) and meta.episode_uid:
            return meta.episode_uid[:12]
        key = f"{meta.started_at}|{meta.seed}|{meta.make_seed}|{self.root.resolve()}"
        return hashlib.sha256(key.encode("utf-8", "backslashreplace")).hexdigest()[:12]

    @property
    def search(self) -> SearchNode | None:
        if not hasattr(self, "_search"):
            self._search = search_node(self.root)
        return self._search

    @property
    def run_id(self) -> str:
        """The search tree's id for a search node (its siblings share it), else the episode's own."""
        return self.search.tree_id if self.search else self.episode_uid

    @property
    def episode_id(self) -> str:
        """``task/run_id/folder``: unique across repeated runs and search nodes (whose folders
        repeat names like ``000-draft``), stable across re-exports and moves of the folder."""
        return f"{self.task.get('id', 'task')}/{self.run_id}/{self.root.name}"

    @property
    def task(self) -> dict[str, Any]:
        return dict(self.meta.task or (self.summary or {}).get("task") or {})

    @property
    def model_calls(self) -> ModelCalls | None:
        """The LLM agent's log of what it sent (None for other agents, or when the log failed)."""
        if not hasattr(self, "_calls"):
            stats = self.agent_stats or {}
            failed = bool(stats.get("model_calls_log_problem"))
            try:
                self._calls = None if failed else read_model_calls(self.root)
            except (OSError, UnicodeDecodeError) as exc:
                raise ExportError(f"{self.root}: {layout.MODEL_CALLS} cannot be read: {exc}") from None
        return self._calls

    @property
    def search_calls(self) -> ModelCalls | None:
        """A search node's answered calls in its search's model call log (the one that wrote its
        cell; `problem` says where reading the log stopped); None when it is no node or has no log."""
        if not hasattr(self, "_search_calls"):
            node = self.search
            try:
                log = read_model_calls(node.search_dir, layout.SEARCH_MODEL_CALLS) if node else None
            except (OSError, UnicodeDecodeError) as exc:
                raise ExportError(f"{self.root}: {_SEARCH_LOG} cannot be read: {exc}") from None
            self._search_calls = None if log is None or node is None else ModelCalls(
                [c for c in log.calls if c.reply is not None and c.fields.get("node") == node.node],
                problem=log.problem)
        return self._search_calls


def find_episodes(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str | None]]:
    """(episode folder, problem): a folder with trajectory.ipynb, else its sub-folders that have one."""
    for raw in paths:
        p = Path(raw)
        if p.is_file() and p.name == layout.TRAJECTORY:
            yield p.parent, None
        elif (p / layout.TRAJECTORY).exists():
            yield p, None
        elif p.is_dir():
            found = sorted(t.parent for t in p.rglob(layout.TRAJECTORY))
            if not found:
                yield p, f"no {layout.TRAJECTORY} in {p} or below it"
            yield from ((f, None) for f in found)
        else:
            yield p, f"{p} does not exist"


def load_episode(root: str | Path) -> Episode:
    """Read an episode folder; ExportError says what is wrong with it."""
    rec = _load_record(Path(root), error=ExportError, strict=True, require_task=True)
    ep = Episode(rec.root, rec.notebook_path, rec.nb, rec.summary, rec.replay, rec.problems)
    if not ep.steps:
        raise ExportError(f"{rec.notebook_path}: the episode has no agent steps")
    return ep


# --- per-step reconstruction -------------------------------------------------------------------
def step_action(step: StepRecord) -> dict[str, Any] | None:
    """The action that made a step's cell (None for invalid actions and environment notes)."""
    if step.action_type not in ACTION_TYPES:
        return None
    action = step.action()
    return None if action is None else {"type": action.pop("type", step.action_type), **action}


def observation_text(nb: Any, step: StepRecord) -> str:
    """The env's observation text after this step (rebuilt from the notebook)."""
    return view.recorded_observation_text(nb.cells[step.cell_index], step.cell_index)


def reset_text(ep: EpisodeRecord) -> str:
    """The reset text the agent read, rendered as the env rendered it."""
    meta = ep.meta
    kernel_input = meta.kernel_paths.get("INPUT_DIR", "INPUT_DIR")
    files = meta.input_listing or view.input_listing(ep.layout.input_dir, str(kernel_input), detailed=False)
    return view.reset_text(description_of(ep.nb), meta.kernel_paths, files, meta.budgets,
                           rules=meta.rules, facts=meta.kernel_facts)


def _step_log(ep: Episode) -> dict[int, dict[str, Any]]:
    """step -> what the LLM agent's log says of it (its tool call, whether it was injected)."""
    calls = ep.model_calls
    return {int(a["step"]): a for a in (calls.actions if calls else []) if isinstance(a.get("step"), int)}


def _is_injected_note(ep: Episode, step: StepRecord) -> bool:
    """A note the LLM agent wrote itself (a log without marks, or none): recognised by its text."""
    from dojo_nb.agents.llm import INJECTED_TEXTS

    return ep.meta.agent == "llm" and step.action_type == "add_markdown" and step.source.startswith(INJECTED_TEXTS)


def step_details(ep: Episode) -> list[dict[str, Any]]:
    """Every env step: type, status, the tool call behind it, injected or not, durations."""
    log = _step_log(ep)
    out = []
    for step in ep.steps:
        entry = log.get(step.step, {})
        d = step.meta.durations if isinstance(step.meta.durations, dict) else {}
        injected = entry.get("injected") or ("agent note" if _is_injected_note(ep, step) else None)
        out.append({"step": step.step, "action_type": step.action_type, "status": step.status,
                    "tool_call_id": entry.get("tool_call_id"), "injected": injected,
                    **{k: d.get(k) for k in ("wall_s", "kernel_cpu_s", "budget_share")}})
    return out


def episode_metadata(ep: Episode, **extra: Any) -> dict[str, Any]:
    final = ep.final
    task = ep.task
    out = {
        "episode_id": ep.episode_id, "run_id": ep.run_id, "episode_uid": ep.episode_uid, "source": str(ep.root),
        "task": task.get("id"), "task_type": task.get("type"), "metric": task.get("metric"),
        "lower_is_better": task.get("lower_is_better"), "agent": ep.meta.agent,
        "score": final.get("private_score"), "public_score": final.get("public_score"),
        "position_score": final.get("private_position_score"), "medal": final.get("medal"),
        "valid": final.get("valid"), "steps": len(ep.steps), "end_reason": ep.end_reason,
        "reward_sum": ep.meta.reward_sum, "terminal_reward": ep.meta.terminal_reward,
        "gap_closed": final.get("gap_closed"), "reference_score": final.get("reference_score"),
        "leaderboard_top": final.get("leaderboard_top"), "rules": ep.meta.rules,
        "durations": _durations(ep), "step_details": step_details(ep),
        "reproduced": (ep.replay or {}).get("reproduced"),
        "unfinished": ep.end_reason is None, "search": _search_info(ep),
    }
    if ep.search and not ep.search.good:  # the file graded at its end may be its parent's
        out.update({k: None for k in _GRADE_FIELDS})
    stats = ep.agent_stats
    if stats:
        out["agent_stats"] = {k: stats.get(k) for k in ("model", "calls", "prompt_tokens", "completion_tokens",
                                                        "total_tokens", "prefix_share") if k in stats}
    out.update(extra)
    return out


def _search_info(ep: Episode) -> dict[str, Any] | None:
    node = ep.search
    if node is None:
        return None
    parent = f"{ep.task.get('id', 'task')}/{node.tree_id}/{node.parent}" if node.parent else None
    return {**node.to_dict(), "parent_episode_id": parent}


def _durations(ep: Episode) -> dict[str, float] | None:
    """The episode's wall and kernel CPU seconds, summed over its steps (None when unrecorded)."""
    per = [s.meta.durations for s in ep.steps if isinstance(s.meta.durations, dict)]
    if not per:
        return None
    return {k: round(sum(float(d.get(k) or 0.0) for d in per), 6) for k in ("wall_s", "kernel_cpu_s", "budget_share")}


# --- SFT -----------------------------------------------------------------------------------------
def sft_records(ep: Episode, *, markdown: str = "content", system_prompt: str | None = None,
                arguments: str = "string", search_calls: bool = False) -> list[dict[str, Any]]:
    """The chat-format training records of an episode (see the module docstring)."""
    if markdown not in ("content", "tool"):
        raise ValueError("markdown must be 'content' or 'tool'")
    if arguments != "string":
        raise ValueError("tool-call arguments are always JSON strings (the dict form was removed: "
                         "it loads other tools' keys as nulls under some datasets versions)")
    logged = ep.search_calls if search_calls else None
    if logged is not None and logged.calls:
        return _search_records(ep, logged)
    calls = ep.model_calls
    if calls is not None and calls.conversations():
        return _logged_records(ep, calls)
    return [_rendered_record(ep, markdown=markdown, system_prompt=system_prompt)]


def sft_record(ep: Episode, **options: Any) -> dict[str, Any]:
    """The episode's last (for most episodes: only) SFT record."""
    return sft_records(ep, **options)[-1]


def _logged_records(ep: Episode, calls: ModelCalls) -> list[dict[str, Any]]:
    ends = calls.conversations()
    injected = calls.injected()
    out = []
    for i, call in enumerate(ends):
        out.append({"messages": [*call.messages, call.reply], "tools": call.tools,
                    "metadata": episode_metadata(ep, messages_from=layout.MODEL_CALLS, call=call.call,
                                                 conversation=i, conversations=len(ends),
                                                 injected=injected, log_problem=calls.problem,
                                                 skipped_steps=len(injected))})
    return out


def _search_records(ep: Episode, logged: ModelCalls) -> list[dict[str, Any]]:
    """A search node's cell as its policy asked for it: the request as sent plus the reply."""
    return [{"messages": [*call.messages, call.reply], "tools": call.tools,
             "metadata": episode_metadata(ep, messages_from=_SEARCH_LOG, call=call.call, log_problem=logged.problem,
                                          model_call={"finish_reason": call.finish_reason, "usage": call.usage,
                                                      **{k: call.fields.get(k) for k in ("elapsed_s", "attempts")}})}
            for call in logged.calls]


def _rendered_record(ep: Episode, *, markdown: str, system_prompt: str | None) -> dict[str, Any]:
    """What the LLM agent would have been shown for these actions, by its own renderers."""
    from dojo_nb.agents.llm import MAX_OBSERVATION_CHARS, system_prompt as prompt_for, tool_call, tool_definitions

    meta = ep.meta
    max_steps = int(meta.budgets.get("max_steps") or 0)
    timeout = float(meta.budgets.get("episode_timeout_s") or 0.0)
    seconds = meta.seconds_left_at_reset if meta.seconds_left_at_reset is not None else timeout
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_prompt or prompt_for(meta.rules)},
        {"role": "user", "content": view.task_message(reset_text(ep), ep.task, max_steps, seconds,
                                                      4 * MAX_OBSERVATION_CHARS)}]
    notes: list[str] = []
    skipped = 0
    for step in ep.steps:
        action = step_action(step)
        if action is None or _is_injected_note(ep, step):
            skipped += 1
            continue
        if action["type"] == "add_markdown" and markdown == "content":
            notes.append(action["text"])
            continue
        args = {k: v for k, v in action.items() if k != "type"}
        call_id = f"call_{step.step}"
        messages.append({"role": "assistant", "content": "\n\n".join(notes) or None,
                         "tool_calls": [tool_call(call_id, action["type"], json.dumps(args, ensure_ascii=False))]})
        obs = view.recorded_observation(ep.nb.cells[step.cell_index], step.cell_index,
                                        steps_left=max(0, max_steps - step.step), seconds_left=None)
        messages.append({"role": "tool", "tool_call_id": call_id,
                         "content": view.agent_observation(obs, MAX_OBSERVATION_CHARS)})
        notes = []
    if notes:  # notes after the last action end the conversation as plain assistant text
        messages.append({"role": "assistant", "content": "\n\n".join(notes)})
    return {"messages": messages, "tools": tool_definitions(),
            "metadata": episode_metadata(ep, messages_from="rendered", skipped_steps=skipped)}


# --- RL ------------------------------------------------------------------------------------------
def rl_transitions(ep: Episode) -> list[dict[str, Any]]:
    """One record per step, in order (see the module docstring)."""
    out = []
    before = reset_text(ep)
    reason = ep.end_reason
    details = {d["step"]: d for d in step_details(ep)}
    search = _search_info(ep)
    for i, step in enumerate(ep.steps):
        last = i == len(ep.steps) - 1
        after = observation_text(ep.nb, step)
        action = step_action(step)
        if action is None and step.action_type == "invalid_action":
            action = {"invalid": True, "requested_type": step.meta.requested_type,
                      "raw_preview": step.meta.raw_preview}
        detail = details.get(step.step, {})
        out.append({
            "episode_id": ep.episode_id, "step": step.step, "observation": before, "action": action,
            "action_type": step.action_type, "reward": float(step.reward or 0.0),
            "next_observation": after, "status": step.status,
            "terminated": bool(last and reason == "final_submit"),
            "truncated": bool(last and reason is not None and reason != "final_submit"),
            "durations": _step_durations(step), "reward_components": step.meta.reward_components,
            "tool_call_id": detail.get("tool_call_id"), "injected": detail.get("injected"), "search": search,
        })
        before = after
    return out


def _step_durations(step: StepRecord) -> dict[str, Any] | None:
    d = step.meta.durations
    return {k: d.get(k) for k in ("wall_s", "kernel_cpu_s", "budget_share")} if isinstance(d, dict) else None


# --- writing -----------------------------------------------------------------------------------
@dataclass
class ExportReport:
    """What an export wrote and what it skipped (with why)."""

    out: Path
    episodes: int = 0
    records: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def export(kind: str, paths: Iterable[str | Path], out: str | Path, **options: Any) -> ExportReport:
    """Write `kind` ("sft" or "rl") records for every episode under `paths` to the JSONL file `out`.

    A bad episode is skipped and listed in `report.failed`; the others are still written.
    The file is written to a temporary name and renamed, so a crash leaves no half file.
    """
    if kind not in ("sft", "rl"):
        raise ValueError("kind must be 'sft' or 'rl'")
    out = Path(out).expanduser().absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport(out)
    with safe_io.open_fresh(out.parent, out.name, mkdirs=False) as raw:
        fh = io.TextIOWrapper(raw, encoding="utf-8")
        for root, problem in find_episodes(paths):
            if problem:
                report.failed.append((str(root), problem))
                continue
            try:
                ep = load_episode(root)
                records = sft_records(ep, **options) if kind == "sft" else rl_transitions(ep)
            except ExportError as exc:
                report.failed.append((str(root), str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - one odd notebook must not stop the others
                report.failed.append((str(root), f"{root}: cannot export ({type(exc).__name__}: {exc})"))
                continue
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            report.episodes += 1
            report.records += len(records)
        fh.flush()
        fh.detach()  # the raw file is closed (then renamed) by open_fresh
    return report


__all__ = ["ExportError", "Episode", "ExportReport", "export", "find_episodes", "load_episode",
           "observation_text", "reset_text", "rl_transitions", "sft_record", "sft_records", "step_action",
           "step_details"]
