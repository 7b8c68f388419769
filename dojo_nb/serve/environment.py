"""`ServedEpisode`: OpenEnv's `Environment` over one `DojoEnv`, one per WebSocket session.

OpenEnv's server builds one of these per session (through its factory), runs every call of
a session on that session's own thread, and calls `close` when the client goes away, so the
kernel lives exactly as long as the session. Each session writes its episodes in its own
folder (``<out_dir>/session-<id>/``): two sessions never share a kernel, a sandbox or a
notebook.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import EnvironmentMetadata

from dojo_nb.serve.models import DojoAction, DojoObservation, DojoState, make_observation

if TYPE_CHECKING:
    from dojo_nb.env import DojoEnv


@dataclass(frozen=True)
class ServeConfig:
    """What every served episode is made with (the client cannot change any of it)."""

    task: str
    out_dir: Path
    backend: str = "local"
    max_steps: int = 100
    cell_timeout_s: float = 600.0
    episode_timeout_s: float = 3600.0
    max_concurrent: int = 1
    idle_timeout_s: Optional[float] = 3600.0
    env_kwargs: dict[str, Any] = field(default_factory=dict)


class ServedEpisode(Environment):  # type: ignore[type-arg]
    """One session's episode. The `DojoEnv` (and its kernel) is made on the first reset, so
    the factory calls OpenEnv makes for metadata or schemas start nothing."""

    SUPPORTS_CONCURRENT_SESSIONS = True  # each instance has its own env, kernel and folder

    def __init__(self, config: ServeConfig) -> None:
        super().__init__()
        self.config = config
        self.session_dir = config.out_dir / f"session-{secrets.token_hex(6)}"
        self._env: DojoEnv | None = None
        self._episode_id: str | None = None
        self.stepping = False  # a step is running (read by the server's disconnect watch)

    def _dojo(self) -> DojoEnv:
        if self._env is None:
            import dojo_nb

            c = self.config
            self._env = dojo_nb.make(c.task, c.backend, out_dir=self.session_dir / "episode",
                                     max_steps=c.max_steps, cell_timeout_s=c.cell_timeout_s,
                                     episode_timeout_s=c.episode_timeout_s, agent_name="openenv",
                                     **c.env_kwargs)
        return self._env

    def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None,
              **kwargs: Any) -> DojoObservation:
        """A new episode (ending this session's previous one); only the seed is the client's."""
        obs, info = self._dojo().reset(seed=seed)
        self._episode_id = episode_id or Path(str(info["episode_dir"])).name
        return make_observation(obs, None, False, False, info)

    def step(self, action: DojoAction, timeout_s: Optional[float] = None,  # type: ignore[override]
             **kwargs: Any) -> DojoObservation:
        """`DojoEnv.step` on the contract dict; cell time limits are the server's, not the client's."""
        env = self._dojo()
        self.stepping = True
        try:
            obs, reward, terminated, truncated, info = env.step(action.to_contract())
        finally:
            self.stepping = False
        return make_observation(obs, float(reward), terminated, truncated, info)

    @property
    def state(self) -> DojoState:
        env = self._env
        if env is None:
            return DojoState(task_id=self.config.task)
        s = env.state
        return DojoState(episode_id=self._episode_id, step_count=s.steps, task_id=env.task_id,
                         episode_dir=str(s.episode_dir) if s.episode_dir else None, open=bool(s.open),
                         reward_sum=float(s.reward_sum))

    def get_metadata(self) -> EnvironmentMetadata:
        from dojo_nb import __version__

        return EnvironmentMetadata(name="dojo-nb", version=__version__,
                                   description=f"dojo-nb task {self.config.task}: ML engineering in a "
                                               "live, sandboxed Jupyter kernel")

    def interrupt(self) -> None:
        """Stop the running cell (from any thread): the client is gone, so the step must end for
        the session to close; the cell is recorded as interrupted."""
        env = self._env
        session = env.state.session if env is not None else None
        if session is not None:
            try:
                session.interrupt()
            except Exception:  # noqa: BLE001 - a kernel already stopping needs no interrupt
                pass

    def close(self) -> None:
        """End the episode and stop its kernel (the session is over)."""
        env, self._env = self._env, None
        if env is not None:
            env.close()


__all__ = ["ServeConfig", "ServedEpisode"]
