"""Run validation and grading of a submission in a child process with a time and memory limit.

A submission is hostile: a header of 800,000 columns made pandas take 70 s and 2.8 GB on
the driver's host. Grading therefore runs in a child forked from a helper process started
once per driver (with pandas and the metrics imported, so a child costs milliseconds, not an
interpreter start), with ``RLIMIT_AS`` set in the child and a wall-time limit enforced by
the helper, which kills a late child.
`header_problem` is the cheap pre-check the parent runs first, before anything parses the file.
"""

from __future__ import annotations

import atexit
import csv
import gc
import os
import pickle
import resource
import select
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: How much of the file the header pre-check reads.
_HEADER_BYTES = 1 << 20


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


@dataclass(frozen=True)
class GradeLimits:
    """Wall seconds and address-space megabytes one validation or grading may use."""

    time_s: float = 60.0
    memory_mb: int = 4096

    @classmethod
    def from_env(cls) -> GradeLimits:
        """Defaults, overridden by $DOJO_NB_GRADE_TIMEOUT_S and $DOJO_NB_GRADE_MEMORY_MB."""
        return cls(time_s=_env_float("DOJO_NB_GRADE_TIMEOUT_S", cls.time_s),
                   memory_mb=int(_env_float("DOJO_NB_GRADE_MEMORY_MB", cls.memory_mb)))


class GradingLimitExceeded(Exception):
    """The child ran out of time or memory, or died; the message says which, for the agent."""


def header_problem(path: Path, expected_columns: int | None, max_bytes: int | None = None) -> str | None:
    """Why the file's header is absurd (far more columns than the task wants), else None.

    Reads at most 1 MB; counts fields with the csv module, so quoted commas are not columns.
    A file over `max_bytes` is left to the grader, whose message names the size cap.
    """
    limit = 10 * expected_columns + 100 if expected_columns else 10_000
    try:  # never through a symlink: the grader refuses those itself, with the reason
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (max_bytes is not None and info.st_size > max_bytes):
            return None
        head = os.read(fd, _HEADER_BYTES)
    finally:
        os.close(fd)
    newline = head.find(b"\n")
    line = head if newline < 0 else head[:newline]
    try:
        n_fields = len(next(csv.reader([line.decode("utf-8", errors="replace")]), []))
    except csv.Error:  # a field over the csv module's limit: count separators instead
        n_fields = line.count(b",") + 1
    if n_fields > limit:
        expected = f"{expected_columns} expected" if expected_columns else "no task needs that many"
        more = "at least " if newline < 0 else ""
        return (f"the submission's header has {more}{n_fields:,} columns ({expected}; at most {limit:,} "
                "are accepted); it was refused before parsing")
    if newline < 0 and len(head) >= _HEADER_BYTES:
        return f"the submission's header line is longer than {_HEADER_BYTES:,} bytes; it was refused before parsing"
    return None


_HELPER_MAIN = "from dojo_nb.tasks.grading_limits import _serve; _serve()"


class _Server:
    """A helper process, started once, that forks one child per grading (it runs no threads).

    Not multiprocessing: its children re-import the driver's ``__main__``, which re-runs a
    driver script that has no ``if __name__ == "__main__"`` guard.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            self._proc = subprocess.Popen([sys.executable, "-c", _HELPER_MAIN],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                          start_new_session=True)
        return self._proc

    def stop(self) -> None:
        """End the helper (it also ends by itself when the driver exits: its stdin closes)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None

    def call(self, func: str, args: tuple[Any, ...], limits: GradeLimits) -> tuple[str, Any]:
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _write(proc.stdin, (func, args, limits.time_s, limits.memory_mb, _dojo_environ()))
                ready, _, _ = select.select([proc.stdout], [], [], limits.time_s + 60)  # it enforces time_s
                if not ready:
                    raise OSError("the grading helper did not answer")
                return _read(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                proc.kill()
                proc.wait(timeout=10)
                self._proc = None
                return ("error", f"the grading helper failed ({exc})")


def _dojo_environ() -> dict[str, str]:
    """The driver's DOJO_NB_* settings now (cache, task size...): the helper started earlier,
    perhaps under other ones, and must grade against the data this driver prepared."""
    return {k: v for k, v in os.environ.items() if k.startswith("DOJO_NB_")}


def _apply_environ(environ: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith("DOJO_NB_") and k not in environ]:
        del os.environ[key]
    os.environ.update(environ)


_SERVER = _Server()
atexit.register(_SERVER.stop)


def prestart() -> None:
    """Start the grading helper now (it warms pandas and sklearn up in its own process), so
    the first submit of an episode does not wait 2-3 s for it. Returns at once."""
    with _SERVER._lock:
        _SERVER._start()


def _write(fh: Any, obj: Any) -> None:
    data = pickle.dumps(obj)
    fh.write(struct.pack(">Q", len(data)) + data)
    fh.flush()


def _read(fh: Any) -> Any:
    head = fh.read(8)
    if len(head) < 8:
        raise EOFError("no answer")
    (size,) = struct.unpack(">Q", head)
    data = fh.read(size)
    if len(data) < size:
        raise EOFError("truncated answer")
    return pickle.loads(data)


def _grade_in_child(func: str, args: tuple[Any, ...], memory_mb: int, out_fd: int) -> None:
    """In the forked child: cap the address space, run grading.<func>(*args), write the outcome."""
    limit = int(memory_mb) * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass
    try:
        from dojo_nb.tasks import grading

        outcome: tuple[str, Any] = ("ok", getattr(grading, func)(*args))
    except MemoryError:
        outcome = ("memory", None)
    except BaseException as exc:  # noqa: BLE001 - reported by the driver as a message
        outcome = ("error", f"{type(exc).__name__}: {str(exc)[:500]}")
    try:
        data = pickle.dumps(outcome)
    except MemoryError:
        data = pickle.dumps(("memory", None))
    with os.fdopen(out_fd, "wb") as fh:
        fh.write(data)


def _serve_one(func: str, args: tuple[Any, ...], time_s: float, memory_mb: int) -> tuple[str, Any]:
    """In the helper: fork a child for one grading, wait at most time_s, kill it if it is late."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        code = 0
        try:
            _grade_in_child(func, args, memory_mb, write_fd)
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + time_s
    timed_out = False
    with os.fdopen(read_fd, "rb", buffering=0) as fh:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fh], [], [], left)[0]:
                timed_out = True
                break
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return ("time", None)
    if chunks:
        try:
            return pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001 - a child killed mid-write
            pass
    return ("died", os.waitstatus_to_exitcode(status))


def _warm_up() -> None:
    """Import grading and pay its first-call costs once here (pandas' CSV parser, sklearn's
    dataframe checks look up plugins on first use: ~30 ms), so every forked child starts warm."""
    try:
        import io

        import pandas as pd
        from sklearn import metrics as skm

        from dojo_nb.tasks import grading  # noqa: F401

        frame = pd.read_csv(io.StringIO("id,a,b\n1,0.2,0.8\n2,0.6,0.4\n"), dtype=str)
        truth = pd.Series(["b", "a"])
        probs = frame[["a", "b"]].astype(float)
        skm.log_loss(truth, probs, labels=["a", "b"])
        skm.accuracy_score(truth, pd.Series(["b", "b"]))
        skm.mean_squared_error(probs["a"], probs["b"])
    except Exception:  # noqa: BLE001 - only a speed-up
        pass


def _serve() -> None:
    """The helper's loop: one request, one forked child, one answer, until stdin closes."""
    _warm_up()
    gc.collect()
    gc.freeze()  # children must not copy every page just to walk the preloaded objects

    # The protocol gets its own descriptors: a grader that prints or reads cannot corrupt it.
    stdin = os.fdopen(os.dup(0), "rb")
    stdout = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    while True:
        try:
            func, args, time_s, memory_mb, environ = _read(stdin)
        except EOFError:
            return
        _apply_environ(environ)
        _write(stdout, _serve_one(func, args, time_s, memory_mb))


def run_limited(func: str, args: tuple[Any, ...], limits: GradeLimits | None = None) -> Any:
    """`dojo_nb.tasks.grading.<func>(*args)` in a limited child; raises GradingLimitExceeded."""
    limits = limits or GradeLimits.from_env()
    kind, value = _SERVER.call(func, args, limits)
    if kind == "ok":
        return value
    if kind == "time":
        raise GradingLimitExceeded(f"grading exceeded {limits.time_s:g} s and was stopped")
    if kind == "memory":
        raise GradingLimitExceeded(f"grading exceeded {limits.memory_mb:,} MB of memory and was stopped")
    if kind == "died":
        raise GradingLimitExceeded(_death_message(value, limits))
    raise GradingLimitExceeded(f"the grading process failed: {value}")


def _death_message(code: int | None, limits: GradeLimits) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return (f"the grading process was killed by {name} (it may have exceeded {limits.memory_mb:,} MB "
                "of memory)")
    return f"the grading process exited (code {code}) without a result (limit {limits.memory_mb:,} MB)"

