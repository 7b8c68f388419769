"""Training data from episode folders: chat records for SFT, per-step transitions for RL.

Both are built from what every episode writes, whatever agent ran it: ``trajectory.ipynb``
(each step's cell and ``metadata.dojo``) and, when present, ``summary.json``. So a baseline
episode exports like an LLM one.

SFT (one JSON line per episode, the OpenAI chat format with tools, which TRL's SFTTrainer
and axolotl's ``chat_template`` datasets read)::

    {"messages": [{"role": "system", ...}, {"role": "user", "content": <task, paths, files>},
                  {"role": "assistant", "content": <notes or null>,
                   "tool_calls": [{"id": "call_3", "type": "function",
                                   "function": {"name": "execute_code", "arguments": "{\\"code\\": ...}"}}]},
                  {"role": "tool", "tool_call_id": "call_3", "content": <observation text>}, ...],
     "tools": [<one function per action type>],
     "metadata": {"episode_id", "task", "agent", "score", "public_score", "medal", "valid", ...}}

Rules: an ``add_markdown`` step becomes the ``content`` of the next assistant message (the
agent's reasoning before its action; ``markdown="tool"`` keeps it a tool call instead);
invalid actions and environment notes (resume, internal errors) are left out of SFT records
(they are not behaviour to imitate) and counted in ``metadata.skipped_steps``. Arguments are
JSON strings as on the OpenAI wire (``arguments="object"`` gives dicts, which Hugging Face
chat templates expect).

RL (one JSON line per step): ``episode_id, step, observation`` (the text the agent acted on),
``action``, ``action_type``, ``reward``, ``next_observation``, ``status``, ``terminated``,
``truncated`` (on the last step: terminated after a final submit; truncated when a budget or
the driver ended the episode), ``durations`` (``wall_s``, ``kernel_cpu_s``, ``budget_share``:
the step's share of the episode's time budget) and ``reward_components`` (the milestones seen
after the step, `dojo_nb.env.progress`), both None for an episode recorded before they were.

Episode metadata carries the final ``gap_closed`` (`dojo_nb.tasks.gap`) and ``medal``, the
episode's rules (feedback, submission budget, reward mode) and its total durations.

Episode folders may be crafted: their files are read through `dojo_nb.safe_io` (a link is
refused, never followed), and the output is a fresh file renamed into place.

Observation texts are rebuilt from the notebook: code cells through the env's own renderer
(`dojo_nb.kernel.render.render_text`) from the outputs the agent saw; other actions from the
event cell the env wrote (its summary and detail, as recorded).
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
from dojo_nb.record.steps import StepRecord, description_of

DEFAULT_SYSTEM = ("You are a machine-learning engineer working in a live Jupyter notebook. Each tool "
                  "call is one notebook action. Write predictions to SUBMISSION_PATH, validate, submit.")


class ExportError(EpisodeRecordError):
    """An episode folder that cannot be exported (missing or corrupt trajectory)."""


class Episode(EpisodeRecord):
    """What an exporter needs from one episode folder (an `EpisodeRecord` with an id)."""

    @property
    def episode_id(self) -> str:
        """``task/folder-<run hash>``: unique across repeated runs and search nodes (which reuse
        folder names like ``000-draft``), stable across re-exports of the same folder (not across
        a move). The hash covers the episode's start time, seeds and the folder's resolved path."""
        meta = self.meta
        tail = str(self.root.resolve())
        key = f"{meta.started_at}|{meta.seed}|{meta.make_seed}|{tail}"
        run = hashlib.sha256(key.encode("utf-8", "backslashreplace")).hexdigest()[:10]
        return f"{self.task.get('id', 'task')}/{self.root.name}-{run}"

    @property
    def task(self) -> dict[str, Any]:
        return dict(self.meta.task or (self.summary or {}).get("task") or {})


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
    """The observation text the agent read after this step (rebuilt from the notebook)."""
    return view.recorded_observation_text(nb.cells[step.cell_index], step.cell_index)


def reset_text(ep: EpisodeRecord) -> str:
    """The first user message: the reset text the agent read, rendered as the env rendered it."""
    meta = ep.meta
    kernel_input = meta.kernel_paths.get("INPUT_DIR", "INPUT_DIR")
    files = meta.input_listing or view.input_listing(ep.layout.input_dir, str(kernel_input), detailed=False)
    return view.reset_text(description_of(ep.nb), meta.kernel_paths, files, meta.budgets,
                           rules=meta.rules, facts=meta.kernel_facts)


def episode_metadata(ep: Episode, **extra: Any) -> dict[str, Any]:
    final = ep.final
    task = ep.task
    out = {
        "episode_id": ep.episode_id, "source": str(ep.root),
        "task": task.get("id"), "task_type": task.get("type"), "metric": task.get("metric"),
        "lower_is_better": task.get("lower_is_better"), "agent": ep.meta.agent,
        "score": final.get("private_score"), "public_score": final.get("public_score"),
        "position_score": final.get("private_position_score"), "medal": final.get("medal"),
        "valid": final.get("valid"), "steps": len(ep.steps), "end_reason": ep.end_reason,
        "reward_sum": ep.meta.reward_sum, "terminal_reward": ep.meta.terminal_reward,
        "gap_closed": final.get("gap_closed"), "reference_score": final.get("reference_score"),
        "leaderboard_top": final.get("leaderboard_top"), "rules": ep.meta.rules,
        "durations": _durations(ep),
        "reproduced": (ep.replay or {}).get("reproduced"),
        "unfinished": ep.end_reason is None,
    }
    stats = ep.agent_stats
    if stats:
        out["agent_stats"] = {k: stats.get(k) for k in ("model", "calls", "prompt_tokens",
                                                        "completion_tokens", "total_tokens") if k in stats}
    out.update(extra)
    return out


def _durations(ep: Episode) -> dict[str, float] | None:
    """The episode's wall and kernel CPU seconds, summed over its steps (None when unrecorded)."""
    per = [s.meta.durations for s in ep.steps if isinstance(s.meta.durations, dict)]
    if not per:
        return None
    return {k: round(sum(float(d.get(k) or 0.0) for d in per), 6) for k in ("wall_s", "kernel_cpu_s", "budget_share")}


# --- SFT -----------------------------------------------------------------------------------------
def sft_record(ep: Episode, *, markdown: str = "content", arguments: str = "string",
               system_prompt: str | None = None) -> dict[str, Any]:
    """One chat-format training record for an episode (see the module docstring)."""
    from dojo_nb.agents.llm import system_prompt as prompt_for, tool_definitions

    if markdown not in ("content", "tool"):
        raise ValueError("markdown must be 'content' or 'tool'")
    if arguments not in ("string", "object"):
        raise ValueError("arguments must be 'string' or 'object'")
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt or prompt_for(ep.meta.rules)},
                                      {"role": "user", "content": reset_text(ep)}]
    notes: list[str] = []
    skipped = 0
    for step in ep.steps:
        action = step_action(step)
        if action is None:
            skipped += 1
            continue
        if action["type"] == "add_markdown" and markdown == "content":
            notes.append(action["text"])
            continue
        args = {k: v for k, v in action.items() if k != "type"}
        call_id = f"call_{step.step}"
        messages.append({"role": "assistant", "content": "\n\n".join(notes) or None, "tool_calls": [{
            "id": call_id, "type": "function",
            "function": {"name": action["type"],
                         "arguments": json.dumps(args, ensure_ascii=False) if arguments == "string" else args}}]})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": observation_text(ep.nb, step)})
        notes = []
    if notes:  # notes after the last action end the conversation as plain assistant text
        messages.append({"role": "assistant", "content": "\n\n".join(notes)})
    return {"messages": messages, "tools": tool_definitions(),
            "metadata": episode_metadata(ep, skipped_steps=skipped)}


# --- RL ------------------------------------------------------------------------------------------
def rl_transitions(ep: Episode) -> list[dict[str, Any]]:
    """One record per step, in order (see the module docstring)."""
    out = []
    before = reset_text(ep)
    reason = ep.end_reason
    for i, step in enumerate(ep.steps):
        last = i == len(ep.steps) - 1
        after = observation_text(ep.nb, step)
        action = step_action(step)
        if action is None and step.action_type == "invalid_action":
            action = {"invalid": True, "requested_type": step.meta.requested_type,
                      "raw_preview": step.meta.raw_preview}
        out.append({
            "episode_id": ep.episode_id, "step": step.step, "observation": before, "action": action,
            "action_type": step.action_type, "reward": float(step.reward or 0.0),
            "next_observation": after, "status": step.status,
            "terminated": bool(last and reason == "final_submit"),
            "truncated": bool(last and reason is not None and reason != "final_submit"),
            "durations": _step_durations(step), "reward_components": step.meta.reward_components,
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
                records = [sft_record(ep, **options)] if kind == "sft" else rl_transitions(ep)
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
           "observation_text", "reset_text", "rl_transitions", "sft_record", "step_action"]
