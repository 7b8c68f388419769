"""The bubblewrap command line that confines a local kernel.

Inside, the kernel sees: the system's /usr (and the /lib, /bin symlinks), a few files
of /etc that programs need to start, the Python installation read-only, the episode at
``/episode/{input,working,submission}`` (input read-only), a private size-capped /tmp and
/dev/shm, its own /proc with /proc/sys read-only, its own /dev, and the kernel's socket
folder (bound at the same path as on the host, so the connection file's ipc addresses are
valid on both sides). Every mount is nosuid,nodev. No network: every namespace but the
user one is unshared, so even loopback is the sandbox's own. Nothing else of the host
file system exists for it. Under a root driver the kernel runs as an unprivileged uid of
`dojo_nb.kernel.users`, never as root.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
import sysconfig
import warnings
from pathlib import Path

from dojo_nb.kernel.spec import EPISODE_MOUNT, SandboxSpec
from dojo_nb.kernel.users import SandboxUser


#: Set to 1 to run local kernels without bubblewrap (tests of the weaker path, or machines
#: where user namespaces are forbidden).
NO_BWRAP_ENV = "DOJO_NB_NO_BWRAP"

_ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
    "/etc/localtime", "/etc/timezone", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
    "/etc/hosts", "/etc/mime.types", "/etc/fonts", "/etc/ssl/certs",
)
_TOP_LEVEL = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin")
_warned = False


class SandboxWarning(UserWarning):
    """The local sandbox is weaker than intended (no bubblewrap)."""


def bwrap_path() -> str | None:
    """The bwrap executable to use, or None when missing or disabled by $DOJO_NB_NO_BWRAP."""
    if os.environ.get(NO_BWRAP_ENV, "").strip() not in ("", "0", "false", "no"):
        return None
    return shutil.which("bwrap")


def no_bwrap_reason() -> str:
    """Why local kernels go without bubblewrap (only meaningful when `bwrap_path` is None)."""
    return f"${NO_BWRAP_ENV} is set" if os.environ.get(NO_BWRAP_ENV) else "bwrap is not installed"


def say(msg: str, stacklevel: int = 3) -> None:
    """Warn through Python's warnings only (filterable, testable); the CLI prints them as one
    plain line. Logging the same text too is what printed it twice."""
    warnings.warn(msg, SandboxWarning, stacklevel=stacklevel + 1)


def warn_no_bwrap() -> None:
    """Say once per process, clearly, that kernels run without file-system or network isolation."""
    global _warned
    if _warned:
        return
    _warned = True
    say(f"dojo-nb: {no_bwrap_reason()}, so local kernels run WITHOUT a sandbox: they can read any file "
        "this user can and use the network; only process limits apply. Install bubblewrap "
        "(Debian/Ubuntu: apt-get install bubblewrap) for the isolated local sandbox.")


def python_dirs() -> list[str]:
    """Folders the kernel's Python needs: prefixes, stdlib, site-packages (deduplicated)."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths = sysconfig.get_paths()
    candidates.update(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    candidates.update(p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p)
    if site.ENABLE_USER_SITE:
        candidates.add(site.getusersitepackages())
    executable = os.path.realpath(sys.executable)
    candidates.add(os.path.dirname(executable))
    existing = sorted({os.path.realpath(c) for c in candidates if c and os.path.isdir(c)})
    # Drop folders already inside another one in the list.
    kept: list[str] = []
    for path in existing:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def hidden_paths() -> list[str]:
    """What of dojo-nb itself a kernel must never see: the package (task code, seeds), the
    task catalogue, the caches (prepared answers) and the kernel sources. Masked wherever
    they sit inside a bound folder (a wheel install puts them in site-packages)."""
    import glob

    from dojo_nb import paths

    package = Path(__file__).resolve().parent.parent
    found = {str(package), str(paths.catalogue_dir().resolve()), str(paths.kernels_dir().resolve()),
             str(paths.cache_dir().resolve())}
    # Every site folder the kernel's Python has: an older install may sit beside an editable one.
    site_dirs = {str(package.parent)} | {p for p in sys.path if p and "-packages" in p and os.path.isdir(p)}
    for site_dir in site_dirs:
        found.update(glob.glob(os.path.join(site_dir, "dojo_nb")))
        found.update(glob.glob(os.path.join(site_dir, "dojo_nb-*.dist-info")))
        found.update(glob.glob(os.path.join(site_dir, "dojo_nb-*.egg-info")))
        found.update(glob.glob(os.path.join(site_dir, "__editable__*dojo_nb*")))
        found.update(glob.glob(os.path.join(site_dir, "_editable_impl_dojo_nb*")))
    return sorted(p for p in found if os.path.exists(p))


def _ancestors(path: str) -> list[str]:
    """``/a``, ``/a/b`` for ``/a/b/c``: folders bwrap would otherwise create as 0700."""
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


class _Argv:
    """The growing bwrap command line; makes readable (0755) parents for every mount point."""

    def __init__(self, head: list[str]) -> None:
        self.argv = list(head)
        self.made: set[str] = {"/"}

    def parents(self, dest: str) -> None:
        for folder in _ancestors(dest):
            if folder not in self.made:
                self.argv += ["--perms", "0755", "--dir", folder]
                self.made.add(folder)

    def mount(self, kind: str, src: str, dest: str) -> None:
        self.parents(dest)
        self.argv += [kind, src, dest]
        self.made.add(dest)

    def tmpfs(self, dest: str, size_mb: int | None, perms: str = "1777") -> None:
        self.parents(dest)
        self.argv += ["--perms", perms]
        if size_mb:
            self.argv += ["--size", str(int(size_mb) * 1024 * 1024)]
        self.argv += ["--tmpfs", dest]
        self.made.add(dest)


def setpriv_path() -> str | None:
    """util-linux's setpriv, which drops a root sandbox to its uid (always on Debian/Ubuntu)."""
    return shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


def episode_binds(spec: SandboxSpec) -> list[tuple[Path, str, bool]]:
    """The episode's folders as a kernel sees them: (host folder, mount point, read-only). One
    list for a cold kernel's bwrap and a template-spawned kernel's own mounts."""
    mounted = SandboxSpec.mounted_paths()
    binds = [(spec.input_dir, mounted.input_dir, True), (spec.working_dir, mounted.working_dir, False),
             (spec.submission_dir, mounted.submission_dir, False)]
    if (spec.root / "forks").is_dir():  # forked kernels' own folders (`dojo_nb.kernel.fork`)
        binds.append((spec.root / "forks", f"{EPISODE_MOUNT}/forks", False))
    return binds


def bwrap_argv(bwrap: str, spec: SandboxSpec, socket_dir: Path, user: SandboxUser | None = None,
               etc_files: dict[str, Path] | None = None, template: bool = False) -> list[str]:
    """The bwrap prefix for a kernel command; the kernel's env is set by the caller (--clearenv).

    With `user` (a root driver) bwrap runs without a user namespace and keeps only the
    capabilities needed to switch user; setpriv then becomes `user` with no capabilities
    left (not even in the bounding set) and no_new_privs, before the kernel starts. Without
    it (a non-root driver) bwrap's own user namespace maps the kernel to the driver's user.
    `etc_files` replace files of /etc (the passwd and group files naming the sandbox user).

    `template` (a root driver): the sandbox of a template kernel (`dojo_nb.kernel.template`):
    no episode in it (empty mount points at ``/episode/...``), root with CAP_SYS_ADMIN kept
    besides the uid ones, because the template sets up each kernel's namespaces before that
    kernel drops to its uid; no cell ever runs with them.
    """
    if template or user is not None:
        head = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not spec.network:
            head.append("--unshare-net")
        head += ["--die-with-parent", "--new-session", "--cap-drop", "ALL",
                 "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        if template:
            head += ["--cap-add", "CAP_SYS_ADMIN"]
    else:
        head = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        if spec.network:
            head.append("--share-net")
    argv = _Argv(head)
    for top in _TOP_LEVEL:
        if os.path.islink(top):
            argv.argv += ["--symlink", os.readlink(top), top]
            argv.made.add(top)
        elif os.path.isdir(top):
            argv.mount("--ro-bind", top, top)
    etc_files = etc_files or {}
    for path in _ETC_FILES:
        if path in etc_files:
            argv.mount("--ro-bind", str(etc_files[path]), path)
        elif os.path.exists(path):
            argv.mount("--ro-bind", path, path)
    argv.argv += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]  # no host-wide settings
    argv.made.update({"/proc", "/proc/sys"})
    if os.path.isdir("/sys/devices/system/cpu"):  # CPU counts for BLAS and os.cpu_count()
        argv.mount("--ro-bind", "/sys/devices/system/cpu", "/sys/devices/system/cpu")
    argv.argv += ["--dev", "/dev"]
    argv.made.add("/dev")
    argv.tmpfs("/dev/shm", spec.tmp_mb)
    argv.tmpfs("/tmp", spec.tmp_mb)
    # After the /tmp tmpfs, or it would hide a Python (a venv) or socket folder under /tmp.
    for path in python_dirs():
        if user is not None and (os.stat(path).st_mode & 0o005) != 0o005:
            raise RuntimeError(f"the kernel's Python folder {path} is not readable by the sandbox's "
                               f"unprivileged user (mode {oct(os.stat(path).st_mode & 0o777)}): chmod o+rx it")
        argv.mount("--ro-bind", path, path)
    bound = python_dirs()
    for path in hidden_paths():
        if any(path == b or path.startswith(b.rstrip("/") + "/") for b in bound):
            if os.path.isdir(path):
                # an empty, unreadable, read-only folder
                argv.argv += ["--perms", "0000", "--tmpfs", path, "--remount-ro", path]
            else:
                argv.argv += ["--ro-bind", "/dev/null", path]
    if spec.gpus is not None:
        from dojo_nb.kernel import gpus

        argv.argv += gpus.bwrap_gpu_args(spec.gpus)
    argv.mount("--bind", str(socket_dir), str(socket_dir))
    mounted = SandboxSpec.mounted_paths()
    if template:  # each kernel binds its own episode here
        for path in (mounted.input_dir, mounted.working_dir, mounted.submission_dir, f"{EPISODE_MOUNT}/forks"):
            argv.parents(path)
            argv.argv += ["--perms", "0755", "--dir", path]
            argv.made.add(path)
        argv.argv += ["--chdir", "/", "--hostname", "dojo-template"]
        return argv.argv
    for src, dest, readonly in episode_binds(spec):
        argv.mount("--ro-bind" if readonly else "--bind", str(src), dest)
    argv.argv += ["--chdir", mounted.working_dir, "--hostname", "dojo"]
    assert mounted.working_dir.startswith(EPISODE_MOUNT)
    if user is not None:
        setpriv = setpriv_path()
        if setpriv is None:
            raise RuntimeError("setpriv (util-linux) is missing: a root driver cannot drop the kernel's uid")
        argv.argv += ["--", setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups",
                      "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all"]
    return argv.argv
