"""Running a split's episodes as Ray tasks across a cluster (`dojo-nb run --engine ray`).

Each episode is one Ray task (1 CPU) that runs `dojo_nb.runners.episodes.run_episode` on whichever
node Ray picks, with that node's own sandbox backend (the kernel starts where the task
runs). Nodes need not share a file system: the task writes the episode to a temporary
folder on its node, packs it as a gzipped tar (without ``sandbox/input``, the task's public
data, which every node prepares itself) and returns the bytes; the driver unpacks them into
``OUT/<task_id>/``, next to a ``ray.json`` saying which node ran it. Replay (papermill) runs
on the worker node too, so ``replay.json`` comes back with the rest.

Every node needs dojo-nb (and its sandbox backend) installed in the same Python as Ray.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dojo_nb.runners.episodes import EpisodeOutcome

#: Folders of an episode not shipped back to the driver (public data, recreated from the task).
_NOT_SHIPPED = ("sandbox/input",)
_OUTCOME_FIELDS = ("steps", "reward_sum", "final", "replay", "error", "elapsed_s")


class RayNotInstalled(RuntimeError):
    """Ray is an optional extra; the message says how to install it."""


def require_ray() -> Any:
    """The `ray` module, or a `RayNotInstalled` that says what to install."""
    try:
        import ray
    except ImportError:
        raise RayNotInstalled("the ray engine needs Ray, an optional extra: pip install 'dojo-nb[ray]'") from None
    return ray


def pack_episode(episode_dir: Path) -> bytes:
    """The episode folder as gzipped tar bytes (paths relative to it), minus `_NOT_SHIPPED`."""
    skip = {(episode_dir / p).resolve() for p in _NOT_SHIPPED}

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        path = (episode_dir / info.name).resolve()
        if path in skip or any(parent in skip for parent in path.parents):
            return None
        if not (info.isfile() or info.isdir()):  # sockets, fifos, links: nothing a reader needs
            return None
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(episode_dir, arcname=".", filter=keep)
    return buf.getvalue()


def unpack_episode(payload: bytes, target: Path) -> None:
    """Unpack `pack_episode` bytes into `target` (the data filter refuses unsafe members)."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        tar.extractall(target, filter="data")


def episode_task(task_id: str, agent_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Runs on a Ray worker: one episode in a temp folder, returned as fields + tar bytes."""
    import socket

    from dojo_nb.runners.episodes import run_episode

    with tempfile.TemporaryDirectory(prefix="dojo-nb-ray-") as tmp:
        outcome = run_episode(task_id, agent_name, out_dir=Path(tmp) / task_id, **kwargs)
        result = {name: getattr(outcome, name) for name in _OUTCOME_FIELDS}
        result["payload"] = pack_episode(outcome.episode_dir) if outcome.episode_dir.is_dir() else b""
        result["worker"] = {"hostname": socket.gethostname(), "pid": os.getpid(),
                            "remote_episode_dir": str(outcome.episode_dir)}
        try:
            import ray

            result["worker"]["node_id"] = ray.get_runtime_context().get_node_id()
        except Exception:  # noqa: BLE001 - only a label
            pass
    return result


def run_many_ray(task_ids: list[str], agent_name: str = "baseline", *, out_dir: str | Path,
                 address: str | None = None, parallel: int | None = None,
                 on_done: Callable[[EpisodeOutcome], None] | None = None,
                 ray_init: dict[str, Any] | None = None, **kwargs: Any) -> list[EpisodeOutcome]:
    """Like `runner.run_many`, but each episode is a Ray task; results gathered in `out_dir`.

    Connects to `address` (a running cluster, e.g. ``HOST:6379`` or ``auto``), or starts a
    local Ray instance when None; a Ray already initialised in this process is used as is.
    `parallel` is not a limit here: the cluster's CPUs are (one per episode).
    """
    ray = require_ray()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = False
    if not ray.is_initialized():
        os.environ.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **(ray_init or {}))
        started = True
    results: list[EpisodeOutcome] = []
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(episode_task)
        pending = {remote.remote(t, agent_name, kwargs): t for t in task_ids}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task_id = pending.pop(ref)
                outcome = _gather(task_id, ref, out / task_id, ray)
                results.append(outcome)
                if on_done:
                    on_done(outcome)
    finally:
        if started:
            ray.shutdown()
    return sorted(results, key=lambda r: r.task_id)


def _gather(task_id: str, ref: Any, target: Path, ray: Any) -> EpisodeOutcome:
    """One finished task's outcome, its episode unpacked into `target`."""
    t0 = time.monotonic()
    base, n = target, 0
    while target.exists() and any(target.iterdir()):  # never mix two episodes in one folder
        n += 1
        target = base.with_name(f"{base.name}-{n}")
    try:
        res = ray.get(ref)
    except Exception as exc:  # noqa: BLE001 - a lost node or a worker crash: report, go on
        return EpisodeOutcome(task_id, target, error=f"ray task failed: {type(exc).__name__}: {exc}",
                              elapsed_s=time.monotonic() - t0)
    if res["payload"]:
        unpack_episode(res["payload"], target)
    (target / "ray.json").write_text(json.dumps(
        {"task": task_id, **res["worker"], "payload_bytes": len(res["payload"]), "not_shipped": list(_NOT_SHIPPED)},
        indent=1) + "\n")
    return EpisodeOutcome(task_id, target, **{k: res[k] for k in _OUTCOME_FIELDS})


__all__ = ["run_many_ray", "require_ray", "RayNotInstalled", "pack_episode", "unpack_episode", "episode_task"]
