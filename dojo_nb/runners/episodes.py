"""Running agents on environments: one episode, or many in parallel.

The runner owns the loop (reset, act, step until the episode ends), closes the env even when
the agent fails, replays the result unless told not to, and reports progress through a
callback so the CLI can draw it and tests can read it.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

StepCallback = Callable[[str, int, dict[str, Any], float, dict[str, Any]], None]

#: `make()` options that shape the sandbox: the replay's sandbox gets the same ones.
SANDBOX_KEYS = ("memory_mb", "cpus", "pids", "disk_mb", "tmp_mb", "network", "gpus", "env")


def sandbox_limits_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The sandbox options among `kwargs` (the rest are budgets and such)."""
    return {k: kwargs[k] for k in SANDBOX_KEYS if k in kwargs}


@dataclass
class EpisodeOutcome:
    """What one episode produced (also written to DIR/summary.json by the env)."""

    task_id: str
    episode_dir: Path
    steps: int = 0
    reward_sum: float = 0.0
    final: dict[str, Any] = field(default_factory=dict)
    replay: dict[str, Any] | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    start_error: str | None = None  # the kernel (or the episode folder) could not be set up: no episode ran
    notes: list[str] = field(default_factory=list)

    def written(self) -> list[str]:
        """The episode files that are really on disk now (regular files, not links)."""
        from dojo_nb import safe_io

        from dojo_nb.record import layout

        out = []
        for name in layout.RUN_FILES:
            try:
                if safe_io.kind(self.episode_dir, name) == "file":
                    out.append(name)
            except OSError:
                pass
        return out

    @property
    def valid(self) -> bool:
        return bool(self.final.get("valid"))


def run_episode(task_id: str, agent_name: str = "baseline", *, out_dir: str | Path,
                backend: str = "local", replay: bool = True, on_step: StepCallback | None = None,
                agent_kwargs: dict[str, Any] | None = None, allow_unsandboxed: bool | None = None,
                **env_kwargs: Any) -> EpisodeOutcome:
    """One full episode of `agent_name` on `task_id`, written to `out_dir`.

    Only the built-in baseline runs on a backend that does not isolate it without
    `allow_unsandboxed` (None: ``$DOJO_NB_UNSAFE_NO_SANDBOX`` decides)."""
    import dojo_nb
    from dojo_nb.agents import load_agent
    from dojo_nb.agents.base import is_builtin_baseline

    t0 = time.monotonic()
    agent = load_agent(agent_name, **(agent_kwargs or {}))
    outcome = EpisodeOutcome(task_id, Path(out_dir))
    try:
        allow = True if is_builtin_baseline(agent) else allow_unsandboxed
        env = dojo_nb.make(task_id, backend=backend, out_dir=Path(out_dir), agent_name=agent.name,
                           allow_unsandboxed=allow, **env_kwargs)
    except Exception as exc:  # noqa: BLE001 - bad limits, no GPU here: nothing started
        outcome.start_error = outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.elapsed_s = time.monotonic() - t0
        return outcome
    try:
        try:
            obs, info = env.reset()
        except Exception as exc:  # noqa: BLE001 - no kernel: say why, plainly, and stop here
            outcome.start_error = f"the kernel could not start: {type(exc).__name__}: {exc}"
            raise
        outcome.episode_dir = Path(info["episode_dir"])
        agent.reset(obs, info)
        done = False
        while not done:
            action = agent.act(obs)
            obs, reward, terminated, truncated, info = env.step(action)
            outcome.steps += 1
            outcome.reward_sum += float(reward)
            if on_step:
                on_step(task_id, outcome.steps, obs, float(reward), info)
            done = terminated or truncated
        outcome.final = dict(info.get("final") or {})
    except Exception as exc:  # noqa: BLE001 - an agent bug must not lose the episode
        outcome.error = f"{type(exc).__name__}: {exc}"
        if outcome.start_error is None:
            traceback.print_exc()
    finally:
        env.close()
    from dojo_nb.record import summary as record_summary

    final = record_summary.read_final(outcome.episode_dir) if outcome.start_error is None else None
    if final is not None:
        outcome.final = final or outcome.final
        problem = record_summary.add_agent_stats(outcome.episode_dir, agent)  # e.g. an LLM agent's tokens
        if problem:
            print(f"dojo-nb: {problem}")
    if replay and outcome.error is None:
        from dojo_nb.replay import ReplayError, replay_episode

        try:
            rep = replay_episode(outcome.episode_dir, backend=backend,
                                 sandbox_limits=sandbox_limits_of(env_kwargs), allow_unsandboxed=allow)
            outcome.replay = rep.to_dict()
            outcome.notes += rep.notes
        except ReplayError as exc:
            outcome.replay = {"reproduced": False, "message": str(exc)}
    outcome.elapsed_s = time.monotonic() - t0
    return outcome


def run_many(task_ids: list[str], agent_name: str = "baseline", *, out_dir: str | Path, parallel: int = 2,
             on_done: Callable[[EpisodeOutcome], None] | None = None, **kwargs: Any) -> list[EpisodeOutcome]:
    """Run one episode per task, `parallel` at a time (each kernel is its own process)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: list[EpisodeOutcome] = []
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = {pool.submit(run_episode, t, agent_name, out_dir=out / t, **kwargs): t for t in task_ids}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001
                result = EpisodeOutcome(futures[future], out / futures[future], error=f"{type(exc).__name__}: {exc}")
            results.append(result)
            if on_done:
                on_done(result)
    return sorted(results, key=lambda r: r.task_id)
