"""A live kernel for one episode: start it in a sandbox, run cells, survive what cells do.

`KernelSession` is the async core; `SyncKernelSession` wraps it for scripts and notebooks by
running its event loop in a background thread (which lives as long as the session: the
local backend ties the kernel's life to the thread that started it).

Cells run through nbclient's `async_execute_cell` (see `client.DojoNotebookClient`), so the
outputs are the ones papermill writes later. What a cell can do to the kernel becomes a
status, never an exception: ``ok``, ``error`` (also when the driver could not process some
of the cell's messages: the message says which), ``timeout`` (interrupted; restarted if it
ignored the interrupt) or ``crashed`` (the process died or the cell called exit(); a fresh
kernel replaces it). A kernel that died after a cell finished is restarted before the next.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import threading
import time
import weakref
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import nbformat
from nbclient.exceptions import DeadKernelError

from dojo_nb.kernel import backends
from dojo_nb.kernel.client import (DEFAULT_MAX_OUTPUT_BYTES, DojoNotebookClient, error_of, expression_texts,
                                   unprocessed_note)
from dojo_nb.kernel.death import death_note
from dojo_nb.kernel.limits import limit_hint
from dojo_nb.kernel.render import DEFAULT_MAX_CHARS, render_text
from dojo_nb.kernel.result import ExecutionResult
from dojo_nb.kernel.spec import SandboxPaths, SandboxSpec

T = TypeVar("T")

_LIVE: weakref.WeakSet[KernelSession] = weakref.WeakSet()


class KernelSessionError(RuntimeError):
    """The session cannot do what was asked (not started, closed, kernel failed to start)."""


class KernelSession:
    """One sandboxed ipykernel and the notebook client that runs cells in it."""

    def __init__(self, spec: SandboxSpec, backend: str = "local", *,
                 max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES, text_max_chars: int = DEFAULT_MAX_CHARS,
                 startup_timeout: float = 60.0, interrupt_grace_s: int = 3,
                 provisioner_config: dict[str, Any] | None = None) -> None:
        self.spec = spec
        #: Extra provisioner settings (e.g. ``template``: spawn from a `KernelTemplate`).
        self.provisioner_config = dict(provisioner_config or {})
        self.backend_name = backend
        self.backend = backends.get(backend)
        self.max_output_bytes = max_output_bytes
        self.text_max_chars = text_max_chars
        self.startup_timeout = startup_timeout
        self.interrupt_grace_s = interrupt_grace_s
        self.km: Any = None
        self.kc: Any = None
        self.client: DojoNotebookClient | None = None
        self.language_info: dict[str, Any] = {"name": "python"}
        self.restarts = 0
        #: Code run (silently) in a kernel this session restarts before a cell, e.g. the parameters cell.
        self.prelude: str | None = None
        #: The prelude once a kernel that cannot restart in place was replaced by a cold one.
        self.cold_prelude: str | None = None
        self._closed = False

    # --- facts for the notebook --------------------------------------------------------
    @property
    def paths(self) -> SandboxPaths:
        """The episode folders as the kernel sees them (a forked kernel's are its own)."""
        own = getattr(getattr(self.km, "provisioner", None), "kernel_paths", None)
        return own if isinstance(own, SandboxPaths) else self.backend.paths(self.spec)

    @property
    def kernelspec(self) -> dict[str, str]:
        return self.backend.notebook_kernelspec()

    @property
    def started(self) -> bool:
        return self.km is not None and not self._closed

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> KernelSession:
        """Start the kernel and wait until it answers (separate from __init__ for warm pools)."""
        if self._closed:
            raise KernelSessionError("this session is closed")
        if self.km is not None:
            return self
        self.km = backends.make_kernel_manager(self.spec, self.backend, provisioner_config=self.provisioner_config)
        _LIVE.add(self)
        try:
            await self.km.start_kernel()
            await self._connect()
        except Exception as exc:
            tail = self._log_tail()
            await self._shutdown()
            why = f"\nits last output:\n{tail}" if tail else ""
            raise KernelSessionError(f"the {self.backend_name} kernel did not start: {exc}{why}") from exc
        return self

    async def _connect(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        self.kc = self.km.client()
        # orjson (jupyter_client's default when installed) segfaults the driver on JSON nested
        # ~100,000 deep, which any cell can send; the stdlib parser raises RecursionError instead.
        self.kc.session.unpacker = "json"
        self.kc.start_channels(stdin=False)
        self.kc.allow_stdin = False  # input() raises a clear StdinNotImplementedError, never hangs
        await self.kc.wait_for_ready(timeout=self.startup_timeout)
        seal = getattr(getattr(self.km, "provisioner", None), "seal_sockets", None)
        if callable(seal):  # from here on the kernel cannot swap its socket files for links
            seal()
        reply = await self.kc.kernel_info(reply=True, timeout=10)
        self.language_info = dict(reply["content"].get("language_info") or self.language_info)
        nb = nbformat.v4.new_notebook()
        self.client = DojoNotebookClient(nb, km=self.km, max_output_bytes=self.max_output_bytes,
                                         interrupt_grace_s=self.interrupt_grace_s)
        self.client.kc = self.kc

    def _log_tail(self) -> str:
        """What the kernel (or bwrap, or the engine) last wrote: why a start failed, often."""
        tail = getattr(getattr(self.km, "provisioner", None), "log_tail", None)
        try:
            return tail() if callable(tail) else ""
        except Exception:  # noqa: BLE001
            return ""

    async def restart(self) -> None:
        """A fresh kernel in the same sandbox: all variables are lost, files stay."""
        if self.km is None:
            raise KernelSessionError("start the session first")
        if getattr(getattr(self.km, "provisioner", None), "restarts_cold", False):
            await self._start_cold()
        else:
            await self.km.restart_kernel(now=True)
        self.restarts += 1
        await self._connect()

    async def _start_cold(self) -> None:
        """A kernel that cannot restart where it runs (a fork: its state came from another kernel,
        and its sandbox is its parent's) is replaced by a cold one over the same folders, in a
        sandbox of its own; `cold_prelude` (the paths as that kernel sees them) becomes the prelude."""
        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
            self.kc = None
        old = self.km
        with contextlib.suppress(Exception):
            await old.shutdown_kernel(now=True)  # a fork's clean-up brings its files home
        prov = getattr(old, "provisioner", None)
        if prov is not None:
            with contextlib.suppress(Exception):
                await prov.cleanup(restart=False)  # idempotent; a dead kernel's shutdown may skip it
        self.km = backends.make_kernel_manager(self.spec, self.backend, provisioner_config=self.provisioner_config)
        await self.km.start_kernel()
        if self.cold_prelude is not None:
            self.prelude = self.cold_prelude

    async def warm_up(self) -> None:
        """Run an empty, silent request so the first real cell does not pay the kernel's
        first-execution cost; silent: no execution count, no history, no outputs."""
        if self.kc is not None:
            await self.kc.execute_interactive("pass", silent=True, store_history=False,
                                              timeout=30, output_hook=lambda msg: None)

    async def probe(self, expressions: dict[str, str], timeout: float = 5.0) -> dict[str, str]:
        """Evaluate expressions in the kernel's namespace without a cell: silent, no execution
        count, no history, no outputs (what the env reads of the kernel's state after a step).
        Each value is the expression's text/plain; one that failed is absent. Never raises."""
        if self.kc is None or self._closed:
            return {}
        try:
            reply = await self.kc.execute_interactive("", silent=True, store_history=False,
                                                      user_expressions=dict(expressions), timeout=timeout,
                                                      output_hook=lambda msg: None)
        except Exception:  # noqa: BLE001 - a busy or dead kernel just tells nothing
            return {}
        return expression_texts(((reply or {}).get("content") or {}).get("user_expressions"))

    def relocate(self, root: Path) -> None:
        """The sandbox folder was moved to `root` (by a warm pool); later restarts use it.

        The running kernel is unaffected: its bind mounts follow the moved folder.
        """
        root = Path(root).resolve()
        self.spec.root = root
        provisioner = getattr(self.km, "provisioner", None)
        pspec = getattr(provisioner, "_spec", None)
        if isinstance(pspec, SandboxSpec):
            pspec.root = root

    async def interrupt(self) -> None:
        """Ask the kernel to stop the running cell (by message: works through any sandbox)."""
        if self.km is not None and self.km.has_kernel:
            await self.km.interrupt_kernel()

    async def close(self) -> None:
        """Stop the kernel and remove what it left; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:  # noqa: BLE001
                pass
            self.kc = None
        if self.km is not None:
            try:
                if self.km.has_kernel:
                    await self.km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001 - a half-dead kernel: kill the process group below
                pass
            provisioner = getattr(self.km, "provisioner", None)
            if provisioner is not None:
                try:
                    await provisioner.kill()
                    await provisioner.cleanup(restart=False)
                except Exception:  # noqa: BLE001
                    pass
        _LIVE.discard(self)

    async def is_alive(self) -> bool:
        return self.km is not None and await self.km.is_alive()

    async def __aenter__(self) -> KernelSession:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- running cells -----------------------------------------------------------------
    async def execute(self, code: str, timeout: float | None = None,
                      expressions: dict[str, str] | None = None) -> ExecutionResult:
        """Run one cell; the result says what happened, whatever the cell did.

        A kernel found dead before the cell started (it exited after the previous cell, from a
        thread say) is not this cell's doing: it is restarted, the prelude runs, and the cell
        runs in the fresh kernel. No liveness check is paid on the normal path.
        """
        if self.client is None or self._closed:
            raise KernelSessionError("the session is not started (or already closed)")
        result = await self._run_cell(code, timeout, expressions=expressions)
        if result is not None:
            return result
        before = await self._restart_dead_kernel()
        result = await self._run_cell(code, timeout, before=before, expressions=expressions)
        assert result is not None
        return result

    async def _run_cell(self, code: str, timeout: float | None, before: str | None = None,
                        expressions: dict[str, str] | None = None) -> ExecutionResult | None:
        """One attempt; None when the kernel was dead before it saw the cell (never after a restart).

        `expressions` ride on the cell's own execute_request (Jupyter's user_expressions): what
        the env reads of the kernel after a step costs no second round trip."""
        client = self.client
        assert client is not None
        client.begin_cell(timeout)
        # Built directly: nbformat's new_code_cell validates against the schema (~1 ms a cell).
        cell = nbformat.NotebookNode(cell_type="code", execution_count=None, metadata=nbformat.NotebookNode(),
                                     source=code, outputs=[])
        client.nb.cells = [cell]
        t0 = time.monotonic()
        crashed = False
        internal: Exception | None = None
        kc = client.kc
        if expressions and kc is not None:
            kc.execute = functools.partial(type(kc).execute.__get__(kc), user_expressions=dict(expressions))
        try:
            await client.async_execute_cell(cell, 0, store_history=True)
        except DeadKernelError:
            crashed = True
        except Exception as exc:  # noqa: BLE001 - a driver fault on this cell's messages
            internal = exc
        finally:
            client.cancel_pollers()  # no failure may leave the 0.2 s alive poller running
            if expressions and kc is not None:
                vars(kc).pop("execute", None)  # the class's own execute again
        if crashed and not client.started_seen and before is None:
            return None
        elapsed = time.monotonic() - t0
        outputs = list(cell.get("outputs", []))
        if client.dropped_chars:
            outputs.append(nbformat.v4.new_output(
                "stream", name="stderr",
                text=f"\n[dojo-nb: {client.dropped_chars:,} characters of output dropped; "
                     f"a cell keeps at most {self.max_output_bytes:,}]\n"))
        error = error_of(outputs, client.exec_reply)
        restarted = False
        message = None
        exited = None if crashed or internal else await self._exit_of(client.exec_reply)
        if crashed or exited:
            status = "crashed"
            why = await death_note(self.km)
            await self._recover()
            restarted = True
            if exited:
                message = (f"The kernel exited during this cell ({exited}){why}, so its state was lost. "
                           "A fresh kernel was started: all variables were lost (files on disk stay).")
                error = {"ename": "KernelExited", "evalue": f"the kernel exited during this cell ({exited})",
                         "traceback": []}
            else:
                message = (f"The kernel died while running this cell{why}. A fresh kernel was started: "
                           "all variables were lost (files on disk stay).")
                error = error or {"ename": "DeadKernelError", "evalue": "the kernel process died", "traceback": []}
        elif internal is not None:
            status = "error"
            message = await self._after_internal_error(client, internal)
            error = {"ename": "DriverError", "evalue": "the driver could not process this cell's messages",
                     "traceback": []}
        elif client.timed_out:
            status = "timeout"
            if not client.idle_seen:
                await self._recover()
                restarted = True
                message = (f"The cell exceeded its {timeout:g} s limit and ignored the interrupt, so the "
                           "kernel was restarted: all variables were lost (files on disk stay).")
            else:
                message = f"The cell exceeded its {timeout:g} s limit and was interrupted; the kernel is still usable."
            error = error or {"ename": "CellTimeout", "evalue": message, "traceback": []}
        elif client.failure_count:
            status = "error"
            message = unprocessed_note(client)
            error = error or {"ename": "DriverError", "evalue": "the driver could not process some of this "
                              "cell's messages", "traceback": []}
        elif error is not None or (client.exec_reply or {}).get("content", {}).get("status") == "error":
            status = "error"
            hint = limit_hint(error, self.spec.memory_mb, self.spec.pids, self.spec.disk_mb, self.spec.tmp_mb)
            if hint and not message:  # the agent met a limit of the sandbox, not a bug of its own
                message = hint[0].upper() + hint[1:] + "."
        else:
            status = "ok"
        if before:
            message = f"{before} {message}" if message else before
            restarted = True
        reply = (client.exec_reply or {}).get("content", {})
        count = reply.get("execution_count", cell.get("execution_count"))
        text = render_text(outputs, error, max_chars=self.text_max_chars)
        if message:
            text = (text + "\n" if text else "") + f"[dojo-nb] {message}"
        return ExecutionResult(status=status, outputs=[dict(o) for o in outputs], error=error, text=text,
                               elapsed_s=round(elapsed, 4),
                               execution_count=count if status != "crashed" and isinstance(count, int) else None,
                               kernel_restarted=restarted, message=message,
                               expressions=dict(((client.exec_reply or {}).get("content") or {}).get("user_expressions") or {})
                               if status == "ok" and not restarted else {})

    async def _restart_dead_kernel(self) -> str:
        """Restart a kernel that died between cells, run the prelude, and say so."""
        why = await death_note(self.km)
        await self._recover()
        if self.prelude and self.kc is not None:
            await self.kc.execute_interactive(self.prelude, silent=True, store_history=False, timeout=30,
                                              output_hook=lambda msg: None)
        return (f"The kernel had exited after the previous cell finished{why}; a fresh kernel was started "
                "before this cell ran: all variables were lost (files on disk stay).")

    async def _exit_of(self, exec_reply: dict[str, Any] | None) -> str | None:
        """How the cell ended its own kernel (exit()/quit()), or None if it did not.

        ipykernel answers exit() and then shuts down, so the reply's ``ask_exit`` payload is the
        sign. A process that exits by itself during the cell is caught by the alive poller; one
        that exits after the reply is found by the next cell (see `execute`).
        """
        payload = (exec_reply or {}).get("content", {}).get("payload") or []
        if any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in payload):
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and await self.is_alive():
                await asyncio.sleep(0.05)
            return "exit() or quit() was called"
        return None

    async def _after_internal_error(self, client: DojoNotebookClient, exc: Exception) -> str:
        """Describe a driver fault on this cell, and leave the kernel ready for the next one."""
        what = f"{type(exc).__name__}: {str(exc)[:300]}"
        if client.exec_reply is None:  # the cell may still be running: stop it
            try:
                await self.interrupt()
            except Exception:  # noqa: BLE001
                pass
        note = unprocessed_note(client) if client.failure_count else ""
        return (f"The driver could not process this cell's messages ({what}); the cell's outcome is "
                f"unknown and what it printed may be incomplete.{(' ' + note) if note else ''} "
                "The kernel is still running.")

    async def _recover(self) -> None:
        try:
            await self.restart()
        except Exception as exc:  # noqa: BLE001
            raise KernelSessionError(f"the kernel could not be restarted: {exc}") from exc


class SyncKernelSession:
    """`KernelSession` for blocking code: the same methods, run on a private event-loop thread."""

    def __init__(self, spec: SandboxSpec, backend: str = "local", **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dojo-nb-kernel", daemon=True)
        self._thread.start()
        self._session = KernelSession(spec, backend, **kwargs)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise KernelSessionError("this session is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def session(self) -> KernelSession:
        return self._session

    @property
    def paths(self) -> SandboxPaths:
        return self._session.paths

    @property
    def kernelspec(self) -> dict[str, str]:
        return self._session.kernelspec

    @property
    def language_info(self) -> dict[str, Any]:
        return self._session.language_info

    def start(self) -> SyncKernelSession:
        self._run(self._session.start())
        return self

    def execute(self, code: str, timeout: float | None = None,
                expressions: dict[str, str] | None = None) -> ExecutionResult:
        return self._run(self._session.execute(code, timeout, expressions))

    def probe(self, expressions: dict[str, str], timeout: float = 5.0) -> dict[str, str]:
        return self._run(self._session.probe(expressions, timeout), timeout=timeout + 5)

    def warm_up(self) -> None:
        self._run(self._session.warm_up())

    def interrupt(self) -> None:
        self._run(self._session.interrupt())

    def restart(self) -> None:
        self._run(self._session.restart())

    def is_alive(self) -> bool:
        return self._run(self._session.is_alive())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            if not self._session._closed:  # (closed: a deferred stop dropped its last reference)
                self._run(self._session.close(), timeout=60)
        finally:
            family = getattr(getattr(self._session.km, "provisioner", None), "family", None)
            if family is not None and family.busy:  # this thread started the sandbox (bwrap dies with it)
                family.on_empty.append(lambda: self._loop.call_soon_threadsafe(self._loop.stop))
            else:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)

    def __enter__(self) -> SyncKernelSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


@atexit.register
def _close_live_sessions() -> None:
    """A driver that exits without closing its sessions still leaves no kernel behind."""
    for session in list(_LIVE):
        km = session.km
        provisioner = getattr(km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        if process is not None and process.poll() is None:
            try:
                process.kill()
            except Exception:  # noqa: BLE001
                pass
