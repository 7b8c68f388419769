"""Batched rollouts: N live-notebook episodes stepped together, with Gymnasium's vector API.

A `DojoEnv` step mostly waits on its kernel (a sandboxed process), so a thread per env is
enough for the N steps to overlap: `DojoVectorEnv.step` runs them on a thread pool and
returns when all are done. Gymnasium's Sync/AsyncVectorEnv cannot batch the env's custom
dict spaces (`batch_space` has no rule for them), so observations come back as a tuple of
observation dicts (one per env) and the batched spaces are `gymnasium.spaces.Tuple`s of the
single spaces; rewards, terminations and truncations are numpy arrays, infos are Gymnasium's
dict-of-arrays with ``_key`` masks.

Autoreset follows Gymnasium 1.x (`AutoresetMode`): NEXT_STEP (default: the step after an
episode ends resets that env, returning its reset observation, reward 0, not done; the action
is ignored), SAME_STEP (reset at once; the ending observation and info go to
``infos["final_obs"]`` / ``infos["final_info"]``) or DISABLED (call
``reset(options={"reset_mask": mask})`` yourself). Every reset gives a new episode folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.spaces import Tuple
from gymnasium.vector import AutoresetMode, VectorEnv

from dojo_nb.env import ActionSpace, DojoEnv, ObservationSpace


class DojoVectorEnv(VectorEnv):
    """N `DojoEnv`s stepped concurrently; build it from env factories or with `make_vec`."""

    def __init__(self, env_fns: Sequence[Callable[[], DojoEnv]], *,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP) -> None:
        if not env_fns:
            raise ValueError("need at least one env factory")
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode, "render_modes": ["ansi"]}
        self.num_envs = len(env_fns)
        self._pool = ThreadPoolExecutor(max_workers=self.num_envs, thread_name_prefix="dojo-nb-vec")
        self.envs: list[DojoEnv] = []
        try:
            self.envs = list(self._pool.map(lambda fn: fn(), env_fns))
        except BaseException:
            self._pool.shutdown(wait=True)
            raise
        self.single_observation_space = ObservationSpace()
        self.single_action_space = ActionSpace()
        self.observation_space = Tuple([self.single_observation_space] * self.num_envs)
        self.action_space = Tuple([self.single_action_space] * self.num_envs)
        self.render_mode = self.envs[0].render_mode
        self.spec = self.envs[0].spec
        self._autoreset = np.zeros(self.num_envs, dtype=np.bool_)
        self._obs: list[dict[str, Any] | None] = [None] * self.num_envs

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
        """Reset every env (or those in ``options["reset_mask"]``); an int seed gives seed+i to env i."""
        if isinstance(seed, int) or seed is None:
            seeds: list[int | None] = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
        options = dict(options or {})
        mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, dtype=np.bool_)), dtype=np.bool_)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset_mask must have shape ({self.num_envs},)")
        which = [i for i in range(self.num_envs) if mask[i]]
        results = list(self._pool.map(lambda i: self.envs[i].reset(seed=seeds[i], options=options or None),
                                      which))
        infos: dict[str, Any] = {}
        for i, (obs, info) in zip(which, results):
            self._obs[i] = obs
            self._autoreset[i] = False
            infos = self._add_info(infos, info, i)
        return tuple(self._obs), infos  # type: ignore[return-value]

    def step(self, actions: Sequence[Any]) -> tuple[tuple[dict[str, Any], ...], np.ndarray, np.ndarray,
                                                     np.ndarray, dict[str, Any]]:
        """One action per env, run concurrently; autoreset per `autoreset_mode`."""
        actions = list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"got {len(actions)} actions for {self.num_envs} envs")
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        results = list(self._pool.map(self._step_one, range(self.num_envs), actions))
        infos: dict[str, Any] = {}
        for i, (obs, reward, terminated, truncated, info, final) in enumerate(results):
            self._obs[i] = obs
            rewards[i], terminations[i], truncations[i] = reward, terminated, truncated
            if final is not None:  # SAME_STEP: the episode ended and was reset in this step
                final_obs, final_info = final
                info = {**info, "final_obs": final_obs, "final_info": final_info}
            infos = self._add_info(infos, info, i)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._autoreset = terminations | truncations
        return tuple(self._obs), rewards, terminations, truncations, infos  # type: ignore[return-value]

    def _step_one(self, i: int, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any],
                                                       tuple[dict[str, Any], dict[str, Any]] | None]:
        env = self.envs[i]
        if self.autoreset_mode == AutoresetMode.NEXT_STEP and self._autoreset[i]:
            obs, info = env.reset()
            return obs, 0.0, False, False, info, None
        obs, reward, terminated, truncated, info = env.step(action)
        if self.autoreset_mode == AutoresetMode.SAME_STEP and (terminated or truncated):
            new_obs, new_info = env.reset()
            return new_obs, float(reward), bool(terminated), bool(truncated), new_info, (obs, info)
        return obs, float(reward), bool(terminated), bool(truncated), info, None

    def render(self) -> tuple[Any, ...] | None:
        return tuple(env.render() for env in self.envs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call a method (or read an attribute) of every env, concurrently."""
        def one(env: DojoEnv) -> Any:
            attr = getattr(env, name)
            return attr(*args, **kwargs) if callable(attr) else attr
        return tuple(self._pool.map(one, self.envs))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return tuple(getattr(env, name) for env in self.envs)

    def set_attr(self, name: str, values: Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        for env, value in zip(self.envs, values):
            setattr(env, name, value)

    def close_extras(self, **kwargs: Any) -> None:
        """End every episode (kernels stopped, notebooks and summaries written), then the pool."""
        try:
            list(self._pool.map(lambda env: env.close(), self.envs))
        finally:
            self._pool.shutdown(wait=True)


def make_vec(task_ids: str | Sequence[str], num_envs: int | None = None, *,
             out_dir: str | Path | None = None,
             autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **env_kwargs: Any) -> DojoVectorEnv:
    """`num_envs` envs of one task, or one env per task id; env i's episodes go to OUT/env-i[-k]."""
    import dojo_nb

    ids = [task_ids] * (num_envs or 1) if isinstance(task_ids, str) else list(task_ids)
    if num_envs is not None and len(ids) != num_envs:
        raise ValueError(f"{len(ids)} task ids for num_envs={num_envs}")

    def factory(i: int, task: str) -> Callable[[], DojoEnv]:
        target = None if out_dir is None else Path(out_dir) / f"env-{i}"
        return lambda: dojo_nb.make(task, out_dir=target, **env_kwargs)

    return DojoVectorEnv([factory(i, t) for i, t in enumerate(ids)], autoreset_mode=autoreset_mode)


__all__ = ["DojoVectorEnv", "make_vec", "AutoresetMode"]
