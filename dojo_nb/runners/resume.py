"""`resume_episode`: carry on an episode whose driver died, with an agent, then replay it.

The env does the rebuilding (`DojoEnv.resume`); this module gives it the same loop and
ending as `dojo_nb.runners.episodes.run_episode`, so `dojo-nb resume DIR` ends like `dojo-nb run`.
The sandbox's limits are the caller's (`sandbox_limits`, e.g. from the command line), for
the resumed kernel and the replay alike: never the ones the notebook records.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from dojo_nb.record import summary as record_summary
from dojo_nb.runners.episodes import EpisodeOutcome, StepCallback


def resume_episode(episode_dir: str | Path, agent_name: str | None = None, *, backend: str | None = None,
                   replay: bool = True, on_step: StepCallback | None = None,
                   agent_kwargs: dict[str, Any] | None = None,
                   sandbox_limits: dict[str, Any] | None = None,
                   allow_unsandboxed: bool | None = None) -> EpisodeOutcome:
    """Resume `episode_dir` and let `agent_name` (default: the episode's own agent) finish it.

    Raises `dojo_nb.env.ResumeError` (nothing written) when the folder cannot be resumed.
    """
    from dojo_nb.agents import load_agent
    from dojo_nb.agents.base import is_builtin_baseline
    from dojo_nb.env import load_for_resume, resume

    root = Path(episode_dir).expanduser().resolve()
    meta = load_for_resume(root, None).meta
    t0 = time.monotonic()
    agent = load_agent(agent_name or meta.agent or "baseline", **(agent_kwargs or {}))
    limits = dict(sandbox_limits or {})
    allow = True if is_builtin_baseline(agent) else allow_unsandboxed
    env, obs, info = resume(root, backend=backend, agent_name=agent.name, allow_unsandboxed=allow, **limits)
    outcome = EpisodeOutcome(env.task_id, root, steps=int(info["step"]), reward_sum=float(info["reward_sum"]))
    outcome.notes += list(getattr(env, "resume_notes", []) or [])
    try:
        agent.reset(obs, info)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs))
            outcome.steps += 1
            outcome.reward_sum += float(reward)
            if on_step:
                on_step(env.task_id, outcome.steps, obs, float(reward), info)
            done = terminated or truncated
    except Exception as exc:  # noqa: BLE001 - an agent bug must not lose the episode
        outcome.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        env.close()
    final = record_summary.read_final(root)
    if final is not None:
        outcome.final = final
    problem = record_summary.add_agent_stats(root, agent)  # an LLM agent's tokens, as run_episode keeps them
    if problem:
        print(f"dojo-nb: {problem}")
    if replay and outcome.error is None:
        from dojo_nb.replay import ReplayError, replay_episode

        try:
            rep = replay_episode(root, backend=env.backend, sandbox_limits=limits, allow_unsandboxed=allow)
            outcome.replay = rep.to_dict()
        except ReplayError as exc:
            outcome.replay = {"reproduced": False, "message": str(exc)}
    outcome.elapsed_s = time.monotonic() - t0
    return outcome
