"""What a step achieved and what it cost, read from the kernel and the sandbox, not the code.

After a code cell the env asks the kernel (a silent request: no cell, no execution count,
no history) for its CPU time and a short list of what its namespace holds: non-empty
pandas/polars DataFrames, and objects with a fitted estimator's attributes
(``n_features_in_``, ``coef_``, ``feature_importances_``, ``classes_``, LightGBM's
``_Booster``, XGBoost's ``_Booster``, a Pipeline whose last step has them). The cell's
outputs tell whether a validation score was printed; the sandbox whether a submission
file is there; the grader whether it is valid. Matching the agent's source text would
reward writing ``model.fit`` rather than fitting a model.

The kernel is the agent's: it can fake these facts (an object with ``coef_``). That is
why the bonuses they earn are capped below one leaderboard step (`dojo_nb.env.rules`).
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dojo_nb.env.rules import COMPONENTS

if TYPE_CHECKING:
    from dojo_nb.env.core import DojoEnv

_FITTED = ("n_features_in_", "coef_", "feature_importances_", "classes_", "_Booster", "booster_", "tree_",
           "estimators_", "best_iteration_")
#: One expression each (user_expressions are eval'ed): the kernel's CPU seconds, children included.
CPU_EXPR = "sum(__import__('os').times()[:4])"
STATE_EXPR = (
    "(lambda json, ns, fitted: json.dumps({"
    "'frames': [k for k, v in list(ns.items()) if not k.startswith('_') and type(v).__name__ == 'DataFrame' "
    "and type(v).__module__.split('.')[0] in ('pandas', 'polars') and len(v) > 0][:20], "
    "'fitted': [k for k, v in list(ns.items()) if not k.startswith('_') and not isinstance(v, type) and "
    "type(v).__module__.split('.')[0] not in ('pandas', 'polars', 'numpy') and (fitted(v) or "
    "(type(v).__name__ == 'Pipeline' and fitted(((getattr(v, '__dict__', None) or {}).get('steps') "
    "or [(None, None)])[-1][-1])))][:20]}))"
    f"(__import__('json'), globals(), lambda v: any(a in (getattr(v, '__dict__', None) or {{}}) for a in {_FITTED!r}))"
)
#: A number printed next to a score's name (or dojo-nb's own ``VALIDATION_SCORE: x`` line).
_SCORE_LINE = re.compile(
    r"(?im)^.*\b(validation_score|val(idation)?|cv|score|accuracy|acc|auc|roc_auc|rmse|rmsle|mse|mae|f1|"
    r"log_?loss|r2|kappa|qwk)\b[^\n\d]{0,30}-?\d*\.\d+")


@dataclass
class KernelReading:
    """What the kernel said after a cell (None: it did not answer)."""

    cpu_s: float | None
    frames: list[str]
    fitted: list[str]


def _literal(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


#: What a code step asks of the kernel with its cell (user expressions on the same request).
STEP_EXPRESSIONS = {"cpu": CPU_EXPR, "state": STATE_EXPR}


def read_kernel(session: Any, timeout: float = 5.0, found: dict[str, str] | None = None) -> KernelReading:
    """The kernel's CPU time and namespace facts: from `found` (the cell's own user expressions)
    when the cell returned them, else asked with a silent probe; never raises."""
    if not found:
        try:
            found = session.probe(dict(STEP_EXPRESSIONS), timeout=timeout)
        except Exception:  # noqa: BLE001 - a session without probe (or a dead one) tells nothing
            found = {}
    cpu = _literal(found.get("cpu"))
    state: Any = _literal(found.get("state"))
    try:
        state = json.loads(state) if isinstance(state, str) else {}
    except ValueError:
        state = {}
    frames = [str(x) for x in state.get("frames", [])][:20] if isinstance(state, dict) else []
    fitted = [str(x) for x in state.get("fitted", [])][:20] if isinstance(state, dict) else []
    return KernelReading(float(cpu) if isinstance(cpu, (int, float)) else None, frames, fitted)


def printed_score(text: str) -> bool:
    """Whether a cell's output shows a measured score."""
    return bool(_SCORE_LINE.search(text or ""))


def submission_on_disk(path: Path) -> bool:
    """A non-empty regular file at SUBMISSION_PATH (a link does not count)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > 0


@dataclass
class Progress:
    """An episode's milestones so far and the kernel's CPU clock at the last reading."""

    reached: dict[str, int]       # component -> the step that first reached it
    last_cpu: float | None = None
    wall_total: float = 0.0
    cpu_total: float = 0.0

    @classmethod
    def new(cls) -> Progress:
        return cls(reached={})


def observe_step(env: DojoEnv, obs: dict[str, Any], valid_submission: bool, position_gain: float,
                 wall_s: float) -> dict[str, Any]:
    """This step's reward components and durations (what `step_info` reports); updates progress."""
    state, prog = env.state, env.state.progress
    now: dict[str, bool] = dict.fromkeys(COMPONENTS, False)
    cpu_s = 0.0
    if obs.get("action_type") in ("execute_code", "edit_cell", "run_cell") and state.session is not None:
        reading = read_kernel(state.session, found=state.cell_expressions)
        state.cell_expressions = None
        now["data_loaded"] = bool(reading.frames)
        now["model_fitted"] = bool(reading.fitted)
        now["validation_score"] = obs.get("status") == "ok" and printed_score(str(obs.get("text") or ""))
        if reading.cpu_s is not None:
            # A restarted kernel's clock starts again from 0: then all of it is this step's.
            before = prog.last_cpu if prog.last_cpu is not None and prog.last_cpu <= reading.cpu_s else 0.0
            cpu_s = reading.cpu_s - before
            prog.last_cpu = reading.cpu_s
    now["submission_written"] = submission_on_disk(env.submission_host_path)
    now["valid_submission"] = valid_submission
    new = [k for k in COMPONENTS if now[k] and k not in prog.reached]
    for k in new:
        prog.reached[k] = state.steps
    prog.wall_total += wall_s
    prog.cpu_total += cpu_s
    budget = env.budgets.episode_timeout_s
    return {
        "reward_components": {**now, "public_improvement": position_gain > 0 and env.rules.shows_scores, "new": new},
        "durations": {"wall_s": round(wall_s, 6), "kernel_cpu_s": round(cpu_s, 6),
                      "budget_share": round(wall_s / budget, 6) if budget > 0 else None,
                      "episode_wall_s": round(prog.wall_total, 6), "episode_kernel_cpu_s": round(prog.cpu_total, 6)},
    }


def restore_progress(state: Any, steps: list[Any]) -> None:
    """Milestones and totals as the trajectory recorded them (a resume pays no bonus twice)."""
    prog = state.progress
    for s in steps:
        comps, durs = s.meta.reward_components, s.meta.durations
        if isinstance(comps, dict):
            for k in comps.get("new") or []:
                if k in COMPONENTS:
                    prog.reached.setdefault(k, s.step)
        if isinstance(durs, dict):
            prog.wall_total += float(durs.get("wall_s") or 0.0)
            prog.cpu_total += float(durs.get("kernel_cpu_s") or 0.0)


def baseline_cpu(env: DojoEnv) -> None:
    """Read the kernel's clock once at reset, so the first step's CPU time is its own."""
    if env.state.session is not None:
        env.state.progress.last_cpu = read_kernel(env.state.session).cpu_s


__all__ = ["CPU_EXPR", "KernelReading", "Progress", "STATE_EXPR", "STEP_EXPRESSIONS", "baseline_cpu", "observe_step",
           "printed_score", "read_kernel", "restore_progress", "submission_on_disk"]
