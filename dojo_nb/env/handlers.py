"""The action handlers, in one table keyed by action type (`HANDLERS`).

Each handler is a plain function ``(env, action) -> Outcome``: it records its cell in the
trajectory and returns the observation, the reward and whether the episode ends. `step`
looks the handler up by ``action.type`` in `HANDLERS`; nothing builds a name at run time.
Submission handlers (validate, submit) live in `dojo_nb.env.submitting`, request_info's
topics in `dojo_nb.env.info`.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import nbformat

from dojo_nb.actions import Action, InvalidAction
from dojo_nb.env.progress import STEP_EXPRESSIONS
from dojo_nb.env.spaces import observation
from dojo_nb.record import view
from dojo_nb.record.metadata import PARAMETERS, CellMeta
from dojo_nb.record.trajectory import _jsonable, event_markdown

if TYPE_CHECKING:
    from dojo_nb.env.core import DojoEnv
    from dojo_nb.kernel.result import ExecutionResult

#: Longest detail an event cell keeps.
MAX_EVENT_DETAIL = 4000
#: Longest observation text kept on an event cell (so export shows what the agent read).
MAX_SHOWN_TEXT = 40_000


class Outcome(NamedTuple):
    """What a handler returns: the observation, the reward, whether the episode ends."""

    obs: dict[str, Any]
    reward: float = 0.0
    terminated: bool = False


Handler = Callable[["DojoEnv", Action], Outcome]


# --- recording helpers ----------------------------------------------------------------------
def record_event(env: DojoEnv, a: Action, status: str, summary: str, text: str, *,
                 detail: str | None = None, grading: dict | None = None, reward: float | None = None,
                 message: str | None = None, **dojo: Any) -> dict[str, Any]:
    """Record a non-code action as a short markdown cell and build its observation."""
    traj = env.state.trajectory
    assert traj is not None
    meta = {"step": env.state.steps, "action_type": a.type, "status": status, "action": a.to_dict(), **dojo}
    if grading is not None:
        meta["grading"] = grading
    if reward is not None:
        meta["reward"] = reward
    if detail is not None:
        detail = view.truncate_end(detail, MAX_EVENT_DETAIL)
    idx = traj.add_markdown(event_markdown(a.type, summary, detail), meta)
    if view.recorded_observation_text(traj.cell(idx), idx) != text:  # the cell alone would not say it
        traj.update_cell(idx, observation_text=view.truncate_middle(text, MAX_SHOWN_TEXT))
    return observation(status, action_type=a.type, text=text, cell_index=idx, grading=grading, message=message)


def record_invalid(env: DojoEnv, bad: InvalidAction) -> dict[str, Any]:
    """Record an action that could not be applied (it still costs its step)."""
    traj = env.state.trajectory
    assert traj is not None
    meta = {"step": env.state.steps, "action_type": "invalid_action", "status": "invalid_action",
            "requested_type": bad.type, "raw_preview": bad.raw_preview}
    idx = traj.add_markdown(event_markdown("invalid_action", bad.message), meta)
    return observation("invalid_action", action_type=bad.type or "invalid", text=bad.message,
                       message=bad.message, cell_index=idx)


def record_internal_error(env: DojoEnv, action_type: str, msg: str) -> dict[str, Any]:
    """An environment fault while handling an action: reported, and the episode goes on."""
    traj = env.state.trajectory
    assert traj is not None
    idx = traj.add_markdown(event_markdown("error", msg),
                            {"step": env.state.steps, "action_type": action_type, "status": "error"})
    return observation("error", action_type=action_type or "unknown", text=msg, message=msg, cell_index=idx)


def _disk_full_note(env: DojoEnv, result: ExecutionResult) -> str | None:
    """A plain sentence when a cell failed because the episode's disk is full."""
    err = getattr(result, "error", None) or {}
    text = f"{err.get('ename', '')} {err.get('evalue', '')}"
    if "No space left on device" not in text and "Errno 28" not in text and "Disk quota" not in text:
        return None
    try:
        free = shutil.disk_usage(env.state.layout.working_dir).free
    except OSError:
        return "The disk holding WORKING_DIR is full: delete files you no longer need."
    return (f"The disk holding WORKING_DIR is full ({free / 1e6:.1f} MB free): delete files you no "
            "longer need; the kernel and the episode go on.")


def _fill_code_cell(env: DojoEnv, idx: int, r: dict[str, Any]) -> None:
    """Put a finished cell's outputs into the cell recorded (source only) before it ran."""
    traj = env.state.trajectory
    assert traj is not None
    cell = traj.cell(idx)
    cell["outputs"] = [nbformat.from_dict(o) for o in _jsonable(r.get("outputs") or [])]
    count = r.get("execution_count")
    cell["execution_count"] = count if isinstance(count, int) else None
    traj.update_cell(idx, **{k: r[k] for k in ("status", "elapsed_s", "kernel_restarted", "message") if k in r})


def run_code_cell(env: DojoEnv, action_type: str, source: str, extra: dict[str, Any]) -> Outcome:
    """Run a code cell; its source is in the saved trajectory before it runs, outputs after."""
    state = env.state
    traj, session = state.trajectory, state.session
    assert traj is not None and session is not None
    timeout = max(1.0, min(env.budgets.cell_timeout_s, state.seconds_left(env.budgets)))
    idx = traj.add_code(source, {"status": "running"}, {"step": state.steps, "action_type": action_type, **extra})
    try:  # no failure of the driver may hide what ran; a failed save is reported after the step
        traj.save()
    except OSError:
        pass
    try:
        result = session.execute(source, timeout=timeout, expressions=STEP_EXPRESSIONS)
        state.cell_expressions = result.expressions or None
    except Exception as exc:
        traj.update_cell(idx, status="error",
                         message=f"the driver failed while running this cell: {type(exc).__name__}: {exc}")
        raise
    full = _disk_full_note(env, result) if result.status == "error" else None
    if full:
        result.message = f"{result.message} {full}" if result.message else full
        result.text = f"{result.text}\n[dojo-nb] {full}"
    r = result.to_dict()
    _fill_code_cell(env, idx, r)
    obs = observation(r["status"], action_type=action_type, text=r["text"], outputs=r["outputs"],
                      error=r["error"], elapsed_s=r["elapsed_s"] or 0.0, cell_index=idx,
                      execution_count=r["execution_count"], message=r["message"])
    if r.get("kernel_restarted"):
        rerun_parameters(env)
    return Outcome(obs)


def rerun_parameters(env: DojoEnv) -> None:
    """A fresh kernel must know INPUT_DIR & co. again (the notebook's cell 1 did that; a fork's
    kernel has paths of its own, which its session's prelude holds)."""
    traj, session = env.state.trajectory, env.state.session
    assert traj is not None and session is not None
    own = getattr(session.session, "prelude", None)
    session.execute(own if isinstance(own, str) and own else traj.cell(1).source, timeout=env.budgets.cell_timeout_s)


def _target_problem(env: DojoEnv, a: Action) -> str | None:
    """The problem with `cell_index`, or None if it names an earlier code cell."""
    traj = env.state.trajectory
    assert traj is not None
    i, n = a["cell_index"], len(traj)
    if i >= n:
        return f"{a.type}: cell_index {i} does not exist (the notebook has cells 0..{n - 1})"
    cell = traj.cell(i)
    if cell.cell_type != "code":
        return f"{a.type}: cell {i} is a markdown cell; only code cells can be {'edited' if a.type == 'edit_cell' else 'run'}"
    if CellMeta.of(cell).action_type == PARAMETERS:
        # A copy of it in solution.ipynb would undo the parameters papermill injects.
        return (f"{a.type}: the parameters cell (cell {i}) cannot be "
                f"{'edited' if a.type == 'edit_cell' else 'run again'}; it runs by itself "
                "after every kernel restart")
    return None


# --- the handlers ---------------------------------------------------------------------------
def execute_code(env: DojoEnv, a: Action) -> Outcome:
    return run_code_cell(env, "execute_code", a["code"], {})


def edit_cell(env: DojoEnv, a: Action) -> Outcome:
    problem = _target_problem(env, a)
    if problem:
        return Outcome(record_invalid(env, InvalidAction(problem, type=a.type)))
    return run_code_cell(env, "edit_cell", a["code"], {"edits": a["cell_index"]})


def run_cell(env: DojoEnv, a: Action) -> Outcome:
    problem = _target_problem(env, a)
    if problem:
        return Outcome(record_invalid(env, InvalidAction(problem, type=a.type)))
    assert env.state.trajectory is not None
    source = env.state.trajectory.cell(a["cell_index"]).source
    return run_code_cell(env, "run_cell", source, {"reruns": a["cell_index"]})


def add_markdown(env: DojoEnv, a: Action) -> Outcome:
    traj = env.state.trajectory
    assert traj is not None
    idx = traj.add_markdown(a["text"], {"step": env.state.steps, "action_type": a.type, "status": "ok"})
    return Outcome(observation("ok", action_type=a.type, text=f"markdown cell {idx} added", cell_index=idx))


def restart_kernel(env: DojoEnv, a: Action) -> Outcome:
    assert env.state.session is not None
    t = time.monotonic()
    env.state.session.restart()
    rerun_parameters(env)
    obs = record_event(env, a, "ok", "kernel restarted; all variables are lost, files stay",
                       "Kernel restarted: all variables are lost (files stay). The parameters "
                       "cell ran again.", kernel_restarted=True, elapsed_s=round(time.monotonic() - t, 3))
    obs["elapsed_s"] = time.monotonic() - t
    return Outcome(obs)


def interrupt(env: DojoEnv, a: Action) -> Outcome:
    assert env.state.session is not None
    env.state.session.interrupt()
    return Outcome(record_event(env, a, "ok", "interrupt sent",
                                "Interrupt sent to the kernel (cells run to completion or timeout "
                                "inside a step, so nothing was running)."))


def request_info(env: DojoEnv, a: Action) -> Outcome:
    from dojo_nb.env.info import MAX_INFO_CHARS, TOPICS

    what = a["what"]
    text = view.truncate_end(TOPICS[what](env), MAX_INFO_CHARS)
    return Outcome(record_event(env, a, "ok", what, text, detail=text))


def _handlers() -> dict[str, Handler]:
    from dojo_nb.env.submitting import submit, validate

    return {
        "execute_code": execute_code,
        "edit_cell": edit_cell,
        "run_cell": run_cell,
        "add_markdown": add_markdown,
        "request_info": request_info,
        "validate": validate,
        "submit": submit,
        "restart_kernel": restart_kernel,
        "interrupt": interrupt,
    }


#: Action type -> handler (every type of `dojo_nb.actions.ACTION_TYPES`).
HANDLERS: dict[str, Handler] = _handlers()

__all__ = ["HANDLERS", "Handler", "Outcome", "record_event", "record_internal_error", "record_invalid",
           "rerun_parameters", "run_code_cell"]
