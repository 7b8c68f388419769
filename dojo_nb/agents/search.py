"""A notebook-native tree search agent: AIDE's draft / debug / improve policy over notebook states.

A *node* is a notebook state: the solution cells (code cells that succeeded, in order) of one
episode, plus the validation score the node's own code measured and printed as
``VALIDATION_SCORE: <number>`` (in the task metric's units; the task's ``lower_is_better``
gives the direction). Expanding a node *forks* it: the node's live kernel is forked
(`dojo_nb.agents.search_fork`, `DojoEnv.fork`: its own episode folder and files, the parent's
memory copy-on-write), then the child's one new cell runs; a node whose kernel is no longer
kept (or ``fork=False``) is rebuilt instead by a new episode that re-runs its solution cells.
Drafts start from an empty notebook, debug children fix a buggy node's failed cell, improve
children add a cell to the best good node.

Hidden scores never steer the search: node episodes only *validate* their file (format
check, no score) and the final choice is made on self-measured scores alone: among good nodes
within one spread (fold std) of the best score, the simplest (`dojo_nb.agents.search_select`).

Two ways to run it:

- ``run_search(task_id, out_dir, policy)``: the tree under ``OUT/search/`` and the chosen
  solution replayed and submitted in ``OUT/final/``.
- ``dojo-nb run --agent search``: the runner drives one env; `SearchAgent.reset` runs the
  whole search in ``EPISODE/search/`` (child episodes of its own), then ``act`` replays the
  chosen node's cells into the runner's episode, validates and submits. So the runner's
  trajectory/solution/summary/replay describe the chosen solution, and the tree sits beside it.

Saved tree (names in `dojo_nb.record.layout`): ``search/journal.jsonl`` (one JSON line per node,
written as each node ends: id, parent, stage, code, cells, score, status, episode_dir, ...),
``search/search.json`` (the choice, budgets, stop reason), ``search/nodes/<id>/`` (each node's
episode folder with its ``trajectory.ipynb``) and, with the LLM policy,
``search/model_calls.jsonl`` (every request and reply, with the node it was for).
"""

from __future__ import annotations

import json
import os
import random
import stat
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dojo_nb.agents.search_fork import NodeKernels
from dojo_nb.agents.search_policies import (SCORE_LINE, LLMPolicy, Policy, Proposal, ScriptedPolicy, build_prompt,
                                            extract_code)
from dojo_nb.agents.search_select import best_node, parse_score_line, selection_rule
from dojo_nb.record import layout
from dojo_nb.record.metadata import EpisodeMeta
from dojo_nb import notebook as nbk

STAGES = ("draft", "debug", "improve")
_MAX_TEXT = 4000

_FALLBACK_CELL = """\
import glob, os, shutil
sample = sorted(glob.glob(os.path.join(INPUT_DIR, "sample_submission*")))
if sample:
    shutil.copy(sample[0], SUBMISSION_PATH)
    print("no node of the search was good; submitting the sample submission")
"""


# --- the tree ---------------------------------------------------------------------------------
@dataclass
class Node:
    """One notebook state of the search tree (one episode folder)."""

    id: str
    parent: str | None
    stage: str
    code: str                      # the one cell this node added
    cells: list[str] = field(default_factory=list)   # solution cells after this node (its state)
    score: float | None = None     # self-measured validation score, parsed from the new cell's output
    score_std: float | None = None  # its spread (fold std) when the cell printed one (search_select)
    status: str = "pending"        # good | buggy | failed (the policy's call failed: no cell)
    message: str = ""              # why buggy (error, no score, invalid file, rebuild failed)
    output: str = ""               # the new cell's text output (truncated)
    error: dict[str, Any] | None = None
    submission_valid: bool | None = None
    episode_dir: str = ""
    debug_depth: int = 0
    children: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_score(text: str) -> float | None:
    """The last ``VALIDATION_SCORE: x`` printed, or None (also for nan/inf)."""
    return parse_score_line(text)[0]


# --- the search -------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """What a search produced; `best` is chosen by self-measured validation score only."""

    nodes: list[Node]
    best: Node | None
    root: Path
    stop_reason: str
    elapsed_s: float
    final_dir: Path | None = None
    final: dict[str, Any] | None = None

    @property
    def journal_path(self) -> Path:
        return self.root / layout.SEARCH_JOURNAL


class TreeSearch:
    """AIDE's search loop; every node is an episode of its own under ``root/nodes/<id>``."""

    def __init__(self, task_id: str, root: str | Path, policy: Policy, *, backend: str = "local",
                 max_nodes: int = 8, time_budget_s: float = 1800.0, num_drafts: int = 2,
                 debug_prob: float = 0.5, max_debug_depth: int = 3, cell_timeout_s: float = 600.0,
                 seed: int = 0, sandbox_limits: dict[str, Any] | None = None,
                 max_policy_failures: int = 3, fork: bool = True, keep_kernels: int = 8) -> None:
        from dojo_nb.tasks import load_task

        self.task_id = task_id
        self.root = Path(root).resolve()
        self.policy = policy
        self.backend = backend
        self.max_nodes = int(max_nodes)
        self.time_budget_s = float(time_budget_s)
        self.num_drafts = int(num_drafts)
        self.debug_prob = float(debug_prob)
        self.max_debug_depth = int(max_debug_depth)
        self.cell_timeout_s = float(cell_timeout_s)
        self.seed = int(seed)
        self.sandbox_limits = dict(sandbox_limits or {})
        self.max_policy_failures = int(max_policy_failures)  # in a row: then the model is gone
        self.rng = random.Random(seed)
        #: Nodes' live kernels: a child forks its parent's instead of re-running its cells (search_fork).
        self.kernels = NodeKernels(keep_kernels) if fork else None
        task = load_task(task_id)
        meta = task.metadata() if callable(getattr(task, "metadata", None)) else {}
        self.task_info: dict[str, Any] = dict(meta) or {"id": task_id, "metric": task.metric,
                                                         "lower_is_better": task.lower_is_better}
        self.lower_is_better = bool(self.task_info.get("lower_is_better"))
        self.description = str(getattr(task, "description", "") or "")
        self.nodes: list[Node] = []

    # which node next (AIDE's search policy)
    def next_step(self) -> tuple[str, Node | None]:
        """(stage, parent): drafts first, then debug a buggy leaf (with debug_prob), else improve the best."""
        if sum(n.stage == "draft" for n in self.nodes) < self.num_drafts:
            return "draft", None
        if self.rng.random() < self.debug_prob:
            debuggable = [n for n in self.nodes if n.status == "buggy" and not n.children
                          and n.debug_depth < self.max_debug_depth]
            if debuggable:
                return "debug", self.rng.choice(debuggable)
        best = best_node(self.nodes, self.lower_is_better)
        return ("draft", None) if best is None else ("improve", best)

    def run(self) -> SearchResult:
        """Expand nodes until max_nodes, the time budget, or the policy runs out."""
        self.root.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        stop = "max_nodes"
        failures = 0
        while len(self.nodes) < self.max_nodes:
            left = self.time_budget_s - (time.monotonic() - t0)
            if left <= 0:
                stop = "time_budget"
                break
            stage, parent = self.next_step()
            try:
                code = self.policy.propose(Proposal(stage, dict(self.task_info), self.description, parent,
                                                    list(self.nodes), node=self._next_id(stage),
                                                    search_dir=self.root))
            except Exception as exc:  # noqa: BLE001 - one failed call fails the node, not the search
                failures += 1
                node = self._failed_node(stage, parent, f"the policy failed: {type(exc).__name__}: {exc}")
                self._add(node, parent)
                if failures >= self.max_policy_failures:
                    stop = "policy_failures"
                    break
                continue
            if not code or not code.strip():
                stop = "policy_exhausted"
                break
            failures = 0
            node = self.expand(stage, parent, code, seconds=left)
            self._add(node, parent)
        if self.kernels is not None:
            self.kernels.close()
        elapsed = time.monotonic() - t0
        best = best_node(self.nodes, self.lower_is_better)
        summary = {
            "task": self.task_id, "policy": getattr(self.policy, "name", type(self.policy).__name__),
            "selection": selection_rule(self.lower_is_better),
            "best": best.id if best else None, "best_score": best.score if best else None,
            "best_score_std": best.score_std if best else None,
            "stop_reason": stop, "elapsed_s": round(elapsed, 3), "n_nodes": len(self.nodes),
            "budgets": {"max_nodes": self.max_nodes, "time_budget_s": self.time_budget_s,
                        "num_drafts": self.num_drafts, "debug_prob": self.debug_prob,
                        "max_debug_depth": self.max_debug_depth},
            "policy_stats": self.policy.stats() if callable(getattr(self.policy, "stats", None)) else None,
            "tree": {n.id: {"parent": n.parent, "stage": n.stage, "status": n.status, "score": n.score,
                            "children": n.children} for n in self.nodes},
        }
        nbk.atomic_write_text(self.root / layout.SEARCH_SUMMARY, json.dumps(summary, indent=1) + "\n")
        return SearchResult(self.nodes, best, self.root, stop, elapsed)

    def _add(self, node: Node, parent: Node | None) -> None:
        """Put a finished node in the tree and the journal (one JSON line as it ends)."""
        self.nodes.append(node)
        if parent is not None:
            parent.children.append(node.id)
        with (self.root / layout.SEARCH_JOURNAL).open("a") as f:
            f.write(json.dumps(node.to_json()) + "\n")

    def _next_id(self, stage: str) -> str:
        """The id the next node gets (the policy is told it before the node exists)."""
        return f"{len(self.nodes):03d}-{stage}"

    def _failed_node(self, stage: str, parent: Node | None, message: str) -> Node:
        """A node whose cell never came (the model call failed): status "failed", never debugged
        (there is no cell to fix) and never chosen; the search goes on."""
        return Node(id=self._next_id(stage), parent=parent.id if parent else None, stage=stage,
                    code="", cells=list(parent.cells) if parent else [], status="failed", message=message[:1000])

    def expand(self, stage: str, parent: Node | None, code: str, *, seconds: float) -> Node:
        """Fork `parent` (its live kernel, else a re-run of its cells), run `code`, validate; never raises."""
        import dojo_nb

        node = Node(id=self._next_id(stage), parent=parent.id if parent else None,
                    stage=stage, code=code,
                    debug_depth=(parent.debug_depth + 1) if (stage == "debug" and parent) else 0)
        node_dir = self.root / layout.SEARCH_NODES / node.id
        base = list(parent.cells) if parent else []
        t0 = time.monotonic()
        env = None
        try:
            if self.kernels is not None and parent is not None:
                env = self.kernels.fork(parent.id, node_dir, steps=4, seconds=max(5.0, seconds))
            forked = env is not None
            if env is None:
                env = dojo_nb.make(self.task_id, backend=self.backend, out_dir=node_dir, agent_name="search",
                                   max_steps=len(base) + 4, cell_timeout_s=self.cell_timeout_s,
                                   episode_timeout_s=max(5.0, seconds), seed=self.seed, **self.sandbox_limits)
                env.reset()
            node.episode_dir = str(env.episode_dir)
            self._run_node(env, node, parent, [] if forked else base, forked=forked)
        except Exception as exc:  # noqa: BLE001 - an env fault makes a buggy node, not a dead search
            node.status, node.message = "buggy", f"episode failed: {type(exc).__name__}: {exc}"
        finally:
            if env is not None and self.kernels is not None and node.status == "good":
                self.kernels.keep(node.id, env)  # its children fork it
            elif env is not None:
                env.close()
        node.elapsed_s = round(time.monotonic() - t0, 3)
        try:
            nb = nbk.load_trajectory(Path(node.episode_dir))
            node.cells = [nb.cells[i].source for i in nbk.solution_cell_indices(nb)]
        except (OSError, ValueError, KeyError):
            node.cells = base
        return node

    def _run_node(self, env: Any, node: Node, parent: Node | None, base: list[str], forked: bool = False) -> None:
        def step(action: dict[str, Any]) -> tuple[dict[str, Any], bool]:
            obs, _, terminated, truncated, _ = env.step(action)
            return obs, bool(terminated or truncated)

        if parent is not None and forked:
            step({"type": "add_markdown", "text": f"**Fork of node `{parent.id}`** ({parent.stage}): its live "
                  f"kernel was forked (its state is here, no cell re-run), then this node's **{node.stage}** cell."})
        elif parent is not None:
            step({"type": "add_markdown", "text": f"**Fork of node `{parent.id}`** ({parent.stage}): "
                  f"re-running its {len(base)} solution cell(s) to rebuild its kernel state, then "
                  f"this node's **{node.stage}** cell."})
            for i, cell in enumerate(base):
                obs, done = step({"type": "execute_code", "code": cell})
                if obs["status"] != "ok" or done:
                    node.status = "buggy"
                    node.message = (f"rebuilding the parent's state failed at cell {i}: "
                                    f"{obs['status']} {obs.get('text', '')[-300:]}")
                    return
        else:
            step({"type": "add_markdown", "text": f"**Node `{node.id}`**: a new draft from a fresh kernel."})
        before = _file_signature(getattr(env, "submission_host_path", None))
        obs, done = step({"type": "execute_code", "code": node.code})
        wrote = _file_signature(getattr(env, "submission_host_path", None))
        node.output = _cell_text(obs)[-_MAX_TEXT:]
        node.error = obs.get("error")
        node.score, node.score_std = parse_score_line(_cell_text(obs))
        if obs["status"] != "ok":
            node.status = "buggy"
            node.message = obs.get("message") or (
                f"{(node.error or {}).get('ename', obs['status'])}: {(node.error or {}).get('evalue', '')}")
            return
        if node.score is None:
            node.status, node.message = "buggy", f"the cell printed no '{SCORE_LINE}: <number>' line"
            return
        if done:
            node.status, node.message = "buggy", "the node's budget ran out before validation"
            return
        if wrote is None or (parent is not None and wrote == before):
            node.status, node.message = "buggy", ("the node's cell wrote no submission of its own "
                                                  "(SUBMISSION_PATH is missing or still its parent's file)")
            return
        obs, _ = step({"type": "validate"})
        grading = obs.get("grading") or {}
        node.submission_valid = bool(grading.get("valid"))
        if not node.submission_valid:
            node.status = "buggy"
            node.message = f"invalid submission: {grading.get('message') or obs.get('text', '')}"[:1000]
            return
        node.status = "good"


def _file_signature(path: Path | None) -> tuple[int, int, int] | None:
    """(inode, size, mtime_ns) of the node's submission file, without following a link or reading
    it (the sandbox is the agent's); None when it is absent or not a regular file."""
    if path is None:
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def _cell_text(obs: dict[str, Any]) -> str:
    """All text a cell printed (untruncated, unlike obs['text'] which keeps head and tail)."""
    parts = []
    for out in obs.get("outputs") or []:
        if out.get("output_type") == "stream":
            parts.append(str(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(str((out.get("data") or {}).get("text/plain", "")))
    return "".join(parts) or str(obs.get("text") or "")


def solution_actions(result: SearchResult, steps_left: int | None = None) -> list[dict[str, Any]]:
    """The actions that put the chosen node's state into an episode and submit it."""
    best = result.best
    if best is None:
        note = (f"**Search** over {len(result.nodes)} node(s) found no good node ({result.stop_reason}); "
                f"submitting the sample submission. Journal: `{result.journal_path}`.")
        cells = [_FALLBACK_CELL]
    else:
        note = (f"**Search** over {len(result.nodes)} node(s) (stopped: {result.stop_reason}). Chosen: "
                f"node `{best.id}` ({best.stage}) with self-measured validation score {best.score}; "
                f"hidden scores were never used. Its {len(best.cells)} solution cell(s) follow. "
                f"Journal: `{result.journal_path}`.")
        cells = list(best.cells)
    if steps_left is not None and len(cells) + 3 > steps_left:
        cells = ["\n\n".join(cells)]  # one cell, so that the budget fits
    return ([{"type": "add_markdown", "text": note}]
            + [{"type": "execute_code", "code": c} for c in cells]
            + [{"type": "validate"}, {"type": "submit", "final": True}])


def run_search(task_id: str, out_dir: str | Path, policy: Policy, *, backend: str = "local",
               final: bool = True, cell_timeout_s: float = 600.0, **search_options: Any) -> SearchResult:
    """Search in ``out_dir/search`` and (if `final`) submit the chosen node in ``out_dir/final``."""
    import dojo_nb

    out = Path(out_dir).resolve()
    search = TreeSearch(task_id, out / layout.SEARCH, policy, backend=backend, cell_timeout_s=cell_timeout_s,
                        **search_options)
    result = search.run()
    if final:
        actions = solution_actions(result)
        env = dojo_nb.make(task_id, backend=backend, out_dir=out / layout.SEARCH_FINAL, agent_name="search",
                           max_steps=len(actions) + 1, cell_timeout_s=cell_timeout_s,
                           seed=search.seed, **search.sandbox_limits)
        try:
            _, info = env.reset()
            result.final_dir = Path(info["episode_dir"])
            for action in actions:
                _, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            result.final = dict(info.get("final") or {})
        finally:
            env.close()
    return result


# --- the Agent adapter for `dojo-nb run --agent search` -----------------------------------------
class SearchAgent:
    """Runs the whole search at `reset` (child episodes under EPISODE/search), then replays the
    chosen node into the runner's episode and submits it.

    `policy`: "llm" (default; remaining keyword arguments build the chat client) or a `Policy`.
    The search gets at most `budget_fraction` of the episode's seconds left, so the replay fits.
    """

    name = "search"

    def __init__(self, policy: str | Policy = "llm", *, max_nodes: int = 8,
                 time_budget_s: float | None = None, num_drafts: int = 2, debug_prob: float = 0.5,
                 max_debug_depth: int = 3, budget_fraction: float = 0.7, backend: str | None = None,
                 **policy_kwargs: Any) -> None:
        if isinstance(policy, str):
            if policy != "llm":
                raise ValueError(f"unknown search policy {policy!r}: give 'llm' or a Policy object")
            policy = LLMPolicy(**policy_kwargs)
        self.policy = policy
        self.options = {"max_nodes": max_nodes, "num_drafts": num_drafts, "debug_prob": debug_prob,
                        "max_debug_depth": max_debug_depth}
        self.time_budget_s = time_budget_s
        self.budget_fraction = float(budget_fraction)
        self.backend = backend
        self.result: SearchResult | None = None
        self._queue: deque[dict[str, Any]] = deque()

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        episode_dir = Path(info["episode_dir"])
        meta = EpisodeMeta.of(nbk.load_trajectory(episode_dir))
        budgets = meta.budgets
        budget = self.budget_fraction * float(observation.get("seconds_left") or 0.0)
        if self.time_budget_s is not None:
            budget = min(budget, float(self.time_budget_s))
        search = TreeSearch(
            str(info["task"]["id"]), episode_dir / layout.SEARCH, self.policy,
            backend=self.backend or str(meta.backend or "local"), time_budget_s=budget,
            cell_timeout_s=float(budgets.get("cell_timeout_s", 600.0)), seed=int(meta.seed or 0),
            sandbox_limits=dict(meta.sandbox_limits or {}), **self.options)
        self.result = search.run()
        # Two steps are the markdown note and final submit; keep one spare for the validate.
        self._queue = deque(solution_actions(self.result, int(observation.get("steps_left") or 0)))

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        if not self._queue:
            return {"type": "submit", "final": True}
        return self._queue.popleft()


__all__ = ["Node", "Proposal", "Policy", "ScriptedPolicy", "LLMPolicy", "TreeSearch", "SearchResult",
           "SearchAgent", "run_search", "best_node", "parse_score", "solution_actions", "build_prompt",
           "extract_code", "SCORE_LINE"]
