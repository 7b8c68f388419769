"""`DojoEnv`: the Gymnasium surface of an episode (reset, step, render, close, resume).

Episode rules:

- Every `step` is one action (see `dojo_nb.actions`) and costs one step of ``max_steps``,
  including invalid actions (an agent that only sends garbage still runs out).
- The action is handled by ``HANDLERS[action.type]`` (`dojo_nb.env.handlers`): it records
  its cell in the trajectory and returns the observation, the reward and whether the
  episode ends. Reward and final rules are in `dojo_nb.env.scoring`.
- ``truncated=True`` when ``max_steps`` or ``episode_timeout_s`` runs out. Each cell runs for
  at most ``min(cell_timeout_s, seconds left)``.
- When the episode ends (final submit, a budget, `reset` or `close`), the final grade goes
  to ``info["final"]``, the notebook's ``metadata.dojo.final`` and ``summary.json``
  (`dojo_nb.env.ending`); private scores are never shown during the episode.

The episode folder's layout is `dojo_nb.record.layout`'s.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium
from gymnasium.envs.registration import EnvSpec

from dojo_nb.actions import InvalidAction, parse_action
from dojo_nb.env import info as env_info
from dojo_nb.env import progress
from dojo_nb.env.rules import DEFAULT_MARGIN, DEFAULT_MAX_SUBMISSIONS, Rules, shaping_cap
from dojo_nb.env.ending import end_episode
from dojo_nb.env.handlers import HANDLERS, record_internal_error, record_invalid
from dojo_nb.env.sandbox import check_limits, new_episode_dir, open_sandbox, set_prelude, setup_pool
from dojo_nb.env.spaces import ActionSpace, ObservationSpace, observation
from dojo_nb.env.state import Budgets, EpisodeState, utc_now
from dojo_nb.env.scoring import FINAL_RULE
from dojo_nb.kernel.backends import require_isolation
from dojo_nb.record import layout
from dojo_nb.record.load import UnsafeRecordError, load_episode
from dojo_nb.record.metadata import CellMeta
from dojo_nb.record.trajectory import Trajectory, parameters_source

if TYPE_CHECKING:
    from dojo_nb.kernel import KernelPool, SyncKernelSession


def _state_field(name: str) -> property:
    """An attribute of the env that is a field of its `EpisodeState` (read and set)."""
    return property(lambda self: getattr(self.state, name), lambda self, value: setattr(self.state, name, value),
                    doc=f"``env.state.{name}``")


class DojoEnv(gymnasium.Env):
    """A task episode in a live notebook. Build it with `dojo_nb.make`."""

    metadata = {"render_modes": ["ansi", "widget"], "render_fps": 1}

    def __init__(self, task_id: str, backend: str = "local", *, max_steps: int = 100,
                 cell_timeout_s: float = 600.0, episode_timeout_s: float = 3600.0,
                 out_dir: str | os.PathLike[str] | None = None, agent_name: str | None = None,
                 seed: int = 0, render_mode: str | None = None, pool: Any = None,
                 allow_unsandboxed: bool | None = None,
                 feedback: str = "public", max_submissions: int = DEFAULT_MAX_SUBMISSIONS,
                 reward: str = "position", reward_weights: dict[str, float] | None = None,
                 shaping_margin: float = DEFAULT_MARGIN, **sandbox_limits: Any) -> None:
        from dojo_nb.tasks import load_task

        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        if int(max_steps) < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps!r}")
        if not float(cell_timeout_s) > 0 or not float(episode_timeout_s) > 0:
            raise ValueError("cell_timeout_s and episode_timeout_s must be positive")
        check_limits(sandbox_limits)
        # Safe by default: whoever picks the actions (a model, a search, a script) gets a
        # confined kernel, or an explicit opt-in (None: $DOJO_NB_UNSAFE_NO_SANDBOX decides).
        require_isolation(backend, allow_unsandboxed, who="an agent's code")
        #: Feedback, submission budget and reward mode (`dojo_nb.env.rules`).
        self.rules = Rules.of(feedback, max_submissions, reward, reward_weights, shaping_margin)
        self.task = load_task(task_id)
        self.task_id = str(self.task.id or task_id)
        self.backend = backend
        self.budgets = Budgets(int(max_steps), float(cell_timeout_s), float(episode_timeout_s))
        self.out_dir = Path(out_dir).expanduser().resolve() if out_dir is not None else None
        self.agent_name = agent_name
        self.default_seed = int(seed)
        self.render_mode = render_mode
        self.sandbox_limits = dict(sandbox_limits)
        self.resume_notes: list[str] = []  # what the last resume ignored or cleaned up, one line each
        self.action_space = ActionSpace()
        self.observation_space = ObservationSpace()
        self.state = EpisodeState(seed=self.default_seed)
        self._live_view: Any = None  # the LiveEpisodeView of render_mode="widget", made on first render
        self._last_obs: dict[str, Any] | None = None
        self._episodes = 0
        self._task_info: dict[str, Any] | None = None
        self._gap: dict[str, Any] | None = None  # the task's reference and top (one grading, on first use)
        self._cap: float | None = None           # the shaping cap (`rules.shaping_cap`)
        self._closers: list[threading.Thread] = []
        self._deferred_closes: list[SyncKernelSession] = []  # kernels of ended episodes, stopped after reset()
        self.pool: KernelPool | None
        self.pool, self._own_pool = setup_pool(pool, backend, self.sandbox_limits, self.out_dir)

    # --- what the episode is (views of `state`) ---------------------------------------
    max_steps = property(lambda self: self.budgets.max_steps)
    cell_timeout_s = property(lambda self: self.budgets.cell_timeout_s)
    episode_timeout_s = property(lambda self: self.budgets.episode_timeout_s)
    episode_dir = _state_field("episode_dir")
    trajectory = _state_field("trajectory")
    session = _state_field("session")  # a SyncKernelSession while an episode runs
    kernel_paths = _state_field("kernel_paths")
    seed_value = _state_field("seed")
    _open = _state_field("open")
    sandbox_dir = property(lambda self: self.state.sandbox_dir)

    @property
    def submission_host_path(self) -> Path:
        return self.state.layout.submission_file

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

    def _reset(self, *, seed: int | None, options: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        if self.state.open:
            self._end_episode("reset")
        if self._episodes == 0:  # the limited grading helper warms up while the kernel starts
            from dojo_nb.tasks.grading_limits import prestart

            prestart()
        if seed is not None:
            episode_seed = int(seed)
        elif self._episodes == 0:
            episode_seed = self.default_seed
        else:
            episode_seed = int(self.np_random.integers(2**31 - 1))
        root = new_episode_dir(self.task_id, self.out_dir, dict(options or {}))
        layout.EpisodeLayout(root).submissions.mkdir()
        self.state = state = EpisodeState(episode_dir=root, seed=episode_seed)
        self._episodes += 1
        box = open_sandbox(root, task=self.task, backend=self.backend, sandbox_limits=self.sandbox_limits,
                           seed=episode_seed, pool=self.pool)
        state.session, state.kernel_paths = box.session, box.kernel_paths
        try:
            state.t0 = time.monotonic()
            state.started_at = utc_now()
            state.open = True
            state.trajectory = self._new_trajectory(box.kernel_source, box.input_population)
            result = self._run_parameters_cell()
            state.kernel_facts = env_info.kernel_facts(self)
            state.trajectory.update_metadata(kernel_facts=state.kernel_facts)
            progress.baseline_cpu(self)
        except BaseException:  # never leave a kernel running for an episode that did not start
            try:
                box.session.close()
            finally:
                state.session = None
                state.open = False
            raise
        status = "ok" if result.status == "ok" else "error"
        seconds_left = state.seconds_left(self.budgets)
        state.trajectory.update_metadata(seconds_left_at_reset=seconds_left)
        obs = observation(status, action_type="reset", text=env_info.reset_text(self), cell_index=1,
                          execution_count=result.execution_count, elapsed_s=result.elapsed_s,
                          steps_left=state.steps_left(self.budgets), seconds_left=seconds_left,
                          message=None if status == "ok" else f"the parameters cell failed: {result.text}")
        self._show(obs)
        return obs, env_info.step_info(self)

    def _new_trajectory(self, kernel_source: str, input_population: str) -> Trajectory:
        s = self.state
        assert s.session is not None and s.episode_dir is not None
        traj = Trajectory(
            s.layout.trajectory,
            kernelspec=getattr(s.session, "kernelspec", None),
            language_info=getattr(s.session, "language_info", None),
            dojo={"task": self.task_info(), "backend": self.backend, "agent": self.agent_name,
                  "seed": s.seed, "make_seed": self.default_seed, "budgets": self.budgets.to_dict(),
                  "sandbox_limits": self.sandbox_limits, "kernel_paths": s.kernel_paths,
                  "started_at": s.started_at, "input_population": input_population,
                  "kernel_source": kernel_source, "final_rule": FINAL_RULE, "rules": self.rules.to_dict(),
                  "input_listing": env_info.data_listing(self, head=False), "episode_uid": uuid.uuid4().hex})
        traj.add_description(str(self.task.description or ""))
        return traj

    def _run_parameters_cell(self) -> Any:
        s = self.state
        assert s.session is not None and s.trajectory is not None
        kp = s.session.paths
        params = parameters_source(kp.input_dir, kp.working_dir, s.kernel_paths["SUBMISSION_PATH"], s.seed)
        result = s.session.execute(params, timeout=self.budgets.cell_timeout_s)
        s.trajectory.add_parameters(kp.input_dir, kp.working_dir, s.kernel_paths["SUBMISSION_PATH"], s.seed,
                                    result=result)
        set_prelude(s.session, params)
        s.trajectory.save()
        return result

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply one action; never raises for anything the agent sends."""
        s = self.state
        if not s.open or s.trajectory is None:
            done = s.final is not None
            obs = observation("invalid_action", action_type="none",
                              message=("the episode is over; call reset() to start another"
                                       if done else "call reset() before step()"))
            obs["text"] = obs["message"]
            return obs, 0.0, bool(s.final and s.terminated), bool(s.final and s.truncated), {}
        s.steps += 1
        s.step_valid, s.step_gain = False, 0.0
        t_step = time.monotonic()
        s.cell_expressions = None  # this step's cell, if any, brings its own
        parsed = parse_action(action)
        reward, terminated = 0.0, False
        try:
            if isinstance(parsed, InvalidAction):
                obs = record_invalid(self, parsed)
            else:
                obs, reward, terminated = HANDLERS[parsed.type](self, parsed)
        except Exception as exc:  # an environment fault: report it, keep the episode alive
            msg = f"internal error while handling the action: {type(exc).__name__}: {exc}"
            obs = record_internal_error(self, getattr(parsed, "type", "unknown"), msg)
        self._complete_cell_metadata(obs, time.monotonic() - t_step)
        measured = progress.observe_step(self, obs, s.step_valid, s.step_gain, time.monotonic() - t_step)
        reward = float(reward) + self._bonus(measured["reward_components"]["new"])
        obs["steps_left"] = s.steps_left(self.budgets)
        obs["seconds_left"] = s.seconds_left(self.budgets)
        truncated = not terminated and (obs["steps_left"] <= 0 or obs["seconds_left"] <= 0)
        if terminated or truncated:
            s.terminated, s.truncated = terminated, truncated
            reason = ("final_submit" if terminated else
                      "max_steps" if obs["steps_left"] <= 0 else "episode_timeout")
            self._record_step(obs, measured, reward)
            s.last_cell, s.last_step_reward = obs.get("cell_index"), reward
            self._end_episode(reason)
            reward += s.terminal_reward
        else:
            self._record_step(obs, measured, reward)
            self._save_trajectory(obs)
        info = {**env_info.step_info(self), **measured, "reward": reward}
        self._show(obs)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def _bonus(self, new: list[str]) -> float:
        """The shaped mode's one-off bonuses for milestones first reached this step."""
        if self.rules.reward != "shaped" or not new:
            return 0.0
        if self._cap is None:
            from dojo_nb.tasks.gap import board_size

            self._cap = shaping_cap(board_size(self.task), self.rules.margin)
        weights = self.rules.normalised_weights()
        bonus = sum(weights[k] for k in new) * self._cap
        self.state.reward_sum += bonus
        return bonus

    def _record_step(self, obs: dict[str, Any], measured: dict[str, Any], reward: float) -> None:
        """The step's reward (all of it), components and durations on its cell."""
        idx, traj = obs.get("cell_index"), self.state.trajectory
        if traj is None or not isinstance(idx, int) or idx >= len(traj):
            return
        fields: dict[str, Any] = {"durations": measured["durations"],
                                  "reward_components": measured["reward_components"],
                                  "steps_left": obs["steps_left"], "seconds_left": obs["seconds_left"]}
        if reward or CellMeta.of(traj.cell(idx)).has("reward"):
            fields["reward"] = reward
        traj.update_cell(idx, **fields)

    def _save_trajectory(self, obs: dict[str, Any]) -> None:
        """Save after a step; a failed save (a full disk) is reported, kept in memory, retried."""
        assert self.state.trajectory is not None
        try:
            self.state.trajectory.save()
        except OSError as exc:
            note = (f"the trajectory could not be saved ({exc.strerror or exc}); every step is kept in "
                    "memory and written with the next successful save")
            obs["message"] = f"{obs['message']} | {note}" if obs.get("message") else note
            obs["text"] = f"{obs['text']}\n[dojo-nb] {note}"

    def _complete_cell_metadata(self, obs: dict[str, Any], elapsed: float) -> None:
        """Every step's cell carries elapsed_s and kernel_restarted, code or not."""
        idx, traj = obs.get("cell_index"), self.state.trajectory
        if traj is None or not isinstance(idx, int) or idx >= len(traj):
            return
        meta = CellMeta.of(traj.cell(idx))
        missing: dict[str, Any] = {}
        if not meta.has("elapsed_s"):
            missing["elapsed_s"] = round(elapsed, 6)
            obs["elapsed_s"] = float(elapsed)
        if not meta.has("kernel_restarted"):
            missing["kernel_restarted"] = False
        if missing:
            traj.update_cell(idx, **missing)

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
                from dojo_nb.views.widgets import LiveEpisodeView  # ipywidgets only when asked for

                self._live_view = LiveEpisodeView().show()
            self._live_view.update(self)
            return self._live_view
        return None

    def _end_episode(self, reason: str) -> None:
        end_episode(self, reason)

    def _start_deferred_closes(self) -> None:
        for session in self._deferred_closes:
            closer = threading.Thread(target=session.close, name="dojo-nb-close", daemon=True)
            closer.start()
            self._closers.append(closer)
        self._deferred_closes.clear()

    def close(self) -> None:
        """End the episode (if one is running): stop the kernel, write solution and summary."""
        if self.state.open:
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
            state = getattr(self, "state", None)
            if state is not None and state.open and state.session is not None:
                state.session.close()
            for session in getattr(self, "_deferred_closes", []):
                session.close()
            if getattr(self, "_own_pool", False) and self.pool is not None:
                self.pool.close()
        except Exception:
            pass

    # --- info and reading back ------------------------------------------------------------
    def gap_facts(self) -> dict[str, Any]:
        """The task's trivial reference and leaderboard top (`dojo_nb.tasks.gap`), computed once."""
        if self._gap is None:
            from dojo_nb.tasks.gap import gap_facts

            self._gap = gap_facts(self.task)
        return dict(self._gap)

    def task_info(self) -> dict[str, Any]:
        """Task metadata a scripted agent needs to work from files alone (a fresh copy)."""
        if self._task_info is None:  # built once: it is in every step's info
            self._task_info = env_info.build_task_info(self.task, self.task_id)
        return json.loads(json.dumps(self._task_info))

    def fork(self, out_dir: str | os.PathLike[str] | None = None, *, steps: int | None = None,
             seconds: float | None = None) -> DojoEnv:
        """A new env whose episode starts as this one is now, its kernel a copy-on-write fork of
        this one's (no cell re-run; re-run only when forking is unsafe). See `dojo_nb.env.fork`."""
        from dojo_nb.env.fork import fork_env

        return fork_env(self, out_dir, steps=steps, seconds=seconds)

    def resume(self, episode_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Continue an episode whose driver died: like `reset`, but into the same folder.

        See `dojo_nb.env.resume`: the trajectory on disk is the truth, the kernel's state is
        rebuilt by running the parameters and solution cells again; raises `ResumeError`,
        writing nothing, when the folder is not a resumable episode of this env's task.
        """
        from dojo_nb.env.resume import resume_into

        return resume_into(self, episode_dir)

    @classmethod
    def read_episode(cls, episode_dir: str | os.PathLike[str]) -> dict[str, Any]:
        """What an episode folder holds: summary (if written), notebook metadata and steps."""
        record = load_episode(Path(episode_dir), error=UnsafeRecordError, strict=True)
        return {"summary": record.summary, "metadata": record.meta.to_dict(), "steps": record.steps,
                "notebook": record.nb}


def env_spec(task_id: str, **kwargs: Any) -> EnvSpec:
    """The Gymnasium spec of a task's environment (nondeterministic: cells take wall-clock time)."""
    return EnvSpec(id=f"dojo_nb/{task_id}", entry_point="dojo_nb.env:DojoEnv",
                   nondeterministic=True, kwargs={"task_id": task_id, **kwargs})


def make(task_id: str, backend: str = "local", **kwargs: Any) -> DojoEnv:
    """Build the environment for `task_id` (see `DojoEnv` for the options)."""
    env = DojoEnv(task_id, backend, **kwargs)
    env.spec = env_spec(env.task_id, backend=backend, **kwargs)
    return env


__all__ = ["DojoEnv", "env_spec", "make"]
