"""The driver stays bounded whatever a cell sends: comm floods, output floods, broken messages, exits.

Real kernels on every backend (the `session` fixture of conftest.py closes them, even on failure).
"""

from __future__ import annotations

import asyncio
import json
import os

import psutil
import pytest

CAP = 1_000_000  # the session's default max_output_bytes

#: RSS the driver may gain over a 20-cell flood of 20 MB comm states (800 MB sent in all).
#: Before the fix nbclient kept every state: ~300 MB more per cell, never released.
COMM_FLOOD_RSS_BOUND_MB = 400

COMM_FLOOD = """
from comm import create_comm
big = 'x' * 20_000_000
c = create_comm(target_name='jupyter.widget', data={'state': {'_model_module': 'm', '_model_name': 'M', 'v': big}})
c.send({'method': 'update', 'state': {'v': big}})
del big
"""

#: What a cell can send through the kernel's own session (any message, any content).
_SEND = "k = get_ipython().kernel\nparent = k.get_parent()\n"

FLOODS = {
    "metadata": "from IPython.display import display\n"
                "for i in range(20):\n"
                "    display({'text/plain': 'x'}, metadata={'m': 'y' * 1_000_000}, raw=True)\n",
    "update_display_data": "from IPython.display import display\n"
                           "h = display({'text/plain': 'a'}, raw=True, display_id='d')\n"
                           "for i in range(20):\n"
                           "    h.update({'text/plain': 'z' * 900_000}, raw=True)\n"
                           "for i in range(200):\n"
                           "    display({'text/plain': 'w' * 10_000}, raw=True, display_id='d')\n",
    "error": _SEND + "for i in range(20):\n"
                     "    k.session.send(k.iopub_socket, 'error', {'ename': 'E' * 1000, 'evalue': 'v' * 1_000_000,"
                     " 'traceback': ['t' * 100_000] * 10}, parent=parent)\n"
                     "raise ValueError('e' * 3_000_000)\n",
    "transient": _SEND + "for i in range(20):\n"
                         "    k.session.send(k.iopub_socket, 'display_data', {'data': {'text/plain': 'x'},"
                         " 'metadata': {}, 'transient': {'junk': 'j' * 1_000_000}}, parent=parent)\n",
}

BROKEN = {
    # The same signed message twice: jupyter_client refuses the second ("Duplicate Signature").
    "duplicate_signature": _SEND + "msg = k.session.msg('stream', {'name': 'stdout', 'text': 'dup\\n'}, parent=parent)\n"
                                   "k.session.send(k.iopub_socket, msg)\n"
                                   "k.session.send(k.iopub_socket, msg)\n",
    # JSON too deep for json.loads in the driver (RecursionError while reading the message).
    "json_too_deep_to_read": _SEND + "deep = ('{\"a\":' * 100_000 + '1' + '}' * 100_000).encode()\n"
                                     "old = k.session.pack\n"
                                     "k.session.pack = lambda o: deep if isinstance(o, dict) and o.get('deep') else old(o)\n"
                                     "try:\n"
                                     "    k.session.send(k.iopub_socket, 'display_data', {'deep': 1}, parent=parent)\n"
                                     "finally:\n"
                                     "    k.session.pack = old\n",
    # Readable, but nested hundreds of levels deep: the trajectory could not encode it.
    "display_nested_500_deep": "from IPython.display import display\n"
                               "d = node = {}\n"
                               "for i in range(500):\n"
                               "    node['a'] = {}\n"
                               "    node = node['a']\n"
                               "display({'application/json': d, 'text/plain': 'deep'}, raw=True)\n",
}


def _rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / 1e6


def _pollers_on_loop(session) -> list[str]:
    """Names of the nbclient polling coroutines still scheduled on the session's event loop."""
    async def names() -> list[str]:
        return [t.get_coro().__qualname__ for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    return [n for n in session._run(names()) if "_async_poll" in n]


def test_comm_flood_keeps_driver_memory_bounded(session) -> None:
    assert session.execute("1").ok
    base = _rss_mb()
    peak = base
    for _ in range(20):
        r = session.execute(COMM_FLOOD, timeout=120)
        assert r.status == "ok", r.text
        peak = max(peak, _rss_mb())
    client = session.session.client
    assert not client.widget_state and not client.widget_buffers and not client.comm_objects
    growth = _rss_mb() - base
    print(f"driver RSS: base {base:.0f} MB, peak {peak:.0f} MB, growth after 20 cells {growth:.0f} MB")
    assert growth < COMM_FLOOD_RSS_BOUND_MB
    assert session.execute("1 + 1").text == "2"


@pytest.mark.parametrize("kind", sorted(FLOODS))
def test_output_floods_are_capped(session, kind: str) -> None:
    r = session.execute(FLOODS[kind], timeout=120)
    stored = len(json.dumps(r.outputs))
    shown = len(json.dumps(r.to_dict()))
    assert stored < 2 * CAP, (kind, stored)
    assert shown < 2 * CAP + 50_000, (kind, shown)
    assert "characters of output dropped" in r.text
    if kind == "error":
        assert r.status == "error" and r.error and r.error["ename"]
    assert session.execute("1 + 1").text == "2"


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_unprocessable_message_ends_cell_as_error(session, kind: str) -> None:
    assert session.execute("x = 41").ok
    r = session.execute(BROKEN[kind], timeout=60)
    assert r.status == "error", (kind, r.status, r.text)
    assert r.message and "could not process" in r.message, r.message
    assert session.session.client.pollers_running() == 0
    assert _pollers_on_loop(session) == []
    nxt = session.execute("x + 1")
    assert nxt.status == "ok" and nxt.text == "42" and not nxt.kernel_restarted


@pytest.mark.parametrize("code", ["exit()", "quit()",
                                  "import os, threading\nthreading.Thread(target=lambda: os._exit(0)).start()\n"
                                  "import time; time.sleep(2)"])
def test_cell_that_ends_its_kernel_is_reported_itself(session, code: str) -> None:
    assert session.execute("x = 1").ok
    r = session.execute(code, timeout=60)
    assert r.status == "crashed" and r.kernel_restarted, (r.status, r.text)
    assert "this cell" in r.message and "lost" in r.message, r.message
    nxt = session.execute("'x' in globals()")
    assert nxt.status == "ok" and nxt.text == "False" and not nxt.kernel_restarted


def test_sys_exit_in_a_thread_leaves_the_kernel_running(session) -> None:
    """SystemExit in a thread ends only that thread: nothing is lost, nothing to report."""
    assert session.execute("x = 1").ok
    r = session.execute("import sys, threading\nt = threading.Thread(target=sys.exit)\nt.start(); t.join()")
    assert r.status == "ok" and not r.kernel_restarted
    assert session.execute("x").text == "1"


def test_kernel_dead_between_cells_is_restarted_before_the_next(session) -> None:
    r = session.execute("import os, threading, time\n"
                        "threading.Thread(target=lambda: (time.sleep(0.5), os._exit(0))).start()")
    assert r.status == "ok"
    import time

    time.sleep(1.5)
    nxt = session.execute("1 + 1")
    assert nxt.status == "ok" and nxt.text.startswith("2") and nxt.kernel_restarted
    assert "before this cell ran" in (nxt.message or "")
