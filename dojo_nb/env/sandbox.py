"""Setting up an episode's sandbox: checked limits, the warm pool, the episode folder, and the
one path by which reset and resume start a kernel over a sandbox folder."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from dojo_nb.record import layout
from dojo_nb.record.inputs import populate_input
from dojo_nb.tasks.cache import prepare_task

if TYPE_CHECKING:
    from dojo_nb.kernel import KernelPool, SandboxSpec, SyncKernelSession


def check_limits(sandbox_limits: Mapping[str, Any]) -> None:
    """Check the sandbox limits now, not at the first reset (ValueError, GpuUnavailable)."""
    from dojo_nb.kernel import SandboxSpec

    try:
        checked = SandboxSpec(root=Path.cwd(), **sandbox_limits)
    except TypeError as exc:
        raise ValueError(f"unknown sandbox limit: {exc}; known: memory_mb, cpus, pids, disk_mb, "
                         "tmp_mb, network, gpus, env") from None
    if checked.gpus is not None:  # asked-for GPUs that are not here: say so now, clearly
        from dojo_nb.kernel.gpus import require_gpus

        require_gpus(checked.gpus)


def setup_pool(pool: Any, backend: str, sandbox_limits: dict[str, Any],
               out_dir: Path | None) -> tuple[KernelPool | None, bool]:
    """`pool`: None, a size (the env keeps its own warm pool) or a shared `KernelPool`.

    Returns the pool and whether the env owns it (and so closes it).
    """
    from dojo_nb.kernel.pool import KernelPool

    if pool is None or pool is False or pool == 0:
        return None, False
    if isinstance(pool, KernelPool):
        if pool.backend != backend or pool.sandbox_limits != sandbox_limits:
            raise ValueError(f"the pool's kernels ({pool.backend}, {pool.sandbox_limits}) do not "
                             f"match this env ({backend}, {sandbox_limits})")
        return pool, False
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 0:
        raise ValueError(f"pool must be None, a size >= 0 or a KernelPool, got {pool!r}")
    # Staged next to the episodes: a pooled sandbox is moved into its episode by rename.
    staging = out_dir.parent if out_dir is not None else Path.cwd() / "runs"
    return KernelPool(backend, pool, staging_dir=staging, sandbox_limits=sandbox_limits,
                      imports=pool_imports(backend, sandbox_limits)).start(), True


def pool_imports(backend: str, sandbox_limits: dict[str, Any]) -> tuple[str, ...]:
    """What an env's own pool preloads: the usual stack where a template kernel shares it (its
    memory is then mostly shared), nothing elsewhere (each kernel would pay for its own copy)."""
    from dojo_nb.kernel import template
    from dojo_nb.kernel.spec import SandboxSpec

    spec = SandboxSpec(root=Path("/nonexistent"), **sandbox_limits)
    return template.DEFAULT_IMPORTS if template.unavailable_reason(backend, spec) is None else ()


def new_episode_dir(task_id: str, out_dir: Path | None, options: Mapping[str, Any]) -> Path:
    """A fresh, empty episode folder: never two episodes in one (a used DIR gives DIR-1, DIR-2, ...)."""
    if options.get("out_dir"):
        path = Path(str(options["out_dir"])).expanduser().resolve()
    elif out_dir is not None:
        path = out_dir
    else:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = Path.cwd() / "runs" / f"{task_id}-{stamp}-{secrets.token_hex(3)}"
    base, n = path, 0
    while path.exists() and any(path.iterdir()):
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _start_kernel(spec: SandboxSpec, backend: str, pool: KernelPool | None) -> tuple[SyncKernelSession, str]:
    """A kernel for `spec`: a warm one from the pool when ready, else a cold start."""
    from dojo_nb.kernel import SyncKernelSession

    if pool is not None:
        session = pool.acquire(spec.root)
        if session is not None:
            return session, "pool"
    spec.ensure_dirs()
    session = SyncKernelSession(spec, backend=backend)
    try:
        session.start()
    except BaseException:
        session.close()
        raise
    return session, "cold"


@dataclass
class Sandbox:
    """A started kernel over an episode's sandbox folder, with the task's public data in it."""

    session: SyncKernelSession
    kernel_source: str           # "pool" or "cold"
    input_population: str        # "copy" or "hardlink"
    kernel_paths: dict[str, Any]  # INPUT_DIR, WORKING_DIR, SUBMISSION_PATH (as the kernel sees them), SEED


def open_sandbox(episode_dir: Path, *, task: Any, backend: str, sandbox_limits: Mapping[str, Any],
                 seed: int, pool: KernelPool | None = None) -> Sandbox:
    """Start a kernel over ``EPISODE/sandbox`` and put the task's public data in it (reset and resume).

    A resume passes no pool: a pooled sandbox is renamed into place, over the episode's files.
    """
    from dojo_nb.kernel import SandboxSpec

    data = prepare_task(task)
    spec = SandboxSpec(root=layout.EpisodeLayout(episode_dir).sandbox, **sandbox_limits)
    session, source = _start_kernel(spec, backend, pool)
    try:
        how = populate_input(Path(data.public_dir), spec.input_dir)
        kp = session.paths
        paths = {"INPUT_DIR": kp.input_dir, "WORKING_DIR": kp.working_dir,
                 "SUBMISSION_PATH": f"{kp.submission_dir.rstrip('/')}/{layout.SUBMISSION_FILENAME}",
                 "SEED": seed}
    except BaseException:
        session.close()
        raise
    return Sandbox(session, source, how, paths)


def set_prelude(session: SyncKernelSession, params: str) -> None:
    """A kernel found dead before a cell is restarted by the session, which then runs this first."""
    inner = getattr(session, "session", None)
    if inner is not None and hasattr(inner, "prelude"):
        inner.prelude = params


__all__ = ["Sandbox", "check_limits", "new_episode_dir", "open_sandbox", "set_prelude", "setup_pool"]
