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


# --- the template: imports once, spawns sandboxed kernels that share its memory -----------------
#
# ``python launcher.py template CONTROL_FD MODULE...`` runs as root in a sandbox of its own (no
# episode in it, a few capabilities kept: see `dojo_nb.kernel.template`). It imports MODULE...
# (trusted code: no cell ever runs in it), says "ready" on the control socket, then serves spawn
# requests from the driver, one at a time. A spawn forks twice: the first child joins the
# episode's cgroups and unshares mount, pid, network, uts, ipc and cgroup namespaces; the second
# is the init of the new pid namespace. It mounts the episode's own /proc, /tmp, /dev/shm, its
# folders and socket folder (from file descriptors the driver sent), drops to the episode's uid
# with no capability left and no_new_privs, and becomes the kernel's supervisor (`supervise`).
# The kernel it starts finds the template's modules already imported, in copy-on-write memory.

CLONE = {"mnt": 0x00020000, "uts": 0x04000000, "ipc": 0x08000000, "net": 0x40000000,
         "pid": 0x20000000, "cgroup": 0x02000000}
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 4, 24, 38, 47, 4


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src, dst, fstype=None, flags=0, data=None):
    enc = (lambda x: None if x is None else os.fsencode(x))
    _check(_libc().mount(enc(src), enc(dst), enc(fstype), flags, enc(data)), f"mount {dst}")


def _attach(tree_fd, dst, readonly=False):
    """Attach a detached mount the driver cloned (open_tree) at `dst`, nosuid, nodev (and ro)."""
    _check(_libc().syscall(429, tree_fd, b"", -100, os.fsencode(dst), 4), f"move_mount {dst}")  # F_EMPTY_PATH
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (MS_RDONLY if readonly else 0)
    _mount(None, dst, None, flags)


def _bind(src, dst, readonly=False):
    _mount(src, dst, None, MS_BIND)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (MS_RDONLY if readonly else 0)
    _mount(None, dst, None, flags)


def _drop_privileges(uid, gid):
    """Root with a few capabilities -> `uid` with none, none to regain (bounding set empty, no_new_privs)."""
    libc = _libc()
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # clears the permitted and effective sets (no keep-caps)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _clear_inheritable()
    # setuid made it undumpable; a cold kernel (exec'd by setpriv) is dumpable: /proc/<pid> of its
    # own processes is readable by its own uid. The same here (nothing secret is in its memory).
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    with open("/proc/self/status") as fh:
        caps = {k: v.strip() for k, v in (line.split(":", 1) for line in fh if line.startswith("Cap"))}
    if any(int(v, 16) for v in caps.values()) or os.getuid() == 0 or os.geteuid() == 0:
        raise RuntimeError(f"privileges not dropped: uid {os.getuid()}, {caps}")


def _clear_inheritable():
    """capset(2) with every set empty (no libcap in a sandbox): the inheritable set goes too."""
    import ctypes
    import platform

    number = {"x86_64": 126, "aarch64": 91}.get(platform.machine())
    if number is None:
        return

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    _libc().syscall(number, ctypes.byref(header), ctypes.byref(data))


def _enter_episode(req, fds):
    """In the new namespaces, as their init: the episode's mounts, limits, uid; then its kernel."""
    import resource
    import socket

    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # The template's own /proc, /tmp, /dev/shm, ptys and socket folder go (not just covered): the
    # kernel's mount table is then a cold kernel's.
    own = os.path.dirname(os.path.abspath(__file__))
    for old in (own, "/tmp", "/dev/shm", "/dev/pts", "/proc"):
        _libc().umount2(os.fsencode(old), 2)  # MNT_DETACH; one already gone is fine
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # this pid namespace's own
    for name in ("sys", "sysrq-trigger", "irq", "bus"):  # read-only, as bwrap leaves a cold kernel's
        if os.path.exists(f"/proc/{name}"):
            _bind(f"/proc/{name}", f"/proc/{name}", readonly=True)
    for where in ("/tmp", "/dev/shm"):  # never the template's
        size = f",size={int(req['tmp_mb']) * 1024 * 1024}" if req.get("tmp_mb") else ""
        _mount("tmpfs", where, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" + size)
    # Its own pty instance (a cold kernel's bwrap makes one): no other kernel's ptys listed.
    _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    # The driver's runtime folder as an empty tmpfs: the template's socket folder (and, were it
    # on the template's root, any other kernel's mount point) is not there; only this kernel's.
    runtime = os.path.dirname(os.path.dirname(req["socket_dir"]))
    os.makedirs(runtime, mode=0o755, exist_ok=True)
    _mount("tmpfs", runtime, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1048576")
    for index, target, readonly in req["mounts"]:
        if target == req["socket_dir"]:
            os.makedirs(target, mode=0o755, exist_ok=True)
        elif target.startswith("/etc/"):
            _libc().umount2(os.fsencode(target), 2)  # the template's copy (the host's) goes first
        _attach(fds[index], target, readonly=readonly)
    socket.sethostname("dojo")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if req.get("memory_mb"):
        limit = int(req["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    if req.get("pids"):
        resource.setrlimit(resource.RLIMIT_NPROC, (int(req["pids"]), int(req["pids"])))
    if req.get("cpus"):
        os.sched_setaffinity(0, set(req["cpus"]))
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    _drop_privileges(int(req["uid"]), int(req["gid"]))


def _spawn(req, fds, report):
    """The first child: cgroups, namespaces, then the episode's init (which reports on `report`)."""
    for index in req.get("cgroups", []):
        os.write(fds[index], b"0")  # "0" is the writing process: its children are counted there
    kinds = ["mnt", "pid", "uts", "ipc", "cgroup"] + ([] if req.get("network") else ["net"])
    flags = 0
    for kind in kinds:
        flags |= CLONE[kind]
    _check(_libc().unshare(flags), "unshare")
    init = os.fork()
    if init:
        os.write(report, f"pid {init}\n".encode())
        os._exit(0)
    try:
        _enter_episode(req, fds)
        log = fds[req["log"]]
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.write(report, b"ok\n")
        os.closerange(3, 65536)
    except BaseException as exc:  # noqa: BLE001 - said to the driver, then this init ends
        os.write(report, f"error {type(exc).__name__}: {exc}\n".encode())
        os._exit(1)
    os._exit(supervise(req["argv"], pdeathsig=False))


def _serve_spawns(control):
    """Each request: fork, wait for the new init's word, answer the driver; until EOF."""
    import json
    import select
    import socket
    import time

    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 64)
        except OSError:
            return 0
        if not data:
            return 0
        try:
            req = json.loads(data)
            read, write = os.pipe()
            child = os.fork()
            if child == 0:
                os.close(read)
                control.close()
                try:
                    _spawn(req, fds, write)
                except BaseException as exc:  # noqa: BLE001
                    os.write(write, f"error {type(exc).__name__}: {exc}\n".encode())
                os._exit(1)
            os.close(write)
            words, deadline = b"", time.monotonic() + 30
            while True:  # until both children closed the pipe (the init after its set-up), or 30 s
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read], [], [], left)[0]:
                    break
                chunk = os.read(read, 4096)
                if not chunk:
                    break
                words += chunk
            os.close(read)
            os.waitpid(child, 0)
            lines = words.decode(errors="replace").split("\n")
            pid = next((int(x.split()[1]) for x in lines if x.startswith("pid ")), None)
            error = next((x[6:] for x in lines if x.startswith("error ")), None)
            if pid and "ok" in lines and not error:
                answer = {"pid": pid}
            else:
                if pid:  # an init stuck in its set-up goes, with its namespace
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                answer = {"error": error or f"the kernel's sandbox did not start in 30 s ({words!r})"}
        except Exception as exc:  # noqa: BLE001 - a bad request is answered, the template lives on
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        control.sendall(json.dumps(answer).encode())


def run_template(control_fd, modules):
    """Import `modules` (and the kernel's own), say so, then serve spawns (see the section above)."""
    import importlib
    import json
    import socket
    import time

    control = socket.socket(fileno=control_fd)
    sys.modules["_dojo_fork"] = sys.modules[__name__]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p not in ("", here)]
    t0 = time.monotonic()
    failed = {}
    own = ["ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython",
           "IPython.core.completerlib", "tornado.gen", "tornado.queues", "tornado.platform.asyncio"]
    for name in [*own, *modules]:  # the kernel's own first: what every kernel imports as it starts
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a missing module is said, not fatal
            failed[name] = f"{type(exc).__name__}: {exc}"
    gc.collect()
    gc.freeze()  # what is imported stays out of the children's collections: their pages stay shared
    threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    control.sendall(json.dumps({"ready": True, "seconds": round(time.monotonic() - t0, 3),
                                "failed": failed, "threads": threads}).encode())
    if threads:  # a thread would be missing in every kernel: refuse to spawn at all
        return 1
    return _serve_spawns(control)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "supervise":
        sys.exit(supervise(args[1:]))
    if args and args[0] == "template":
        fd, names = int(args[1]), args[2:]
        sys.exit(supervise([], main=lambda: run_template(fd, names)))
    sys.exit(run_kernel(args))
