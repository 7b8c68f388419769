"""The kernel's own launcher, run *inside* the sandbox: a supervisor, an ipykernel, fork on request.

This file is copied next to the kernel's sockets and run by the sandbox's Python, so it
imports nothing of dojo-nb (the package is hidden from kernels) and only the standard
library and ipykernel. ``python launcher.py supervise -f CONNECTION ...`` does three jobs:

- **supervise**: the sandbox's main process. It becomes a *child subreaper* (orphaned
  processes of the sandbox are re-parented to it, not to the sandbox's init), starts the
  kernel as its child and lives until no kernel is left, so a forked kernel outlives the
  kernel it was forked from (bwrap's pid namespace and a container both end with their
  main process).
- **kernel**: ``IPKernelApp`` as ``ipykernel_launcher`` would run it.
- **fork**: a silent execute of ``__import__('_dojo_fork').request_fork(CONN, CWD)`` checks
  what cannot survive a fork (`fork_problems`; an error lists them), then, from the main
  thread's event loop, ``os.fork()``s. The parent carries on. The child leaves the
  parent's event loop (an exception out of the callback, so no handler of the parent's
  runs in it), drops the parent's threads, sockets and streams without touching them
  (only the forking thread survives a fork; libzmq's are gone), and starts a fresh
  ``IPKernelApp`` on the new connection file around the *same* IPython shell: every
  variable, module and execution count is there, no cell is re-run.
"""

import asyncio
import atexit
import gc
import os
import shutil
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

#: Threads of these packages are the kernel's own (recreated in a fork child).
_OWN_THREADS = ("ipykernel", "IPython", "zmq", "jupyter_client", "tornado", "traitlets", "debugpy", "comm")
_KEEP = []  # the parent's app, loop and streams in a child: never collected, so never closed
_FORKS = set()  # this kernel's forks (its children until it dies): not a cell's processes


class _BecomeChild(SystemExit):
    """Raised in a fork child out of the parent's event loop (asyncio lets SystemExit through)."""


def _children(pid):
    """Live (not zombie) pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _prctl(option, value):
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def supervise(argv, main=None, pdeathsig=True):
    """The sandbox's main process: start the kernel (or `main`), reap every kernel, exit with the
    first's code. A kernel spawned from a template (`pdeathsig` False) is its own pid namespace's
    init: its parent is gone at once, and the template's sandbox ends it instead."""
    # A dead driver (or sandbox) sends SIGTERM: every kernel then goes (`stop`).
    if pdeathsig:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # without it, forks die with the sandbox's first kernel
    first = os.fork()
    if first == 0:
        os.setpgid(0, 0)  # the kernel's interrupts (killpg) reach its own cells only
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        sys.exit(main() if main is not None else run_kernel(argv))

    def stop(signum, _frame):
        todo = _children(os.getpid())
        while todo:  # every descendant: forks are the kernels' children until re-parented here
            pid = todo.pop()
            todo.extend(_children(pid))
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = 0
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == first:
            code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def run_kernel(argv):
    """IPKernelApp on `argv`; again on each fork child's own connection file, same shell."""
    sys.modules["_dojo_fork"] = sys.modules[__name__]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p not in ("", here)]
    from ipykernel.kernelapp import IPKernelApp

    shell = None
    while True:
        app = IPKernelApp.instance()
        app.initialize(argv)
        if shell is not None:
            _adopt(app, shell)
        try:
            app.start()
            return 0
        except _BecomeChild as child:
            conn, cwd = child.args[0]
            shell = _leave_parent(app)
            os.chdir(cwd)
            at = argv.index("-f")
            argv = argv[:at + 1] + [conn] + argv[at + 2:]


def _leave_parent(app):
    """In a fork child: forget the parent's app, threads, sockets and streams; keep the shell."""
    from ipykernel import ipkernel
    from ipykernel.kernelapp import IPKernelApp

    shell = app.shell
    atexit.unregister(app.close)  # it would stop the parent's threads and sockets
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        original = getattr(stream, "_original_stdstream_copy", None)
        if original is not None:  # fd 1/2 are the parent's capture pipes: back to the log
            os.dup2(original, fd)
        _KEEP.append(stream)
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    _KEEP.extend([app, app.kernel, asyncio.get_event_loop_policy().get_event_loop()])
    type(app.kernel).clear_instance()
    IPKernelApp.clear_instance()
    ipkernel._comm_manager = None  # the parent's comms are not the child's
    asyncio.set_event_loop(asyncio.new_event_loop())
    return shell


def _adopt(app, shell):
    """The new kernel drives the carried shell (its display hooks already point at the new session)."""
    shell.kernel = app.kernel
    shell.parent = app.kernel


def fork_problems(cwd=None):
    """What would not survive a fork here: one line each (empty: safe to fork)."""
    problems = []
    for thread in threading.enumerate():
        if thread is threading.main_thread():
            continue
        target = getattr(thread, "_target", None)
        where = (getattr(target, "__module__", None) if target is not None else type(thread).__module__) or ""
        if not where.startswith(_OWN_THREADS):
            problems.append(f"a thread started by a cell ({thread.name!r}) does not exist in a fork")
    import socket

    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.family in (socket.AF_INET, socket.AF_INET6) and obj.fileno() >= 0:
            problems.append(f"an open socket ({obj.family.name}) would be shared by both kernels")
            break
    torch = sys.modules.get("torch")
    if torch is not None and getattr(getattr(torch, "cuda", None), "is_initialized", lambda: False)():
        problems.append("a CUDA context (torch) cannot be used in a fork")
    for name in ("tensorflow", "jax", "cupy"):
        if name in sys.modules:
            problems.append(f"{name} is imported: its devices and threads do not survive a fork")
    watched = [os.path.realpath(d) for d in (cwd, os.environ.get("DOJO_WORKING_DIR"),
                                             os.environ.get("DOJO_SUBMISSION_DIR")) if d]
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if any(target == w or target.startswith(w + "/") for w in watched):
            problems.append(f"an open file in the episode's folders ({target}) would be shared by both kernels")
    for pid in list(_FORKS):  # reap the forks that ended
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                _FORKS.discard(pid)
        except ChildProcessError:
            _FORKS.discard(pid)
    kids = [k for k in _children(os.getpid()) if k not in _FORKS]
    if kids:
        problems.append(f"{len(kids)} child process(es) of the kernel (a pool?) belong to this kernel only")
    return list(dict.fromkeys(problems))


def _fork_now(conn, cwd):
    pid = os.fork()
    if pid == 0:
        os.setsid()  # its own session and process group: the parent's interrupts are not its
        _FORKS.clear()
        os.environ["DOJO_WORKING_DIR"] = cwd
        os.environ["DOJO_SUBMISSION_DIR"] = os.path.join(os.path.dirname(cwd), "submission")
        raise _BecomeChild((conn, cwd))
    _FORKS.add(pid)


def copy_tree(src, dst):
    """Copy the files a fork starts with, here, confined: folders, regular files and links (as links)."""
    os.makedirs(dst, exist_ok=True)
    for entry in os.scandir(src):
        target = os.path.join(dst, entry.name)
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir(follow_symlinks=False):
            copy_tree(entry.path, target)
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, target, follow_symlinks=False)
            shutil.copymode(entry.path, target, follow_symlinks=False)


def request_fork(conn, cwd, copies=(), force=False):
    """Called by the driver in a silent execute: refuse (RuntimeError), or copy the fork's files
    (`copies`: (from, to) folder pairs) and fork once this reply is on its way."""
    problems = [] if force else fork_problems(os.getcwd())
    if problems:
        raise RuntimeError("dojo-fork-refused: " + " | ".join(problems))
    for src, dst in copies:
        copy_tree(src, dst)
    asyncio.get_event_loop().call_soon(_fork_now, conn, cwd)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "supervise":
        sys.exit(supervise(args[1:]))
    sys.exit(run_kernel(args))
