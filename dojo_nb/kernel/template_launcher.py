"""The template kernel's own program, run *inside* its sandbox (see `dojo_nb.kernel.template`).

Copied beside the kernel launcher in the template's socket folder and run by the sandbox's
Python, like the launcher: only the standard library, and the launcher itself (imported by its
copied name), whose supervisor and kernel every spawned kernel runs.
``python dojo_ipykernel_launcher_template.py CONTROL_FD MODULE...``
"""

import gc
import os
import signal
import sys
import threading

import dojo_ipykernel_launcher as launcher  # the copy beside this file (sys.path[0])

# ``python dojo_ipykernel_launcher_template.py CONTROL_FD MODULE...`` runs as root in a sandbox of its own (no
# episode in it, a few capabilities kept: see `dojo_nb.kernel.template`). It imports MODULE...
# (trusted code: no cell ever runs in it), says "ready" on the control socket, then serves spawn
# requests from the driver, one at a time. A spawn forks twice: the first child joins the
# episode's cgroups and unshares mount, pid, network, uts, ipc and cgroup namespaces; the second
# is the init of the new pid namespace. It mounts the episode's own /proc, /tmp, /dev/shm, its
# folders and socket folder (from file descriptors the driver sent), drops to the episode's uid
# with no capability left and no_new_privs, and becomes the kernel's supervisor (`launcher.supervise`).
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
    os._exit(launcher.supervise(req["argv"], pdeathsig=False))


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
    control, names = int(sys.argv[1]), sys.argv[2:]
    sys.exit(launcher.supervise([], main=lambda: run_template(control, names)))
