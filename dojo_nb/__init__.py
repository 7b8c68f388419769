"""dojo-nb: a Gym-style environment where agents do ML engineering in live Jupyter notebooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "make", "resume", "register_envs"]

if TYPE_CHECKING:
    from dojo_nb.env import DojoEnv


def make(task_id: str, backend: str = "local", **kwargs: Any) -> DojoEnv:
    """A `DojoEnv` for `task_id`; options as in `dojo_nb.env.DojoEnv` (imported on first use)."""
    from dojo_nb.env import make as _make

    return _make(task_id, backend, **kwargs)


def resume(episode_dir: Any, backend: str | None = None, **kwargs: Any) -> tuple[DojoEnv, dict, dict]:
    """Reopen an unfinished episode (its driver died): `(env, obs, info)`; see `DojoEnv.resume`."""
    from dojo_nb.env import resume as _resume

    return _resume(episode_dir, backend, **kwargs)


def register_envs(task_ids: list[str] | None = None) -> list[str]:
    """Register ``dojo_nb/<task_id>`` with Gymnasium for each catalogue task (or the ids given).

    Cheap: it lists the catalogue's folder names and reads no task file; an id that turns out
    not to be a task fails with a clear message when it is made. Called on import; call it
    again after adding tasks to a catalogue.
    """
    from gymnasium.envs.registration import register, registry

    from dojo_nb.paths import catalogue_dir

    if task_ids is None:
        try:
            task_ids = sorted(
                p.name for p in catalogue_dir().iterdir()
                if p.is_dir() and not p.name.startswith((".", "_"))
            )
        except OSError:
            task_ids = []
    done = []
    for task_id in task_ids:
        env_id = f"dojo_nb/{task_id}"
        if env_id not in registry:
            register(id=env_id, entry_point="dojo_nb.env:DojoEnv", nondeterministic=True,
                     kwargs={"task_id": task_id})
        done.append(env_id)
    return done


register_envs()
