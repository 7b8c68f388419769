"""A warm pool: sandboxed kernels started ahead of time, each handed out once.

Starting a sandboxed kernel costs about a second; an RL loop that resets thousands of
episodes should not wait for it. `KernelPool` keeps up to `size` kernels started in
staging folders and refills in a background thread. `acquire(root)` moves a ready kernel's
staging folder to the episode's sandbox folder (one `rename`) and tells the kernel's
session and provisioner where it now lives.

Why a rename is safe: the sandbox bind-mounts the staging folder into the kernel (bwrap
or docker) at start, and a bind mount follows the folder, not its path, so after the rename
the kernel still sees ``/episode/...`` and the host sees the episode folder. A backend
whose kernel sees host paths (local without bwrap) cannot be pooled: the paths baked into
the kernel would point at the old folder, so such a pool hands out nothing and says why.

A pooled kernel is clean by construction: it ran no cell, and it is never returned to the
pool; the episode that takes it closes it.

`imports` (e.g. `template.DEFAULT_IMPORTS`) are modules every pooled kernel has loaded before
it is handed out, so an episode's first ``import pandas`` is instant. Where a template kernel
can run (`dojo_nb.kernel.template`: local, bubblewrap, a root driver) the pool imports them
once, in a template, and spawns every pooled kernel from it by fork, each in its own sandbox:
their memory is mostly shared. Elsewhere each pooled kernel imports them itself
(`template_note` says why), which costs each one that memory.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dojo_nb.kernel.session import SyncKernelSession
from dojo_nb.kernel.spec import SandboxSpec

if TYPE_CHECKING:
    from dojo_nb.kernel.template import KernelTemplate

log = logging.getLogger(__name__)


@dataclass
class PoolStats:
    """What the pool has done, for benchmarks and the episode's metadata."""

    started: int = 0
    handed_out: int = 0
    misses: int = 0
    failed_starts: int = 0
    last_error: str | None = None
    start_times_s: list[float] = field(default_factory=list)
    template_ready_s: float | None = None   # the template's own start and imports, once
    from_template: int = 0                  # kernels spawned from it


class KernelPool:
    """Keep `size` kernels of one backend and one set of sandbox limits ready to hand out."""

    def __init__(self, backend: str = "local", size: int = 2, *,
                 staging_dir: str | os.PathLike[str] | None = None,
                 sandbox_limits: dict[str, Any] | None = None,
                 session_kwargs: dict[str, Any] | None = None,
                 refill_delay_s: float = 0.5, imports: tuple[str, ...] | list[str] = (),
                 use_template: bool = True) -> None:
        if int(size) < 0:
            raise ValueError(f"pool size must be >= 0, got {size!r}")
        self.backend = backend
        self.size = int(size)
        self.sandbox_limits = dict(sandbox_limits or {})
        self.session_kwargs = dict(session_kwargs or {})
        self.imports = tuple(imports)
        self.use_template = bool(use_template)
        self.template: KernelTemplate | None = None
        #: Why the imports are not shared through a template here (None: they are, or none asked).
        self.template_note: str | None = None
        # A replacement starts this long after a hand-out, not during it: starting a kernel
        # takes a core for about a second, which the episode's first cell would feel.
        self.refill_delay_s = max(0.0, float(refill_delay_s))
        self._last_handout = 0.0
        base = Path(staging_dir) if staging_dir is not None else Path.cwd() / "runs"
        # One folder per pool: a crashed driver's leftovers never mix with a live pool's.
        self.staging_dir = (base / f".dojo-pool-{os.getpid()}-{secrets.token_hex(3)}").resolve()
        self.stats = PoolStats()
        self.unsupported: str | None = None
        self._ready: deque[tuple[SyncKernelSession, Path]] = deque()
        self._starting = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> KernelPool:
        """Begin filling in the background (returns at once)."""
        if self._thread is None and self.size > 0:
            self.staging_dir.mkdir(parents=True, exist_ok=True)
            self._thread = threading.Thread(target=self._fill, name="dojo-nb-pool", daemon=True)
            self._thread.start()
        return self

    def wait_ready(self, n: int | None = None, timeout: float = 120.0) -> int:
        """Block until `n` (default: all `size`) kernels are ready; the number ready."""
        want = self.size if n is None else min(int(n), self.size)
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._ready) < want and not self._closed and self.unsupported is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return len(self._ready)

    def close(self) -> None:
        """Stop refilling and stop every kernel not handed out; safe to call twice."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=120)
        with self._cond:
            ready, self._ready = list(self._ready), deque()
        for session, _root in ready:
            try:
                session.close()
            except Exception:  # noqa: BLE001
                pass
        if self.template is not None:  # kernels handed out live on in its sandbox
            self.template.close()
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def __enter__(self) -> KernelPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._ready)

    # --- handing out -------------------------------------------------------------------
    def acquire(self, root: str | os.PathLike[str]) -> SyncKernelSession | None:
        """A started kernel whose sandbox is now `root` (which must not exist or be empty).

        None when no kernel is ready (a miss: the caller starts one itself), when this
        backend cannot be pooled, or when `root` is on another file system than the pool.
        Never blocks on a kernel start.
        """
        target = Path(root).resolve()
        with self._cond:
            if self._closed or not self._ready:
                self.stats.misses += 1
                return None
            session, staged = self._ready.popleft()
            self._last_handout = time.monotonic()
            self._cond.notify_all()  # the filler starts a replacement (after refill_delay_s)
        try:
            if target.exists():
                target.rmdir()  # only an empty folder may be replaced
            os.rename(staged, target)
        except OSError as exc:  # another file system, or a non-empty target
            log.info("pooled kernel not usable for %s: %s", target, exc)
            self.stats.misses += 1
            self.stats.last_error = f"cannot move the staged sandbox to {target}: {exc}"
            threading.Thread(target=session.close, daemon=True).start()
            return None
        session.session.relocate(target)
        self.stats.handed_out += 1
        return session

    # --- filling -----------------------------------------------------------------------
    def _start_template(self) -> None:
        """Once, before the first kernel: the template the pooled kernels are spawned from."""
        if not self.imports:
            return
        from dojo_nb.kernel import template as templates

        spec = SandboxSpec(root=self.staging_dir / "probe", **self.sandbox_limits)
        why = ("the pool was asked not to use one" if not self.use_template
               else templates.unavailable_reason(self.backend, spec))
        if why is None:
            try:
                t0 = time.monotonic()
                self.template = templates.KernelTemplate(self.imports, cpus=spec.cpus).start()
                self.stats.template_ready_s = time.monotonic() - t0
                self.session_kwargs["provisioner_config"] = {"template": self.template.template_id}
                return
            except templates.TemplateError as exc:
                why = str(exc)
        self.template_note = f"each pooled kernel imports {', '.join(self.imports)} itself: {why}"
        log.info("warm pool: %s", self.template_note)

    def _fill(self) -> None:
        self._start_template()
        failures = 0
        while True:
            with self._cond:
                while not self._closed and len(self._ready) + self._starting >= self.size:
                    self._cond.wait()
                while not self._closed:
                    quiet = self._last_handout + self.refill_delay_s - time.monotonic()
                    if quiet <= 0:
                        break
                    self._cond.wait(quiet)
                if self._closed:
                    return
                self._starting += 1
            staged = self.staging_dir / secrets.token_hex(6)
            session: SyncKernelSession | None = None
            try:
                spec = SandboxSpec(root=staged, **self.sandbox_limits)
                spec.ensure_dirs()
                t0 = time.monotonic()
                session = SyncKernelSession(spec, backend=self.backend, **self.session_kwargs)
                if session.paths != SandboxSpec.mounted_paths():
                    self.unsupported = (f"the {self.backend} backend here shows the kernel host paths "
                                        "(no bwrap?), so a kernel cannot move to another episode folder")
                    session.close()
                    session = None
                    with self._cond:
                        self._starting -= 1
                        self._closed = True
                        self._cond.notify_all()
                    shutil.rmtree(staged, ignore_errors=True)
                    return
                session.start()
                from dojo_nb.kernel.template import SpawnedProcess

                spawned = isinstance(getattr(session.session.km.provisioner, "process", None), SpawnedProcess)
                if self.imports and not spawned:  # no template, or it is gone: the kernel imports itself
                    from dojo_nb.kernel.fork import run_silent  # no execution count, history or output

                    run_silent(session, "\n".join(f"import {name}" for name in self.imports), timeout=300)
                session.warm_up()
                self.stats.from_template += bool(spawned)
                self.stats.start_times_s.append(time.monotonic() - t0)
                self.stats.started += 1
                failures = 0
            except Exception as exc:  # noqa: BLE001 - keep trying, slower, and say why
                failures += 1
                self.stats.failed_starts += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("warm pool: a kernel did not start: %s", exc)
                if session is not None:
                    session.close()
                shutil.rmtree(staged, ignore_errors=True)
                with self._cond:
                    self._starting -= 1
                    self._cond.wait(min(30.0, 0.5 * 2 ** failures))
                continue
            with self._cond:
                self._starting -= 1
                if self._closed:
                    closing = True
                else:
                    self._ready.append((session, staged))
                    closing = False
                self._cond.notify_all()
            if closing:
                session.close()
                shutil.rmtree(staged, ignore_errors=True)
                return
