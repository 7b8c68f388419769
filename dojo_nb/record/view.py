"""What the agent is shown, rendered in one place.

The env renders the reset text and each observation's text with these functions while the
episode runs; export rebuilds the same texts from the record afterwards (so an SFT task
message is the very text the agent read), and the LLM agent renders observations for the
model with `agent_observation`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from dojo_nb.kernel.render import truncate_middle  # the one truncation; re-exported for the agent's view
from dojo_nb.record.listing import describe_inputs
from dojo_nb.record.metadata import CellMeta

#: The variables the parameters cell defines, in its order.
KERNEL_VARIABLES = ("INPUT_DIR", "WORKING_DIR", "SUBMISSION_PATH", "SEED")
_EVENT_HEAD = re.compile(r"^\*\*dojo · [^*]+\*\* — ?")
_FENCED = re.compile(r"\n\n(`{3,})text\n(.*)\n\1\s*$", re.S)


def truncate_end(text: str, max_chars: int) -> str:
    """The first `max_chars` of `text`, with a marker saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n... [{len(text) - max_chars} characters cut]"


def input_listing(input_dir: Path, kernel_input_dir: str, *, head: bool = False, detailed: bool = True) -> str:
    """The files in the sandbox's input folder as the kernel names them (links are skipped).

    `detailed` (what the env shows now) adds each file's kind and summarises big folders
    (`dojo_nb.record.listing`); without it, the plain list that episodes recorded before
    the listing was kept in ``metadata.dojo`` were shown, so their export stays what the agent read.
    """
    if detailed:
        return describe_inputs(input_dir, kernel_input_dir, head=head)
    lines = []
    if input_dir.is_dir() and not input_dir.is_symlink() and not input_dir.parent.is_symlink():
        for p in sorted(input_dir.rglob("*")):
            if p.is_symlink() or not p.is_file():
                continue
            rel = p.relative_to(input_dir).as_posix()
            lines.append(f"  {kernel_input_dir}/{rel}  ({p.lstat().st_size:,} bytes)")
            if head and p.suffix.lower() in (".csv", ".tsv", ".txt", ".json", ".md"):
                with open(p, encoding="utf-8", errors="replace") as fh:
                    first = [fh.readline().rstrip("\n")[:300] for _ in range(4)]
                lines += [f"      {line}" for line in first if line]
    return "\n".join(lines) or "  (no files)"


def reset_text(description: str, kernel_paths: Mapping[str, Any], input_files: str,
               budgets: Mapping[str, Any], rules: Mapping[str, Any] | None = None,
               facts: Mapping[str, Any] | None = None) -> str:
    """The first observation's text: task, kernel variables, input files, what to do, budgets,
    what submitting shows (`rules`) and the kernel's hardware and packages (`facts`).

    A trajectory written before rules and facts were recorded renders as it did then."""
    lines = [str(description).rstrip(), "", "---",
             "Variables defined in the kernel (the parameters cell ran already):"]
    # In the parameters cell's order (a notebook read back has its keys sorted).
    names = [k for k in KERNEL_VARIABLES if k in kernel_paths] + [k for k in kernel_paths if k not in KERNEL_VARIABLES]
    lines += [f"  {k} = {kernel_paths[k]!r}" for k in names]
    lines += ["", "Input files:", input_files, "",
              f"Write your predictions to SUBMISSION_PATH, then send "
              f'{{"type": "validate"}} and {{"type": "submit"}}. '
              f"Budget: {budgets.get('max_steps')} steps, {float(budgets.get('episode_timeout_s') or 0):g} s "
              f"in all, {float(budgets.get('cell_timeout_s') or 0):g} s per cell."]
    if rules:
        lines.append(feedback_sentence(rules))
    if facts:
        lines.append(facts_sentence(facts))
    return "\n".join(lines)


def feedback_sentence(rules: Mapping[str, Any]) -> str:
    """What a submit shows, how many there are, and when the private score comes."""
    n = rules.get("max_submissions")
    shown = {"public": (f"each graded submit shows the public score rounded to {rules.get('public_decimals', 5)} "
                        "decimals, its position score and your reward"),
             "validity": "each submit shows only whether the file is valid (no score)",
             "none": "a submit shows nothing of its grade"}.get(str(rules.get("feedback")), "")
    text = (f"Submissions: at most {n} graded submits ({{\"type\": \"validate\"}} is free and unlimited; "
            f"an invalid file is not counted); {shown}. The private score and medal are never shown "
            "during the episode: the final submission (your last valid one) is graded on them when it ends.")
    if rules.get("reward") == "shaped":
        text += (" Reward: small one-off bonuses for loading data, fitting a model, printing a validation "
                 "score, writing and validating a submission; the end pays your final private position.")
    return text


def facts_sentence(facts: Mapping[str, Any]) -> str:
    """The kernel's hardware, limits and packages, as measured at reset."""
    cpus = facts.get("cpus_visible") or facts.get("cpus_limit")
    parts = [f"{cpus} CPU(s)" if cpus else None,
             f"{facts['memory_mb']} MB of memory" if facts.get("memory_mb") else None,
             f"{facts['disk_mb']} MB of disk for WORKING_DIR and the submission" if facts.get("disk_mb") else None,
             f"GPUs: {facts['gpus']}" if facts.get("gpus") else "no GPU",
             "network" if facts.get("network") else "no network"]
    text = "Kernel: " + ", ".join(p for p in parts if p)
    if facts.get("python"):
        text += f"; Python {facts['python']}"
    packages = facts.get("packages") or {}
    if packages:
        text += "; packages: " + ", ".join(f"{k} {v}" for k, v in sorted(packages.items()))
    return text + " (nothing else can be installed)." if not facts.get("network") else text + "."


def recorded_observation_text(cell: Mapping[str, Any], cell_index: int) -> str:
    """The observation text the agent read after the step that made `cell` (rebuilt from it)."""
    from dojo_nb.kernel.render import render_text

    meta = CellMeta.of(cell)
    if cell.get("cell_type") == "code":
        text = render_text(cell.get("outputs") or [])
        message = meta.message
        if message and message not in text:
            text = f"{text}\n[dojo-nb] {message}" if text else str(message)
        return text if text else "(no output)"
    if meta.action_type == "add_markdown":
        return f"markdown cell {cell_index} added"
    if isinstance(meta.observation_text, str):  # recorded because the cell's own text differs
        return meta.observation_text
    body = _EVENT_HEAD.sub("", str(cell.get("source") or ""), count=1)
    fenced = _FENCED.search(body)
    if fenced:
        body = body[:fenced.start()].rstrip() + "\n\n" + fenced.group(2)
    return body.strip()


#: The task's facts a chat model's first message lists (after the reset text).
TASK_FACT_KEYS = ("id", "type", "metric", "lower_is_better", "id_column", "target_columns", "submission_kind")


def task_message(reset: str, task: Mapping[str, Any], steps_left: Any, seconds_left: Any, max_chars: int) -> str:
    """A chat model's first user message: the reset text, the task's facts, the budget left."""
    facts = {k: task.get(k) for k in TASK_FACT_KEYS if k in task}
    text = (f"{reset}\n\nTask facts: {json.dumps(facts, default=str)}\n"
            f"Steps left: {steps_left}; seconds left: {float(seconds_left or 0):.0f}.")
    return truncate_middle(text, max_chars)


def recorded_observation(cell: Mapping[str, Any], cell_index: int, *, steps_left: Any,
                         seconds_left: Any) -> dict[str, Any]:
    """The parts of a step's observation `agent_observation` reads, rebuilt from the step's cell
    (the budget left from the cell when it was recorded there, else the caller's estimate)."""
    meta = CellMeta.of(cell)
    return {"status": meta.status, "text": recorded_observation_text(cell, cell_index),
            "message": meta.message, "grading": meta.grading, "cell_index": cell_index,
            "steps_left": meta.steps_left if meta.steps_left is not None else steps_left,
            "seconds_left": meta.seconds_left if meta.seconds_left is not None else seconds_left}


def agent_observation(obs: Mapping[str, Any], max_chars: int) -> str:
    """What a chat model reads after a tool call: status, the env's text, grading, budget left."""
    lines = [f"status: {obs.get('status')}"]
    text = str(obs.get("text") or "")
    message = obs.get("message")
    if message and str(message) not in text:
        lines.append(f"message: {message}")
    grading = obs.get("grading")
    if grading:
        lines.append("grading: " + json.dumps(grading, default=str, sort_keys=True))  # as a notebook keeps it
    lines.append(f"cell {obs.get('cell_index')}; steps left {obs.get('steps_left')}; "
                 f"seconds left {float(obs.get('seconds_left') or 0):.0f}")
    if text:
        lines += ["output:", truncate_middle(text, max_chars)]
    return "\n".join(lines)


__all__ = ["TASK_FACT_KEYS", "agent_observation", "facts_sentence", "feedback_sentence", "input_listing",
           "recorded_observation", "recorded_observation_text", "reset_text", "task_message", "truncate_end",
           "truncate_middle"]
