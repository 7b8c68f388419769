"""The Gymnasium environment: one episode = one live sandboxed kernel + one notebook.

Episode rules (the contract in DESIGN.md, made precise here):

- Every `step` is one action (see `dojo_nb.actions`) and costs one step of ``max_steps``,
  including invalid actions (an agent that only sends garbage still runs out).
- ``submit`` grades the submission file on the public split and the episode goes on; the
  reward is ``max(0, public_position_score - best_so_far)``, so rewards sum to the best public
  position score reached and resubmitting earns 0. ``{"type": "submit", "final": true}``
  grades and then ends the episode (``terminated=True``), valid file or not.
- ``truncated=True`` when ``max_steps`` or ``episode_timeout_s`` runs out. Each cell runs for
  at most ``min(cell_timeout_s, seconds left)``.
- When the episode ends (final submit, a budget, `reset` or `close`), the *final* submission
  is the last valid one submitted (the file as it was then, kept outside the sandbox in
  ``EPISODE/submissions/``): it is what ``solution.ipynb`` writes last, so it is what the
  replay reproduces. With no valid submit, the file left at SUBMISSION_PATH is graded
  instead (no reward). Its private score, private position score and medal go to
  ``info["final"]``, the notebook's ``metadata.dojo.final`` and ``summary.json``; private
  scores are never shown during the episode.

Episode folder::

    EPISODE/
      sandbox/{input,working,submission}/   the only folder the kernel sees
      submissions/                          copies of graded submission files
      trajectory.ipynb  solution.ipynb  summary.json
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, SupportsFloat

import gymnasium
from gymnasium.envs.registration import EnvSpec

from dojo_nb import notebook as nbk
from dojo_nb.actions import ACTION_TYPES, INFO_TOPICS, Action, InvalidAction, parse_action
from dojo_nb.record import layout, view
from dojo_nb.record.inputs import populate_input as _populate_input
from dojo_nb.record.load import EpisodeRecord, EpisodeRecordError, UnsafeRecordError, load_episode
from dojo_nb.record.metadata import PARAMETERS, CellMeta, EpisodeMeta

STATUSES = ("ok", "error", "timeout", "crashed", "invalid_action")
OBS_KEYS = ("status", "text", "outputs", "error", "elapsed_s", "cell_index", "execution_count",
            "action_type", "steps_left", "seconds_left", "message", "grading")
SUMMARY_NAME = layout.SUMMARY
REPLAY_NAME = layout.REPLAY_JSON
SUBMISSION_FILENAME = layout.SUBMISSION_FILENAME
FINAL_RULE = "last_valid_submission"

_MAX_INFO_CHARS = 20_000


# --- spaces -------------------------------------------------------------------------------
class ActionSpace(gymnasium.spaces.Space[dict]):
    """Dict actions as in `dojo_nb.actions`; `sample` draws harmless ones (no code that does work)."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(parse_action(x), Action) and isinstance(x, dict)

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        rng = self.np_random
        kind = int(rng.integers(4))
        if kind == 0:
            return {"type": "execute_code", "code": f"{int(rng.integers(100))} + {int(rng.integers(100))}"}
        if kind == 1:
            return {"type": "add_markdown", "text": f"note {int(rng.integers(1_000_000))}"}
        if kind == 2:
            return {"type": "request_info", "what": INFO_TOPICS[int(rng.integers(len(INFO_TOPICS)))]}
        return {"type": "validate"}

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"ActionSpace({', '.join(ACTION_TYPES)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActionSpace)


class ObservationSpace(gymnasium.spaces.Space[dict]):
    """JSON-able observation dicts with the keys in `OBS_KEYS`."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)

    def contains(self, x: Any) -> bool:
        if not isinstance(x, dict) or set(x) != set(OBS_KEYS):
            return False
        num = (int, float)
        checks = [
            x["status"] in STATUSES,
            isinstance(x["text"], str),
            isinstance(x["outputs"], list),
            x["error"] is None or isinstance(x["error"], dict),
            isinstance(x["elapsed_s"], num),
            x["cell_index"] is None or isinstance(x["cell_index"], int),
            x["execution_count"] is None or isinstance(x["execution_count"], int),
            isinstance(x["action_type"], str),
            isinstance(x["steps_left"], int),
            isinstance(x["seconds_left"], num),
            x["message"] is None or isinstance(x["message"], str),
            x["grading"] is None or isinstance(x["grading"], dict),
        ]
        return all(checks)

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        return _observation("ok", action_type="execute_code",
                            text=str(int(self.np_random.integers(100))))

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ObservationSpace(dict)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObservationSpace)


def _observation(status: str, *, action_type: str, text: str = "", outputs: list | None = None,
                 error: dict | None = None, elapsed_s: float = 0.0, cell_index: int | None = None,
                 execution_count: int | None = None, steps_left: int = 0,
                 seconds_left: float = 0.0, message: str | None = None,
                 grading: dict | None = None) -> dict[str, Any]:
    return {"status": status, "text": text, "outputs": list(outputs or []), "error": error,
            "elapsed_s": float(elapsed_s), "cell_index": cell_index,
            "execution_count": execution_count, "action_type": action_type,
            "steps_left": int(steps_left), "seconds_left": float(seconds_left),
            "message": message, "grading": grading}


# --- helpers ------------------------------------------------------------------------------
def _task_attr(task: Any, name: str, default: Any = None) -> Any:
    value = getattr(task, name, default)
    return default if value is None else value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _clean_number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass
class _Submission:
    step: int
    file: str
    valid: bool
    message: str
    public_score: float | None
    public_position_score: float | None
    report: dict[str, Any]  # full GradeReport dict, private fields included: never shown to the agent


_PUBLIC_GRADE_KEYS = ("valid", "message", "public_score", "public_position_score", "lower_is_better")


class DojoEnv(gymnasium.Env):
    """A task episode in a live notebook. Build it with `dojo_nb.make`."""

    metadata = {"render_modes": ["ansi", "widget"], "render_fps": 1}

    def __init__(
        self,
        task_id: str,
        backend: str = "local",
        *,
        max_steps: int = 100,
        cell_timeout_s: float = 600.0,
        episode_timeout_s: float = 3600.0,
        out_dir: str | os.PathLike[str] | None = None,
        agent_name: str | None = None,
        seed: int = 0,
        render_mode: str | None = None,
        pool: Any = None,
        **sandbox_limits: Any,
    ) -> None:
        from dojo_nb.tasks import load_task

        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        if int(max_steps) < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps!r}")
        if not float(cell_timeout_s) > 0 or not float(episode_timeout_s) > 0:
            raise ValueError("cell_timeout_s and episode_timeout_s must be positive")
        from dojo_nb.kernel import SandboxSpec

        try:  # check the sandbox limits now, not at the first reset
            checked = SandboxSpec(root=Path.cwd(), **sandbox_limits)
        except TypeError as exc:
            raise ValueError(f"unknown sandbox limit: {exc}; known: memory_mb, cpus, pids, disk_mb, "
                             "tmp_mb, network, gpus, env") from None
        if checked.gpus is not None:  # asked-for GPUs that are not here: say so now, clearly
            from dojo_nb.kernel.gpus import require_gpus

            require_gpus(checked.gpus)
        self.task = load_task(task_id)
        self.task_id = str(_task_attr(self.task, "id", task_id))
        self.backend = backend
        self.max_steps = int(max_steps)
        self.cell_timeout_s = float(cell_timeout_s)
        self.episode_timeout_s = float(episode_timeout_s)
        self.out_dir = Path(out_dir).expanduser().resolve() if out_dir is not None else None
        self.agent_name = agent_name
        self.default_seed = int(seed)
        self.render_mode = render_mode
        self._live_view: Any = None  # the LiveEpisodeView of render_mode="widget", made on first render
        self.sandbox_limits = dict(sandbox_limits)
        self.resume_notes: list[str] = []  # what the last resume ignored or cleaned up, one line each
        self.action_space = ActionSpace()
        self.observation_space = ObservationSpace()

        self.session: Any = None
        self.trajectory: nbk.Trajectory | None = None
        self.episode_dir: Path | None = None
        self.sandbox_dir: Path | None = None
        self._episodes = 0
        self._open = False
        self._last_obs: dict[str, Any] | None = None
        self._final: dict[str, Any] | None = None
        self._terminated = self._truncated = False
        self._steps = 0
        self.kernel_paths: dict[str, Any] = {}
        self.seed_value = self.default_seed
        self._task_info: dict[str, Any] | None = None
        self._own_pool = False
        self._closers: list[threading.Thread] = []
        self._deferred_closes: list[Any] = []  # kernels of ended episodes, stopped after reset()
        self.pool = self._setup_pool(pool)

    def _setup_pool(self, pool: Any) -> Any:
        """`pool`: None, a size (this env keeps its own warm pool) or a shared `KernelPool`."""
        from dojo_nb.kernel.pool import KernelPool

        if pool is None or pool is False or pool == 0:
            return None
        if isinstance(pool, KernelPool):
            if pool.backend != self.backend or pool.sandbox_limits != self.sandbox_limits:
                raise ValueError(f"the pool's kernels ({pool.backend}, {pool.sandbox_limits}) do not "
                                 f"match this env ({self.backend}, {self.sandbox_limits})")
            return pool
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 0:
            raise ValueError(f"pool must be None, a size >= 0 or a KernelPool, got {pool!r}")
        # Staged next to the episodes: a pooled sandbox is moved into its episode by rename.
        staging = self.out_dir.parent if self.out_dir is not None else Path.cwd() / "runs"
        self._own_pool = True
        return KernelPool(self.backend, pool, staging_dir=staging,
                          sandbox_limits=self.sandbox_limits).start()

    def _start_session(self, spec: Any) -> tuple[Any, str]:
        """A kernel for `spec`: a warm one from the pool when ready, else a cold start."""
        from dojo_nb.kernel import SyncKernelSession

        if self.pool is not None:
            session = self.pool.acquire(spec.root)
            if session is not None:
                return session, "pool"
        spec.ensure_dirs()
        session = SyncKernelSession(spec, backend=self.backend)
        try:
            session.start()
        except BaseException:
            session.close()
            raise
        return session, "cold"

    # --- paths ----------------------------------------------------------------------
    @property
    def submission_host_path(self) -> Path:
        assert self.sandbox_dir is not None
        return layout.EpisodeLayout(self.sandbox_dir.parent).submission_file

    def _new_episode_dir(self, options: Mapping[str, Any]) -> Path:
        if options.get("out_dir"):
            path = Path(str(options["out_dir"])).expanduser().resolve()
        elif self.out_dir is not None:
            path = self.out_dir
        else:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            path = Path.cwd() / "runs" / f"{self.task_id}-{stamp}-{secrets.token_hex(3)}"
        base, n = path, 0
        # Never mix two episodes in one folder: a used out_dir gives DIR-1, DIR-2, ...
        while path.exists() and any(path.iterdir()):
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- budget ---------------------------------------------------------------------
    def _steps_left(self) -> int:
        return max(0, self.max_steps - self._steps)

    def _seconds_left(self) -> float:
        return max(0.0, self.episode_timeout_s - (time.monotonic() - self._t0))

    # --- gymnasium API ----------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a new episode (ending the previous one): fresh folder, kernel and notebook."""
        try:
            return self._reset(seed=seed, options=options)
        finally:
            # The previous episode's kernel stops only now: stopping it while this episode's
            # first cell runs would compete with it for the driver's CPU (2 cores here).
            self._start_deferred_closes()

    def _start_deferred_closes(self) -> None:
        for session in self._deferred_closes:
            closer = threading.Thread(target=session.close, name="dojo-nb-close", daemon=True)
            closer.start()
            self._closers.append(closer)
        self._deferred_closes.clear()

    def _reset(self, *, seed: int | None,
               options: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        if self._open:
            self._end_episode("reset")
        if self._episodes == 0:  # the limited grading helper warms up while the kernel starts
            from dojo_nb.tasks.grading_limits import prestart

            prestart()
        options = dict(options or {})
        if seed is not None:
            episode_seed = int(seed)
        elif self._episodes == 0:
            episode_seed = self.default_seed
        else:
            episode_seed = int(self.np_random.integers(2**31 - 1))
        self.seed_value = episode_seed

        self.episode_dir = self._new_episode_dir(options)
        self.sandbox_dir = self.episode_dir / layout.SANDBOX
        (self.episode_dir / layout.SUBMISSIONS).mkdir()
        self._episodes += 1
        data = self.task.prepare()

        from dojo_nb.kernel import SandboxSpec

        spec = SandboxSpec(root=self.sandbox_dir, **self.sandbox_limits)
        self.session = None
        try:
            self.session, kernel_source = self._start_session(spec)
            input_how = _populate_input(Path(data.public_dir), self.sandbox_dir / "input")
            kpaths = self.session.paths
            self.kernel_paths = {
                "INPUT_DIR": kpaths.input_dir,
                "WORKING_DIR": kpaths.working_dir,
                "SUBMISSION_PATH": f"{kpaths.submission_dir.rstrip('/')}/{SUBMISSION_FILENAME}",
                "SEED": episode_seed,
            }

            self._steps = 0
            self._t0 = time.monotonic()
            self._started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._best = 0.0
            self._reward_sum = 0.0
            self._submissions: list[_Submission] = []
            self._final = None
            self._terminated = False
            self._truncated = False
            self._end_reason: str | None = None
            self._open = True

            self.trajectory = nbk.Trajectory(
                self.episode_dir / layout.TRAJECTORY,
                kernelspec=getattr(self.session, "kernelspec", None),
                language_info=getattr(self.session, "language_info", None),
                dojo={
                    "task": self.task_info(),
                    "backend": self.backend,
                    "agent": self.agent_name,
                    "seed": episode_seed,
                    "make_seed": self.default_seed,
                    "budgets": self._budgets(),
                    "sandbox_limits": self.sandbox_limits,
                    "kernel_paths": self.kernel_paths,
                    "started_at": self._started_at,
                    "input_population": input_how,
                    "kernel_source": kernel_source,
                    "final_rule": FINAL_RULE,
                },
            )
            self.trajectory.add_description(str(_task_attr(self.task, "description", "")))
            params = nbk.parameters_source(kpaths.input_dir, kpaths.working_dir,
                                           self.kernel_paths["SUBMISSION_PATH"], episode_seed)
            result = self.session.execute(params, timeout=self.cell_timeout_s)
            self.trajectory.add_parameters(kpaths.input_dir, kpaths.working_dir,
                                           self.kernel_paths["SUBMISSION_PATH"], episode_seed,
                                           result=result)
            self._set_prelude(params)
            self.trajectory.save()
        except BaseException:  # never leave a kernel running for an episode that did not start
            if self.session is not None:
                try:
                    self.session.close()
                finally:
                    self.session = None
            self._open = False
            raise

        text = self._reset_text()
        status = "ok" if result.status == "ok" else "error"
        obs = _observation(status, action_type="reset", text=text, cell_index=1,
                           execution_count=result.execution_count,
                           elapsed_s=result.elapsed_s, steps_left=self._steps_left(),
                           seconds_left=self._seconds_left(),
                           message=None if status == "ok" else f"the parameters cell failed: {result.text}")
        self._show(obs)
        return obs, self._info()

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply one action; never raises for anything the agent sends."""
        if not self._open or self.trajectory is None:
            done = self._final is not None
            obs = _observation("invalid_action", action_type="none",
                               message=("the episode is over; call reset() to start another"
                                        if done else "call reset() before step()"))
            obs["text"] = obs["message"]
            return obs, 0.0, bool(self._final and self._terminated), bool(self._final and self._truncated), {}
        self._steps += 1
        t_step = time.monotonic()
        parsed = parse_action(action)
        reward = 0.0
        terminated = False
        try:
            if isinstance(parsed, InvalidAction):
                obs = self._invalid(parsed)
            else:
                obs, reward, terminated = getattr(self, f"_do_{parsed.type}")(parsed)
        except Exception as exc:  # an environment fault: report it, keep the episode alive
            msg = f"internal error while handling the action: {type(exc).__name__}: {exc}"
            idx = self.trajectory.add_markdown(
                nbk.event_markdown("error", msg),
                {"step": self._steps, "action_type": getattr(parsed, "type", "unknown"),
                 "status": "error"})
            obs = _observation("error", action_type=getattr(parsed, "type", "unknown") or "unknown",
                               text=msg, message=msg, cell_index=idx)
        self._complete_cell_metadata(obs, time.monotonic() - t_step)
        obs["steps_left"] = self._steps_left()
        obs["seconds_left"] = self._seconds_left()
        truncated = not terminated and (obs["steps_left"] <= 0 or obs["seconds_left"] <= 0)
        info = self._info()
        if terminated or truncated:
            self._terminated, self._truncated = terminated, truncated
            reason = ("final_submit" if terminated else
                      "max_steps" if obs["steps_left"] <= 0 else "episode_timeout")
            self._end_episode(reason)
            info = self._info()
        else:
            self._save_trajectory(obs)
        self._show(obs)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def _save_trajectory(self, obs: dict[str, Any]) -> None:
        """Save after a step; a failed save (a full disk) is reported, kept in memory, retried."""
        assert self.trajectory is not None
        try:
            self.trajectory.save()
        except OSError as exc:
            note = (f"the trajectory could not be saved ({exc.strerror or exc}); every step is kept in "
                    "memory and written with the next successful save")
            obs["message"] = f"{obs['message']} | {note}" if obs.get("message") else note
            obs["text"] = f"{obs['text']}\n[dojo-nb] {note}"

    def _disk_full_note(self, result: Any) -> str | None:
        """A plain sentence when a cell failed because the episode's disk is full."""
        err = getattr(result, "error", None) or {}
        text = f"{err.get('ename', '')} {err.get('evalue', '')}"
        if "No space left on device" not in text and "Errno 28" not in text and "Disk quota" not in text:
            return None
        assert self.sandbox_dir is not None
        try:
            free = shutil.disk_usage(self.sandbox_dir / "working").free
        except OSError:
            return "The disk holding WORKING_DIR is full: delete files you no longer need."
        return (f"The disk holding WORKING_DIR is full ({free / 1e6:.1f} MB free): delete files you no "
                "longer need; the kernel and the episode go on.")

    def _complete_cell_metadata(self, obs: dict[str, Any], elapsed: float) -> None:
        """Every step's cell carries elapsed_s and kernel_restarted, code or not."""
        idx = obs.get("cell_index")
        if self.trajectory is None or not isinstance(idx, int) or idx >= len(self.trajectory):
            return
        meta = CellMeta.of(self.trajectory.cell(idx))
        missing: dict[str, Any] = {}
        if not meta.has("elapsed_s"):
            missing["elapsed_s"] = round(elapsed, 6)
            obs["elapsed_s"] = float(elapsed)
        if not meta.has("kernel_restarted"):
            missing["kernel_restarted"] = False
        if missing:
            self.trajectory.update_cell(idx, **missing)

    def _show(self, obs: dict[str, Any]) -> None:
        """Keep the observation for render(); a "widget" env refreshes its live view now."""
        self._last_obs = obs
        if self.render_mode == "widget":
            self.render()

    def render(self) -> Any:
        """"ansi": the last observation's text. "widget": a LiveEpisodeView shown once, updated in place."""
        if self.render_mode == "ansi":
            return self._last_obs["text"] if self._last_obs else ""
        if self.render_mode == "widget":
            if self._live_view is None:
                from .widgets import LiveEpisodeView  # ipywidgets only when asked for

                self._live_view = LiveEpisodeView().show()
            self._live_view.update(self)
            return self._live_view
        return None

    def close(self) -> None:
        """End the episode (if one is running): stop the kernel, write solution and summary."""
        if self._open:
            self._end_episode("closed")
        self._start_deferred_closes()
        for closer in self._closers:
            closer.join(timeout=60)
        self._closers.clear()
        if self._own_pool and self.pool is not None:
            self.pool.close()
            self.pool = None
        super().close()

    def __del__(self) -> None:  # a forgotten env must not leave a kernel behind
        try:
            if getattr(self, "_open", False) and self.session is not None:
                self.session.close()
            for session in getattr(self, "_deferred_closes", []):
                session.close()
            if getattr(self, "_own_pool", False) and self.pool is not None:
                self.pool.close()
        except Exception:
            pass

    # --- info -----------------------------------------------------------------------
    def task_info(self) -> dict[str, Any]:
        """Task metadata a scripted agent needs to work from files alone (a fresh copy)."""
        if self._task_info is None:  # built once: it is in every step's info
            self._task_info = self._build_task_info()
        return json.loads(json.dumps(self._task_info))

    def _build_task_info(self) -> dict[str, Any]:
        t = self.task
        if callable(getattr(t, "metadata", None)):  # the task's own list of agent-safe facts
            meta = _jsonable(t.metadata())
            meta["id"] = self.task_id
            meta.setdefault("submission_kind", "csv")
            meta.setdefault("target_columns", [])
            return meta
        return _jsonable({
            "id": self.task_id,
            "name": _task_attr(t, "name", self.task_id),
            "version": _task_attr(t, "version", None),
            "type": _task_attr(t, "type", None),
            "metric": _task_attr(t, "metric", None),
            "lower_is_better": _task_attr(t, "lower_is_better", None),
            "id_column": _task_attr(t, "id_column", None),
            "target_columns": list(_task_attr(t, "target_columns", []) or []),
            "submission_kind": _task_attr(t, "submission_kind", "csv"),
            "split": _task_attr(t, "split", None),
        })

    def _info(self) -> dict[str, Any]:
        info = {
            "task": self.task_info(),
            "episode_dir": str(self.episode_dir) if self.episode_dir else None,
            "sandbox_dir": str(self.sandbox_dir) if self.sandbox_dir else None,
            "paths": dict(self.kernel_paths),
            "submission_path": self.kernel_paths["SUBMISSION_PATH"],
            "submission_host_path": str(self.submission_host_path),
            "step": self._steps,
            "best_public_position_score": self._best,
            "reward_sum": self._reward_sum,
            "n_submissions": len(self._submissions),
        }
        if self._final is not None:
            info["final"] = json.loads(json.dumps(self._final))
            info["end_reason"] = self._end_reason
        return info

    def _reset_text(self) -> str:
        return view.reset_text(str(_task_attr(self.task, "description", "")), self.kernel_paths,
                               self._data_listing(head=False), self._budgets())

    def _budgets(self) -> dict[str, Any]:
        return {"max_steps": self.max_steps, "cell_timeout_s": self.cell_timeout_s,
                "episode_timeout_s": self.episode_timeout_s}

    # --- action handlers ------------------------------------------------------------
    def _code_obs(self, action_type: str, source: str, extra: dict[str, Any]) -> tuple[dict[str, Any], float, bool]:
        """Run a code cell; its source is in the saved trajectory before it runs, outputs after."""
        assert self.trajectory is not None
        timeout = max(1.0, min(self.cell_timeout_s, self._seconds_left()))
        dojo = {"step": self._steps, "action_type": action_type, **extra}
        idx = self.trajectory.add_code(source, {"status": "running"}, dojo)
        try:  # no failure of the driver may hide what ran; a failed save is reported after the step
            self.trajectory.save()
        except OSError:
            pass
        try:
            result = self.session.execute(source, timeout=timeout)
        except Exception as exc:
            self.trajectory.update_cell(idx, status="error",
                                        message=f"the driver failed while running this cell: {type(exc).__name__}: {exc}")
            raise
        full = self._disk_full_note(result) if result.status == "error" else None
        if full:
            result.message = f"{result.message} {full}" if result.message else full
            result.text = f"{result.text}\n[dojo-nb] {full}"
        r = result.to_dict()
        self._fill_code_cell(idx, r)
        obs = _observation(r["status"], action_type=action_type, text=r["text"], outputs=r["outputs"],
                           error=r["error"], elapsed_s=r["elapsed_s"] or 0.0, cell_index=idx,
                           execution_count=r["execution_count"], message=r["message"])
        if r.get("kernel_restarted"):
            self._rerun_parameters()
        return obs, 0.0, False

    def _fill_code_cell(self, idx: int, r: dict[str, Any]) -> None:
        """Put a finished cell's outputs into the cell recorded (source only) before it ran."""
        assert self.trajectory is not None
        import nbformat

        cell = self.trajectory.cell(idx)
        cell["outputs"] = [nbformat.from_dict(o) for o in nbk._jsonable(r.get("outputs") or [])]
        count = r.get("execution_count")
        cell["execution_count"] = count if isinstance(count, int) else None
        self.trajectory.update_cell(idx, **{k: r[k] for k in ("status", "elapsed_s", "kernel_restarted", "message")
                                            if k in r})

    def _do_execute_code(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        return self._code_obs("execute_code", a["code"], {})

    def _target_code_cell(self, a: Action) -> str | None:
        """The problem with `cell_index`, or None if it names an earlier code cell."""
        assert self.trajectory is not None
        i, n = a["cell_index"], len(self.trajectory)
        if i >= n:
            return f"{a.type}: cell_index {i} does not exist (the notebook has cells 0..{n - 1})"
        cell = self.trajectory.cell(i)
        if cell.cell_type != "code":
            return f"{a.type}: cell {i} is a markdown cell; only code cells can be {'edited' if a.type == 'edit_cell' else 'run'}"
        if CellMeta.of(cell).action_type == PARAMETERS:
            # A copy of it in solution.ipynb would undo the parameters papermill injects.
            return (f"{a.type}: the parameters cell (cell {i}) cannot be "
                    f"{'edited' if a.type == 'edit_cell' else 'run again'}; it runs by itself "
                    "after every kernel restart")
        return None

    def _do_edit_cell(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        problem = self._target_code_cell(a)
        if problem:
            return self._invalid(InvalidAction(problem, type=a.type), a), 0.0, False
        return self._code_obs("edit_cell", a["code"], {"edits": a["cell_index"]})

    def _do_run_cell(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        problem = self._target_code_cell(a)
        if problem:
            return self._invalid(InvalidAction(problem, type=a.type), a), 0.0, False
        assert self.trajectory is not None
        source = self.trajectory.cell(a["cell_index"]).source
        return self._code_obs("run_cell", source, {"reruns": a["cell_index"]})

    def _event(self, a: Action, status: str, summary: str, text: str, *,
               detail: str | None = None, grading: dict | None = None, reward: float | None = None,
               message: str | None = None, **dojo: Any) -> dict[str, Any]:
        """Record a non-code action as a short markdown cell and build its observation."""
        assert self.trajectory is not None
        meta = {"step": self._steps, "action_type": a.type, "status": status, "action": a.to_dict(),
                **dojo}
        if grading is not None:
            meta["grading"] = grading
        if reward is not None:
            meta["reward"] = reward
        if detail is not None:
            detail = view.truncate_end(detail, 4000)
        idx = self.trajectory.add_markdown(nbk.event_markdown(a.type, summary, detail), meta)
        return _observation(status, action_type=a.type, text=text, cell_index=idx,
                            grading=grading, message=message)

    def _invalid(self, bad: InvalidAction, action: Action | None = None) -> dict[str, Any]:
        assert self.trajectory is not None
        meta = {"step": self._steps, "action_type": "invalid_action", "status": "invalid_action",
                "requested_type": bad.type, "raw_preview": bad.raw_preview}
        idx = self.trajectory.add_markdown(nbk.event_markdown("invalid_action", bad.message), meta)
        return _observation("invalid_action", action_type=bad.type or "invalid", text=bad.message,
                            message=bad.message, cell_index=idx)

    def _do_add_markdown(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        assert self.trajectory is not None
        idx = self.trajectory.add_markdown(a["text"], {"step": self._steps, "action_type": a.type,
                                                       "status": "ok"})
        return _observation("ok", action_type=a.type, text=f"markdown cell {idx} added",
                            cell_index=idx), 0.0, False

    def _do_request_info(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        what = a["what"]
        text = getattr(self, f"_info_{what}")()
        text = view.truncate_end(text, _MAX_INFO_CHARS)
        return self._event(a, "ok", what, text, detail=text), 0.0, False

    def _info_description(self) -> str:
        return str(_task_attr(self.task, "description", "(no description)"))

    def _data_listing(self, head: bool = True) -> str:
        assert self.sandbox_dir is not None
        return view.input_listing(self.sandbox_dir / "input", str(self.kernel_paths["INPUT_DIR"]), head=head)

    def _info_data(self) -> str:
        return "Files in INPUT_DIR (read-only; first lines of text files shown):\n" + self._data_listing()

    def _info_submission_format(self) -> str:
        t = self.task_info()
        lines = [f"Write a CSV file to SUBMISSION_PATH = {self.kernel_paths['SUBMISSION_PATH']!r} "
                 f"(one row per test id; predictions of kind {t['submission_kind']!r})."]
        if t.get("classes"):
            lines.append(f"Classes: {', '.join(map(repr, t['classes']))}.")
        if t["id_column"]:
            lines.append(f"Columns: {t['id_column']!r} (the row id) then {', '.join(map(repr, t['target_columns']))}.")
        elif t["target_columns"]:
            lines.append(f"Columns: {', '.join(map(repr, t['target_columns']))}.")
        samples = sorted((self.sandbox_dir / "input").glob("sample_submission*"))  # type: ignore[operator]
        if samples:
            rel = samples[0].name
            with open(samples[0], encoding="utf-8", errors="replace") as fh:
                first = [fh.readline().rstrip("\n")[:300] for _ in range(4)]
            lines.append(f"Example (INPUT_DIR/{rel}):")
            lines += [f"  {line}" for line in first if line]
        lines.append('Check it with {"type": "validate"} before {"type": "submit"}.')
        return "\n".join(lines)

    def _info_metric(self) -> str:
        t = self.task_info()
        better = "lower" if t["lower_is_better"] else "higher"
        return (f"Metric: {t['metric']} ({better} is better), computed on the public part of the "
                "hidden answers when you submit. The reward is the gain in the public position "
                "score (0..1: the share of a reference leaderboard you beat) over your best so far.")

    def _info_history(self) -> str:
        assert self.trajectory is not None
        nb = self.trajectory.to_notebook()
        lines = [f"Step {self._steps} of {self.max_steps}; {self._seconds_left():.0f} s left; "
                 f"best public position score {self._best:.4f}."]
        for s in nbk.list_steps(nb)[-50:]:
            line = f"  step {s.step}: cell {s.cell_index} {s.action_type} -> {s.status}"
            if s.reward:
                line += f" (reward {s.reward:+.4f})"
            lines.append(line)
        for sub in self._submissions:
            lines.append(f"  submission at step {sub.step}: valid={sub.valid} public_score={sub.public_score} "
                         f"public_position_score={sub.public_position_score}")
        return "\n".join(lines)

    def _snapshot(self, dest: Path) -> str | None:
        """Copy the submission out of the sandbox, safely; None on success, else why not.

        The kernel controls the sandbox (and may still run threads), so the file is opened
        once without following symlinks, must be a regular file under the task's size cap,
        and is graded from the copy: a symlink to the answers, or a swap after the check,
        cannot reach the grader.
        """
        where = f"SUBMISSION_PATH = {self.kernel_paths['SUBMISSION_PATH']!r}"
        try:
            fd = os.open(self.submission_host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return f"no submission file: write it to {where}"
        except OSError as exc:
            if self.submission_host_path.is_symlink():
                return f"{where} is a symbolic link; write a regular file"
            return f"cannot read {where}: {exc.strerror}"
        cap = int(float(_task_attr(self.task, "max_submission_mb", 50.0)) * 1024 * 1024)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return f"{where} is not a regular file"
            if st.st_size > cap:
                return f"the submission is {st.st_size:,} bytes; the limit is {cap:,}"
            with os.fdopen(os.dup(fd), "rb") as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
        finally:
            os.close(fd)
        return None

    def _do_validate(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        assert self.episode_dir is not None
        copy = self.episode_dir / layout.SUBMISSIONS / layout.VALIDATE_TMP
        problem = self._snapshot(copy)
        if problem is None:
            v = self.task.validate(copy)
            ok, msg = bool(v.ok), str(v.message)
        else:
            ok, msg = False, problem
        copy.unlink(missing_ok=True)
        grading = {"valid": ok, "message": msg}
        status = "ok" if ok else "error"
        summary = ("submission file is valid" if ok else f"invalid: {msg}")
        return self._event(a, status, summary, summary if ok else f"Invalid submission: {msg}",
                           grading=grading, message=None if ok else msg), 0.0, False

    def _grade_file(self, path: Path) -> dict[str, Any]:
        report = self.task.grade(path)
        d = report.to_dict() if hasattr(report, "to_dict") else dict(vars(report))
        return _jsonable(d)

    def _do_submit(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        final = bool(a["final"])
        assert self.episode_dir is not None
        kept = self.episode_dir / layout.kept_submission_name(self._steps, self.submission_host_path.suffix)
        msg = self._snapshot(kept)
        if msg is not None:
            kept.unlink(missing_ok=True)
            grading = {"valid": False, "message": msg, "public_score": None,
                       "public_position_score": None, "best_public_position_score": self._best,
                       "reward": 0.0}
            obs = self._event(a, "error", f"no file{' (final)' if final else ''}",
                              f"Submission failed: {msg}", grading=grading, reward=0.0, message=msg)
            return obs, 0.0, final
        report = self._grade_file(kept)
        valid = bool(report.get("valid"))
        pos = _clean_number(report.get("public_position_score")) if valid else None
        reward = max(0.0, pos - self._best) if pos is not None else 0.0
        if pos is not None:
            self._best = max(self._best, pos)
        self._reward_sum += reward
        sub = _Submission(self._steps, str(kept.relative_to(self.episode_dir)), valid,
                          str(report.get("message") or ""), _clean_number(report.get("public_score")),
                          pos, report)
        self._submissions.append(sub)
        grading = {k: report.get(k) for k in _PUBLIC_GRADE_KEYS}
        grading.update(best_public_position_score=self._best, reward=reward, final=final)
        if valid:
            summary = (f"public score {_fmt(sub.public_score, '.6g')} (position {_fmt(pos, '.4f')}), "
                       f"reward {reward:+.4f}{', final' if final else ''}")
            text = (f"Submission graded on the public split: {report.get('metric') or 'score'} "
                    f"{_fmt(sub.public_score, '.6g')}, position score {_fmt(pos, '.4f')}; best so "
                    f"far {self._best:.4f}; reward {reward:+.4f}.")
        else:
            summary = f"invalid: {sub.message}"
            text = f"Invalid submission: {sub.message}"
        if final:
            text += " This was the final submission: the episode ends."
        obs = self._event(a, "ok" if valid else "error", summary, text, grading=grading, reward=reward,
                          message=None if valid else sub.message, submission_file=sub.file)
        return obs, reward, final

    def _set_prelude(self, params: str) -> None:
        """A kernel found dead before a cell is restarted by the session, which then runs this first."""
        inner = getattr(self.session, "session", None)
        if inner is not None and hasattr(inner, "prelude"):
            inner.prelude = params

    def _rerun_parameters(self) -> None:
        """A fresh kernel must know INPUT_DIR & co. again (the notebook's cell 1 did that)."""
        assert self.trajectory is not None
        self.session.execute(self.trajectory.cell(1).source, timeout=self.cell_timeout_s)

    def _do_restart_kernel(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        t = time.monotonic()
        self.session.restart()
        self._rerun_parameters()
        obs = self._event(a, "ok", "kernel restarted; all variables are lost, files stay",
                          "Kernel restarted: all variables are lost (files stay). The parameters "
                          "cell ran again.", kernel_restarted=True,
                          elapsed_s=round(time.monotonic() - t, 3))
        obs["elapsed_s"] = time.monotonic() - t
        return obs, 0.0, False

    def _do_interrupt(self, a: Action) -> tuple[dict[str, Any], float, bool]:
        self.session.interrupt()
        return self._event(a, "ok", "interrupt sent",
                           "Interrupt sent to the kernel (cells run to completion or timeout "
                           "inside a step, so nothing was running)."), 0.0, False

    # --- end of episode ---------------------------------------------------------------
    def _final_grade(self) -> dict[str, Any]:
        """The final scores, by `FINAL_RULE` (see the module docstring)."""
        keys = ("valid", "message", "public_score", "public_position_score", "private_score",
                "private_position_score", "medal", "above_median", "lower_is_better")
        valid = [s for s in self._submissions if s.valid]
        if valid:
            sub = valid[-1]
            final = {k: sub.report.get(k) for k in keys}
            final.update(rule=FINAL_RULE, source="submit", step=sub.step, file=sub.file)
            return final
        final = dict.fromkeys(keys)
        final.update(valid=False, rule=FINAL_RULE, source=None, step=None, file=None)
        assert self.episode_dir is not None
        kept = self.episode_dir / layout.final_submission_name(self.submission_host_path.suffix)
        problem = self._snapshot(kept)
        if problem is not None:
            final["message"] = f"no valid submission was made ({problem})"
            return final
        try:
            rep = self._grade_file(kept)
        except Exception as exc:  # a grader fault must not lose the episode
            rep = {"valid": False, "message": f"grading failed: {exc}"}
        final.update({k: rep.get(k) for k in keys})
        final.update(source="file_at_end", file=str(kept.relative_to(self.episode_dir)))
        return final

    def _end_episode(self, reason: str) -> None:
        """Grade the final submission, stop the kernel, write trajectory, solution and summary."""
        if not self._open:
            return
        self._open = False
        self._end_reason = reason
        assert self.trajectory is not None and self.episode_dir is not None
        try:
            self._final = self._final_grade()
        except Exception as exc:
            self._final = {"rule": FINAL_RULE, "valid": False, "message": f"final grading failed: {exc}"}
        elapsed = time.monotonic() - self._t0
        try:
            if self.session is not None:
                if reason == "reset":
                    # The next episode need not wait ~0.1 s for this kernel to stop: reset()
                    # closes it in a thread once the new episode is up; close() joins.
                    self._deferred_closes.append(self.session)
                else:
                    self.session.close()
        finally:
            self.session = None
            self.trajectory.update_metadata(
                final=self._final, end_reason=reason, steps=self._steps, elapsed_s=round(elapsed, 3),
                reward_sum=self._reward_sum, best_public_position_score=self._best,
                ended_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            self.trajectory.save()
            self.trajectory.save_solution(self.episode_dir / layout.SOLUTION)
            summary = {
                "task": self.task_info(), "backend": self.backend, "agent": self.agent_name,
                "seed": self.seed_value, "episode_dir": str(self.episode_dir),
                "sandbox_dir": str(self.sandbox_dir), "kernel_paths": self.kernel_paths,
                "started_at": self._started_at, "elapsed_s": round(elapsed, 3), "steps": self._steps,
                "end_reason": reason, "terminated": self._terminated, "truncated": self._truncated,
                "reward_sum": self._reward_sum, "best_public_position_score": self._best,
                "submissions": [
                    {"step": s.step, "file": s.file, "valid": s.valid, "message": s.message,
                     "public_score": s.public_score, "public_position_score": s.public_position_score}
                    for s in self._submissions],
                "final": self._final,
                "trajectory": layout.TRAJECTORY, "solution": layout.SOLUTION,
                "replay": layout.REPLAY_JSON,
                "packages": nbk.package_versions(),
            }
            nbk.atomic_write_text(self.episode_dir / SUMMARY_NAME,
                                  json.dumps(_jsonable(summary), indent=1) + "\n")

    # --- resuming after the driver died ------------------------------------------------
    def resume(self, episode_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Continue an episode whose driver died: like `reset`, but into the same folder.

        The trajectory on disk is the truth: steps, submissions and rewards are read back
        from it (kept submission files are graded again to recover the hidden part of each
        report), and the kernel's state is rebuilt by running the parameters cell and the
        solution cells so far in a fresh sandbox over the same files. Anything a cell did
        that those cells do not redo (variables of failed or pre-restart cells) is lost,
        and the observation says so. Raises `ResumeError`, writing nothing, when the
        folder is not a resumable episode of this env's task.
        """
        from dojo_nb.replay import limits_note

        root = Path(episode_dir).expanduser().resolve()
        traj_path = root / layout.TRAJECTORY
        record = load_for_resume(root, self.task_id)
        traj = nbk.Trajectory.from_notebook(record.nb, traj_path)
        _check_resume_folders(root)
        if self._open:
            self._end_episode("reset")
        steps = record.steps
        last_step = max((s.step for s in steps), default=0)

        self.episode_dir = root
        self.sandbox_dir = root / layout.SANDBOX
        removed = _clear_planted_files(root)
        dojo_meta = record.meta
        # The sandbox is this env's (the caller's and the defaults), never the notebook's own.
        limits_ignored = limits_note(dojo_meta.sandbox_limits, self.sandbox_limits)
        self.seed_value = int(dojo_meta.seed if dojo_meta.has("seed") else self.default_seed)
        data = self.task.prepare()

        from dojo_nb.kernel import SandboxSpec, SyncKernelSession

        spec = SandboxSpec(root=self.sandbox_dir, **self.sandbox_limits)
        spec.ensure_dirs()
        _populate_input(Path(data.public_dir), self.sandbox_dir / "input")
        self.session = SyncKernelSession(spec, backend=self.backend)
        try:
            self.session.start()
            kpaths = self.session.paths
            self.kernel_paths = {
                "INPUT_DIR": kpaths.input_dir, "WORKING_DIR": kpaths.working_dir,
                "SUBMISSION_PATH": f"{kpaths.submission_dir.rstrip('/')}/{SUBMISSION_FILENAME}",
                "SEED": self.seed_value,
            }
            # Rebuild the kernel's state: the parameters cell, then the solution cells so far.
            nb = traj.to_notebook()
            order = [i for i in [nbk.parameters_cell_index(nb)] if i is not None]
            order += nbk.solution_cell_indices(nb)
            rebuilt: list[dict[str, Any]] = []
            for i in order:
                r = self.session.execute(nb.cells[i].source, timeout=self.cell_timeout_s)
                rebuilt.append({"cell_index": i, "status": r.status})
            self.trajectory = traj
            self._steps = last_step
            self._restore_submissions(steps)
            spent = sum(float(s.elapsed_s or 0.0) for s in steps)
            self._t0 = time.monotonic() - spent
            self._started_at = str(dojo_meta.started_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            self._final = None
            self._terminated = self._truncated = False
            self._end_reason = None
            self._open = True
            self._episodes += 1
        except BaseException:
            self.session.close()
            self.session = None
            raise

        failed = [r for r in rebuilt if r["status"] != "ok"]
        summary = (f"resumed after step {last_step}: a fresh kernel re-ran the parameters cell and "
                   f"{len(rebuilt) - 1 if rebuilt else 0} solution cell(s)"
                   + (f"; {len(failed)} failed this time (cells {', '.join(str(r['cell_index']) for r in failed)})"
                      if failed else ""))
        text = (f"The episode was resumed after step {last_step} in a fresh kernel. Re-ran the "
                f"parameters cell and the {max(0, len(rebuilt) - 1)} cells that succeeded since the last "
                "restart, so their variables exist again; variables made only by other cells are lost "
                "(files on disk stay).")
        if failed:
            text += f" {len(failed)} of them failed this time: cells {[r['cell_index'] for r in failed]}."
        notes = [n for n in [limits_ignored] if n]
        if removed:
            notes.append(f"removed links and stale temporary files from the episode folder: {', '.join(removed[:10])}")
        if notes:
            text += " Note: " + "; ".join(notes) + "."
        self.resume_notes = notes
        resumes = list(dojo_meta.resumes or [])
        entry: dict[str, Any] = {"after_step": last_step, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "rebuilt": rebuilt, "backend": self.backend}
        if limits_ignored:
            entry["ignored_sandbox_limits"] = dojo_meta.sandbox_limits
        resumes.append(entry)
        self.trajectory.update_metadata(resumes=resumes, sandbox_limits=self.sandbox_limits)
        idx = self.trajectory.add_markdown(
            nbk.event_markdown("resume", summary),
            {"action_type": "resume", "status": "error" if failed else "ok", "after_step": last_step,
             "rebuilt": rebuilt})
        self.trajectory.save(traj_path)
        obs = _observation("error" if failed else "ok", action_type="resume", text=text + "\n\n" + self._reset_text(),
                           cell_index=idx, steps_left=self._steps_left(), seconds_left=self._seconds_left(),
                           message=text)
        self._show(obs)
        return obs, self._info()

    def _restore_submissions(self, steps: list[nbk.StepRecord]) -> None:
        """Submissions, best score and reward sum as the trajectory recorded them."""
        assert self.episode_dir is not None
        self._submissions = []
        self._best = 0.0
        self._reward_sum = 0.0
        for s in steps:
            self._reward_sum += float(s.reward or 0.0)
            if s.action_type != "submit":
                continue
            g = s.meta.grade
            file = s.meta.submission_file
            report: dict[str, Any] = {}
            kept = _kept_submission(self.episode_dir, file) if g.get("valid") else None
            if kept is not None:
                report = self._grade_file(kept)  # the hidden half was never stored
            pos = _clean_number(g.get("public_position_score"))
            self._submissions.append(_Submission(
                s.step, str(file or ""), bool(g.get("valid")) and bool(report), str(g.get("message") or ""),
                _clean_number(g.get("public_score")), pos, report))
            if pos is not None and g.get("valid"):
                self._best = max(self._best, pos)

    @classmethod
    def read_episode(cls, episode_dir: str | os.PathLike[str]) -> dict[str, Any]:
        """What an episode folder holds: summary (if written), notebook metadata and steps."""
        record = load_episode(Path(episode_dir), error=UnsafeRecordError, strict=True)
        return {
            "summary": record.summary,
            "metadata": record.meta.to_dict(),
            "steps": record.steps,
            "notebook": record.nb,
        }


class ResumeError(EpisodeRecordError, ValueError):
    """The folder cannot be resumed (the message says why); nothing was written."""


_RESUME_FOLDERS = layout.RESUME_FOLDERS


def _check_resume_folders(root: Path) -> None:
    """The folders a resume writes to (and the kernel gets bind-mounted) are real folders here.

    A crafted ``sandbox/working -> /home/you`` would give the kernel your home folder.
    """
    from dojo_nb import safe_io

    try:
        for rel in _RESUME_FOLDERS:  # all checked before any is made: a refusal writes nothing
            what = safe_io.kind(root, rel)
            if what not in (None, "dir"):
                safe_io.check(root, rel, want="dir")
        for rel in _RESUME_FOLDERS:
            safe_io.make_dirs(root, rel)
    except OSError as exc:
        raise ResumeError(f"cannot resume {root}: {exc}") from None


def _clear_planted_files(root: Path) -> list[str]:
    """Unlink what the driver never leaves behind: links in submissions/ and the episode folder's
    own files, and stale ``.NAME.*.tmp`` files (a planted link there would be written through)."""
    from dojo_nb import safe_io

    removed = []
    for folder in ("", layout.SUBMISSIONS):
        here = root / folder if folder else root
        for child in sorted(here.iterdir()):
            name = f"{folder}/{child.name}" if folder else child.name
            what = safe_io.kind(root, name)
            planted = what == "link" and (folder or child.name in _EPISODE_FILES)
            stale = child.name.startswith(".") and child.name.endswith(".tmp") and what in ("link", "file")
            if planted or stale:
                safe_io.remove(root, name)
                removed.append(name)
    return removed


_EPISODE_FILES = layout.EPISODE_FILES


def _kept_submission(root: Path, file: Any) -> Path | None:
    """A kept submission named by the (possibly crafted) trajectory: a regular file under
    submissions/, reached through no link, else None."""
    from dojo_nb import safe_io

    if not layout.EpisodeLayout(root).is_submission(file):
        return None
    try:
        return safe_io.check(root, file, want="file")
    except OSError:
        return None


def load_for_resume(root: Path, task_id: str | None) -> EpisodeRecord:
    """The episode's record, checked: readable, valid, unfinished, of the right task."""
    record = load_episode(root, error=ResumeError, strict=True, validate=True, with_replay=False)
    path = record.notebook_path
    meta = record.meta
    if record.summary is not None or meta.final is not None:
        why = meta.end_reason or f"{layout.SUMMARY} exists"
        raise ResumeError(f"the episode in {root} already ended ({why}); there is nothing to resume")
    task = meta.task.get("id")
    if not task:
        raise ResumeError(f"{path} has no metadata.dojo.task.id; it was not written by dojo-nb")
    if task_id is not None and task != task_id:
        raise ResumeError(f"{path} is an episode of task {task!r}, not {task_id!r}")
    if nbk.parameters_cell_index(record.nb) is None:
        raise ResumeError(f"{path} has no parameters cell; the episode never started")
    return record


_load_for_resume = load_for_resume  # the old name


def resume(episode_dir: str | os.PathLike[str], backend: str | None = None,
           **kwargs: Any) -> tuple[DojoEnv, dict[str, Any], dict[str, Any]]:
    """Reopen an unfinished episode: the env (with the episode's own budgets), obs and info.

    `backend` and `kwargs` override what the trajectory's metadata recorded. Sandbox limits
    (network, env, memory_mb, gpus, ...) come only from `kwargs` and the defaults: the
    notebook's recorded ones are ignored (a crafted notebook could turn the network on), and
    the observation says so when they differed.
    """
    root = Path(episode_dir).expanduser().resolve()
    meta = load_for_resume(root, None).meta
    budgets = dict(meta.budgets)
    options: dict[str, Any] = {
        "max_steps": budgets.get("max_steps", 100), "cell_timeout_s": budgets.get("cell_timeout_s", 600.0),
        "episode_timeout_s": budgets.get("episode_timeout_s", 3600.0), "agent_name": meta.agent,
        "seed": meta.make_seed if meta.has("make_seed") else (meta.seed if meta.has("seed") else 0),
    }
    options.update(kwargs)
    env = make(str(meta.task["id"]), backend=backend or meta.backend or "local", **options)
    obs, info = env.resume(root)
    return env, obs, info


def env_spec(task_id: str, **kwargs: Any) -> EnvSpec:
    """The Gymnasium spec of a task's environment (nondeterministic: cells take wall-clock time)."""
    return EnvSpec(id=f"dojo_nb/{task_id}", entry_point="dojo_nb.env:DojoEnv",
                   nondeterministic=True, kwargs={"task_id": task_id, **kwargs})


def make(task_id: str, backend: str = "local", **kwargs: Any) -> DojoEnv:
    """Build the environment for `task_id` (see `DojoEnv` for the options)."""
    env = DojoEnv(task_id, backend, **kwargs)
    env.spec = env_spec(env.task_id, backend=backend, **kwargs)
    return env


__all__ = ["DojoEnv", "make", "resume", "ResumeError", "ActionSpace", "ObservationSpace", "STATUSES", "OBS_KEYS"]
