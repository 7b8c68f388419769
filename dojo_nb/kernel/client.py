"""nbclient's NotebookClient, tuned for a long-lived interactive session with a hostile kernel.

Cells still run through `NotebookClient.async_execute_cell`, so outputs are exactly what
papermill writes. On top of it this client:

- caps every byte one cell may store (``max_output_bytes``): stream text, rich data, output
  metadata, ``transient``, errors and display updates all count; past the cap output is
  counted and dropped, so a cell sending 200 MB keeps the driver's memory bounded;
- keeps no comm/widget state: the trajectory never stores widget state, and nbclient would
  keep every comm message's ``state`` for the session's whole life;
- survives messages it cannot process (bad signatures, JSON nested too deep, any exception
  while handling one): they are dropped and described in ``failures``, the cell goes on;
- notices a dead kernel every ``alive_poll_s`` (nbclient polls once a second), and can
  cancel all its polling tasks (`cancel_pollers`) so no failure leaves one running;
- on timeout interrupts the kernel and waits ``interrupt_grace_s`` for it to go idle, and
  records whether it did, so the session can restart a kernel that ignores interrupts;
- keeps the last execute reply (trimmed to the cap), to report errors without parsing outputs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, CellExecutionComplete, DeadKernelError
from nbformat import NotebookNode
from traitlets import Float, Integer

from dojo_nb.kernel.render import strip_ansi

DEFAULT_MAX_OUTPUT_BYTES = 1_000_000
#: Deepest JSON nesting kept in an output's data or metadata (plots use ~10-20 levels).
MAX_JSON_DEPTH = 100
#: An error output keeps at least this many characters even when the cap is used up.
ERROR_FLOOR_CHARS = 2000
#: Failures described per cell (the rest are only counted).
_MAX_FAILURES_KEPT = 5
#: Consecutive unreadable iopub messages before the output poller gives up.
_MAX_BAD_READS = 10_000

log = logging.getLogger("dojo_nb.kernel.nbclient")
log.addHandler(logging.NullHandler())

_TIMEOUT_REPLY = {
    "ename": "CellTimeout",
    "evalue": "the cell exceeded its time limit and was interrupted",
    "traceback": [],
}



#: At most this many user expressions, each's text at most this long (a reply is the kernel's).
MAX_EXPRESSIONS, MAX_EXPRESSION_CHARS = 8, 200_000


def expression_texts(found: Any) -> dict[str, str]:
    """The text/plain of each user expression that evaluated, bounded; {} for anything else."""
    out: dict[str, str] = {}
    if not isinstance(found, dict):
        return out
    for name, value in list(found.items())[:MAX_EXPRESSIONS]:
        if isinstance(value, dict) and value.get("status") == "ok":
            text = (value.get("data") or {}).get("text/plain")
            if isinstance(text, str):
                out[str(name)[:100]] = text[:MAX_EXPRESSION_CHARS]
    return out

class UnprocessableOutput(ValueError):
    """An output the driver refuses to store (nested too deep to encode safely)."""


def _depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if `value` nests at most `limit` containers deep (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limit:
                return False
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            if depth > limit:
                return False
            stack.extend((v, depth + 1) for v in item)
    return True


def _json_size(value: Any) -> int:
    """Characters `value` takes once stored; raises UnprocessableOutput when it cannot be stored."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    try:
        size = len(json.dumps(value, default=str))
    except (RecursionError, ValueError, TypeError) as exc:
        raise UnprocessableOutput(f"its JSON cannot be encoded ({type(exc).__name__})") from None
    if size > 2 and not _depth_ok(value):
        raise UnprocessableOutput(f"its JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    return size


def stored_size(content: dict[str, Any]) -> int:
    """Characters one output message makes the driver hold: everything nbformat keeps, plus transient."""
    size = _json_size(content.get("transient"))
    if "text" in content:
        return size + _json_size(content.get("text"))
    if "ename" in content or "traceback" in content:
        size += len(str(content.get("ename", ""))) + len(str(content.get("evalue", "")))
        return size + sum(len(str(line)) for line in content.get("traceback") or [])
    for value in (content.get("data") or {}).values():
        size += _json_size(value)
    return size + _json_size(content.get("metadata"))


def trim_error(content: dict[str, Any], budget: int) -> int:
    """Cut an error's evalue and traceback to `budget` characters (the traceback's end is kept).

    Returns how many characters were dropped.
    """
    budget = max(budget, 0)
    dropped = 0
    ename = str(content.get("ename", ""))[:200]
    content["ename"] = ename
    evalue = str(content.get("evalue", ""))
    room = max(budget - len(ename), 0)
    if len(evalue) > room:
        keep = max(room - 60, 0)
        content["evalue"] = evalue[:keep] + f"... [{len(evalue) - keep} characters dropped]"
        dropped += len(evalue) - keep
    room = max(room - len(str(content["evalue"])), 0)
    tb = [str(line) for line in content.get("traceback") or []]
    if sum(len(line) for line in tb) > room:
        kept: list[str] = []
        used = 0
        for line in reversed(tb):  # the end of a traceback says what went wrong
            if used + len(line) > room:
                break
            kept.append(line)
            used += len(line)
        dropped += sum(len(line) for line in tb) - used
        content["traceback"] = [f"[{len(tb) - len(kept)} traceback lines dropped]"] + kept[::-1]
    return dropped


class DojoNotebookClient(NotebookClient):
    """A NotebookClient for one live session: one cell slot, bounded outputs, fast crash checks."""

    max_output_bytes = Integer(DEFAULT_MAX_OUTPUT_BYTES, help="Output characters kept per cell.")
    alive_poll_s = Float(0.2, help="How often to check that the kernel process is alive.")
    interrupt_grace_s = Integer(3, help="Seconds a kernel gets to go idle after a timeout interrupt.")
    normal_iopub_timeout = Integer(10, help="Seconds to wait for trailing output after a reply.")

    def __init__(self, nb: NotebookNode, km: Any = None, **kw: Any) -> None:
        kw.setdefault("log", log)
        kw.setdefault("allow_errors", True)
        kw.setdefault("interrupt_on_timeout", True)
        kw.setdefault("error_on_timeout", dict(_TIMEOUT_REPLY))
        kw.setdefault("raise_on_iopub_timeout", False)
        kw.setdefault("record_timing", False)
        kw.setdefault("store_widget_state", False)
        super().__init__(nb, km=km, **kw)
        self.comm_open_handlers = {}  # no Output-widget mimic: its outputs would escape the cap
        self._alive_task: asyncio.Task[Any] | None = None
        self._output_task: asyncio.Task[Any] | None = None
        self.task_poll_for_reply = None
        self.begin_cell(None)

    # --- per-cell state -------------------------------------------------------------
    def begin_cell(self, timeout: float | None) -> None:
        """Reset what the previous cell left behind (called before every execute)."""
        self.cell_timeout = timeout if timeout and timeout > 0 else None
        self.timeout_func = lambda cell: self.cell_timeout
        self.iopub_timeout = self.normal_iopub_timeout
        self.stored_chars = 0
        self.dropped_chars = 0
        self.error_floor_used = False
        self.idle_seen = False
        self.started_seen = False  # the kernel said it began this cell (busy / execute_input)
        self.timed_out = False
        self.exec_reply: dict[str, Any] | None = None
        self.failures: list[str] = []
        self.failure_count = 0
        self.comm_messages = 0
        self.comm_chars = 0
        self._sizes: list[int] = []  # stored size of each output slot of the cell
        # Display ids point at cell slots; old cells are gone, so forget them.
        self._display_id_map.clear()
        self.widget_state.clear()
        self.widget_buffers.clear()
        self.comm_objects.clear()
        self.output_hook_stack.clear()

    def note_failure(self, what: str, exc: BaseException | str) -> None:
        """Record a message the driver could not process (the cell goes on without it)."""
        self.failure_count += 1
        if len(self.failures) < _MAX_FAILURES_KEPT:
            why = exc if isinstance(exc, str) else f"{type(exc).__name__}: {str(exc)[:200]}"
            self.failures.append(f"{what}: {why}")

    def cancel_pollers(self) -> None:
        """Cancel the reply, output and alive pollers of the last cell (idempotent)."""
        for task in (self.task_poll_for_reply, self._output_task, self._alive_task):
            if task is not None and not task.done():
                task.cancel()

    def pollers_running(self) -> int:
        """How many of the last cell's polling tasks are still running (0 between cells)."""
        return sum(1 for t in (self.task_poll_for_reply, self._output_task, self._alive_task)
                   if t is not None and not t.done())

    # --- nbclient hooks -------------------------------------------------------------
    async def _async_poll_kernel_alive(self) -> None:
        self._alive_task = asyncio.current_task()
        while True:
            await asyncio.sleep(self.alive_poll_s)
            try:
                await self._async_check_alive()
            except DeadKernelError:
                assert self.task_poll_for_reply is not None
                self.task_poll_for_reply.cancel()
                return

    async def _async_poll_output_msg(self, parent_msg_id: str, cell: NotebookNode, cell_index: int) -> None:
        """nbclient's loop, but a message that cannot be read or processed is dropped, not fatal."""
        assert self.kc is not None
        self._output_task = asyncio.current_task()
        bad_reads = 0
        while True:
            try:
                msg = await self.kc.iopub_channel.get_msg(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. "Duplicate Signature", JSON too deep
                bad_reads += 1
                self.note_failure("an output message could not be read", exc)
                if bad_reads > _MAX_BAD_READS:
                    raise
                continue
            bad_reads = 0
            if (msg.get("parent_header") or {}).get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return

    async def _async_handle_timeout(
        self, timeout: int, cell: NotebookNode | None = None
    ) -> None | dict[str, Any]:
        self.timed_out = True
        self.iopub_timeout = self.interrupt_grace_s
        return await super()._async_handle_timeout(timeout, cell)

    async def _check_raise_for_error(
        self, cell: NotebookNode, cell_index: int, exec_reply: dict[str, Any] | None
    ) -> None:
        self.exec_reply = self._trimmed_reply(exec_reply)
        await super()._check_raise_for_error(cell, cell_index, self.exec_reply)

    def _trimmed_reply(self, reply: dict[str, Any] | None) -> dict[str, Any] | None:
        """The reply's fields the session reads, the error cut to the cap (a reply is unbounded)."""
        if reply is None:
            return None
        content = reply.get("content") or {}
        kept: dict[str, Any] = {k: content[k] for k in ("status", "execution_count") if k in content}
        kept["payload"] = [{"source": str(p.get("source", ""))[:100], "keepkernel": p.get("keepkernel")}
                           for p in (content.get("payload") or [])[:20] if isinstance(p, dict)]
        kept["user_expressions"] = expression_texts(content.get("user_expressions"))
        if content.get("status") == "error":
            err = {k: content.get(k) for k in ("ename", "evalue", "traceback")}
            if not isinstance(err["traceback"], list):
                err["traceback"] = []
            trim_error(err, max(self.max_output_bytes, ERROR_FLOOR_CHARS))
            kept.update(err)
        return {"content": kept, "parent_header": reply.get("parent_header", {})}

    def process_message(
        self, msg: dict[str, Any], cell: NotebookNode, cell_index: int
    ) -> NotebookNode | None:
        kind = msg.get("msg_type")
        if kind == "execute_input" or (kind == "status" and (msg.get("content") or {}).get("execution_state") == "busy"):
            self.started_seen = True
        try:
            return super().process_message(msg, cell, cell_index)
        except CellExecutionComplete:
            self.idle_seen = True
            raise
        except CellControlSignal:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad message must not end the cell
            self.note_failure(f"a {str(msg.get('msg_type', '?'))[:40]} message could not be processed", exc)
            return None

    def handle_comm_msg(self, outs: list[NotebookNode], msg: dict[str, Any], cell_index: int) -> None:
        """Comm (widget) traffic is counted and dropped: nothing of it is kept."""
        self.comm_messages += 1
        self.comm_chars += sum(len(b) for b in msg.get("buffers") or [])

    def clear_output(self, outs: list[NotebookNode], msg: dict[str, Any], cell_index: int) -> None:
        super().clear_output(outs, msg, cell_index)
        if not outs:
            self.stored_chars = 0
            self._sizes.clear()

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        """A display update replaces outputs in place: it is counted like new output."""
        slots = [i for i in (self._display_id_map.get(display_id) or {}).get(0, []) if i < len(self._sizes)]
        if not slots:
            return
        content = dict(msg.get("content") or {})
        size = stored_size({"data": content.get("data"), "metadata": content.get("metadata")})
        delta = sum(size - self._sizes[i] for i in slots)
        if self.stored_chars + delta > self.max_output_bytes:
            self.dropped_chars += size * len(slots)
            return
        super()._update_display_id(display_id, msg)
        self.stored_chars += delta
        for i in slots:
            self._sizes[i] = size

    def output(
        self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        if self.clear_before_next_output:
            self.stored_chars = 0
            self._sizes.clear()
        content = msg.get("content") or {}
        try:
            size = stored_size(content)
        except UnprocessableOutput as exc:
            self.note_failure(f"a {str(msg.get('msg_type', '?'))[:40]} output was dropped", str(exc))
            return None
        room = self.max_output_bytes - self.stored_chars
        kind = msg.get("msg_type")
        if kind == "error" and size > room:
            budget = room if (room > 0 or self.error_floor_used) else ERROR_FLOOR_CHARS
            if budget <= 0:
                self.dropped_chars += size
                return None
            self.error_floor_used = True
            content.pop("transient", None)
            self.dropped_chars += trim_error(content, budget)
            size = stored_size(content)
        elif kind == "stream" and size > room > 0 and not content.get("transient"):
            content["text"] = str(content.get("text") or "")[:room]
            self.dropped_chars += size - room
            size = room
        elif size > room:
            self.dropped_chars += size
            return None
        out = super().output(outs, msg, display_id, cell_index)
        if out is not None:
            self.stored_chars += size
            del self._sizes[len(outs):]
            self._sizes.extend([0] * (len(outs) - len(self._sizes)))
            self._sizes[-1] = size
        return out


def unprocessed_note(client: DojoNotebookClient) -> str:
    """One sentence on the messages the driver dropped because it could not process them."""
    shown = "; ".join(client.failures)
    more = client.failure_count - len(client.failures)
    return (f"The driver could not process {client.failure_count} message(s) from this cell, which were "
            f"dropped: {shown}{f' (and {more} more)' if more > 0 else ''}.")


def error_of(outputs: list[Any], exec_reply: dict[str, Any] | None) -> dict[str, Any] | None:
    """A cell's error: from its error output, else from its reply (ANSI stripped)."""
    for out in outputs:
        if out.get("output_type") == "error":
            return {"ename": out.get("ename", ""), "evalue": strip_ansi(str(out.get("evalue", ""))),
                    "traceback": [strip_ansi(line) for line in out.get("traceback", [])]}
    content = (exec_reply or {}).get("content", {})
    if content.get("status") == "error":
        return {"ename": content.get("ename", ""), "evalue": strip_ansi(str(content.get("evalue", ""))),
                "traceback": [strip_ansi(line) for line in content.get("traceback", [])]}
    return None
