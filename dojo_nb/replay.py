"""Replay: execute an episode's solution.ipynb with papermill in a fresh sandbox and re-grade it.

The episode's score counts only if a clean run of its solution notebook, in a new sandbox
of the same backend, writes a submission that grades to the same score (within the task's
tolerance). The verdict goes to `replay.json`; the executed notebook to `replay.ipynb`.

The folder may be crafted: files in it are opened through `dojo_nb.safe_io` (no link is
followed, outputs are fresh files), and the sandbox's limits come from the caller (the
command line, the env's defaults), never from the notebook's own metadata.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dojo_nb import safe_io
from dojo_nb.record import layout
from dojo_nb.record.inputs import populate_input
from dojo_nb.record.load import EpisodeRecordError, read_json, read_notebook
from dojo_nb.record.metadata import EpisodeMeta
from dojo_nb.record.steps import parameters_cell_index
from dojo_nb.tasks.grading import grade_submission
from dojo_nb.tasks.cache import prepare_task

REPLAY_JSON = layout.REPLAY_JSON
REPLAY_NOTEBOOK = layout.REPLAY_NOTEBOOK
REPLAY_SANDBOX = layout.REPLAY_SANDBOX
SUBMISSION_FILENAME = layout.SUBMISSION_FILENAME


class ReplayError(EpisodeRecordError, RuntimeError):
    """The episode folder cannot be replayed (the message says why); nothing was overwritten."""


@dataclass
class ReplayReport:
    task_id: str
    backend: str
    episode_score: float | None
    replay_score: float | None
    reproduced: bool
    tolerance: float
    duration_s: float
    valid: bool
    message: str
    failed_cell: int | None = None
    error: dict[str, Any] | None = None
    output_notebook: str = REPLAY_NOTEBOOK
    grading: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_solution(root: Path) -> Any:
    nb = read_notebook(root, layout.SOLUTION, error=ReplayError,
                       missing=f"{layout.SOLUTION} is missing: close the episode (env.close()) to write it")
    if parameters_cell_index(nb) is None:
        raise ReplayError(f"{root / layout.SOLUTION} has no cell tagged 'parameters'; papermill cannot "
                          "inject the sandbox paths")
    return nb


def _close_enough(a: float | None, b: float | None, tol: float) -> bool:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= max(tol, tol * abs(a))


def limits_note(recorded: Any, used: dict[str, Any]) -> str | None:
    """One line when the notebook's recorded sandbox limits differ from the ones in force."""
    if not recorded:
        return None
    if not isinstance(recorded, dict):
        return f"the notebook records sandbox_limits {str(recorded)[:120]!r}; ignored (limits come from the command line)"
    differ = sorted(k for k in recorded if recorded.get(k) != used.get(k))
    if not differ:
        return None
    shown = ", ".join(f"{k}={str(recorded[k])[:40]}" for k in differ[:6])
    return (f"the notebook records sandbox limits that differ ({shown}); ignored: the sandbox uses the "
            "command line's and the defaults")


def replay_episode(episode_dir: str | Path, *, backend: str | None = None, timeout_s: float = 1800,
                   progress: bool = False, sandbox_limits: dict[str, Any] | None = None,
                   allow_unsandboxed: bool | None = None) -> ReplayReport:
    """Run solution.ipynb in a fresh sandbox, grade what it writes, write replay.json.

    `sandbox_limits` (memory_mb, network, gpus, ...) are the caller's; the notebook's own
    metadata never sets them (a crafted one could turn the network on). A solution notebook
    is an agent's code whatever agent the folder names, so a backend that cannot confine it
    is refused (`NotIsolated`) unless `allow_unsandboxed` (None: ``$DOJO_NB_UNSAFE_NO_SANDBOX``).
    """
    import papermill

    from dojo_nb.kernel import backends
    from dojo_nb.kernel.spec import SandboxSpec
    from dojo_nb.tasks import load_task

    root = Path(episode_dir).expanduser().resolve()
    if not root.is_dir():
        raise ReplayError(f"{root} is not a folder")
    summary = read_json(root, layout.SUMMARY, error=ReplayError)
    solution = _read_solution(root)
    limits = dict(sandbox_limits or {})
    note = limits_note(EpisodeMeta.of(solution).sandbox_limits, limits)
    notes = [note] if note else []
    task_id = (summary.get("task") or {}).get("id")
    if not task_id:
        raise ReplayError("summary.json names no task")
    try:
        task = load_task(task_id)
    except KeyError as exc:
        raise ReplayError(str(exc.args[0])) from None
    backend = backend or summary.get("backend") or "local"
    try:
        backends.require_isolation(backend, allow_unsandboxed, who="a solution notebook")
    except ValueError as exc:  # an unknown backend named by the folder or the caller
        raise ReplayError(str(exc)) from None
    seed = int(summary.get("seed") or 0)
    final = summary.get("final") or {}
    episode_score = final.get("private_score") if final.get("valid") else None

    try:
        safe_io.remove(root, REPLAY_SANDBOX)  # a link there is unlinked, its target untouched
        sandbox = safe_io.make_dirs(root, REPLAY_SANDBOX)
        for name in layout.SANDBOX_PARTS:
            safe_io.make_dirs(root, f"{REPLAY_SANDBOX}/{name}")
    except safe_io.UnsafePathError as exc:
        raise ReplayError(str(exc)) from None
    if "gpus" in limits:
        from dojo_nb.kernel.gpus import require_gpus

        require_gpus(limits["gpus"])
    try:
        spec = SandboxSpec(root=sandbox, **limits)
    except TypeError as exc:
        raise ReplayError(f"unknown sandbox limit: {exc}") from None
    data = prepare_task(task)
    populate_input(Path(data.public_dir), spec.input_dir)  # as the episode had it: sub-folders too
    be = backends.get(backend)
    paths = be.paths(spec)
    parameters = {"INPUT_DIR": paths.input_dir, "WORKING_DIR": paths.working_dir,
                  "SUBMISSION_PATH": f"{paths.submission_dir.rstrip('/')}/{SUBMISSION_FILENAME}",
                  "SEED": seed}
    km = backends.make_kernel_manager(spec, be)
    # papermill writes its output with plain open(): into a private folder, then copied in fresh.
    private = Path(tempfile.mkdtemp(prefix="dojo-nb-replay-"))
    out_path = private / REPLAY_NOTEBOOK
    t0 = time.monotonic()
    failed_cell, error, message = None, None, ""
    try:
        papermill.execute_notebook(
            solution, str(out_path), parameters=parameters, km=km,
            kernel_name=be.kernel_name(), request_save_on_cell_execute=False,
            progress_bar=progress, execution_timeout=timeout_s, cwd=None,
        )
    except papermill.PapermillExecutionError as exc:
        failed_cell = exc.exec_count
        error = {"ename": exc.ename, "evalue": exc.evalue}
        message = f"cell {exc.exec_count} failed: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 - a dead kernel, a timeout: report, don't crash
        error = {"ename": type(exc).__name__, "evalue": str(exc)[:2000]}
        message = f"replay did not finish: {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        try:
            if km.has_kernel:
                asyncio.run(km.shutdown_kernel(now=True))
        except Exception:  # noqa: BLE001
            pass
    duration = time.monotonic() - t0
    try:
        if out_path.is_file():
            safe_io.copy_file(private, REPLAY_NOTEBOOK, root, REPLAY_NOTEBOOK)
    except OSError as exc:
        notes.append(f"{REPLAY_NOTEBOOK} was not written: {exc}")
    finally:
        shutil.rmtree(private, ignore_errors=True)

    grading: dict[str, Any] = {}
    replay_score = None
    valid = False
    kept: Path | None = None
    problem = ""
    try:  # what the kernel left at SUBMISSION_PATH: a link there (to the answers, say) is refused
        if safe_io.kind(sandbox, f"submission/{SUBMISSION_FILENAME}") is not None:
            kept = safe_io.copy_file(sandbox, f"submission/{SUBMISSION_FILENAME}", root, layout.REPLAY_SUBMISSION)
    except OSError as exc:
        problem = f"the submission file was not graded: {exc}"
    if kept is not None:
        report = grade_submission(task, kept)
        grading = report.to_dict()
        valid = report.valid
        replay_score = report.private_score if report.valid else None
        if not report.valid and not message:
            message = f"replay wrote an invalid submission: {report.message}"
    elif not message:
        message = problem or "the solution notebook ran but wrote no submission file"
    reproduced = _close_enough(episode_score, replay_score, task.tolerance)
    if not message:
        message = ("reproduced" if reproduced else
                   f"score differs: episode {episode_score}, replay {replay_score}")
    rep = ReplayReport(task_id=task.id, backend=backend, episode_score=episode_score,
                       replay_score=replay_score, reproduced=reproduced, tolerance=task.tolerance,
                       duration_s=round(duration, 3), valid=valid, message=message,
                       failed_cell=failed_cell, error=error, grading=grading, notes=notes)
    try:
        safe_io.write_text(root, REPLAY_JSON, json.dumps(rep.to_dict(), indent=1) + "\n")
    finally:
        try:
            safe_io.remove(root, REPLAY_SANDBOX)
        except OSError:
            pass
    return rep
