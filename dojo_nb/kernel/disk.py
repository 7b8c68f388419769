"""A disk budget for ``working/`` and ``submission/``: a size-capped file system per kernel.

Bind mounts carry no size, so a cell could fill the host's disk through ``working/``.
When the driver may mount (root, loop devices, ``mkfs.ext4``), each kernel gets a sparse
ext4 image of ``disk_mb`` (``nosuid,nodev``), and the episode's ``working/`` and
``submission/`` are bind mounts of two folders on it: the host sees every file live, the
kernel's writes stop at the budget with ``ENOSPC``, and the sandbox binds these folders as
before (bwrap and docker alike). When the kernel ends, the files are copied back into the
plain folders (links kept as links, set-id bits cleared, special files skipped) and the
image is deleted, so an episode folder looks the same with or without a budget.

A driver killed with its kernels leaves the mounts behind: `remove_stale` (run by
``dojo-nb kernel gc``) copies them back and unmounts them. Where mounting is impossible,
`unavailable_reason` says why and the budget is not enforced (the backend says so at start).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path


_SUBDIRS = ("working", "submission", "forks")  # forks/: the copies of forked kernels (`fork.py`)
_reason: str | None | bool = False


def disks_dir() -> Path:
    """Images and their mount points: one folder per machine and user, whatever cache a driver
    uses, so `remove_stale` finds every dead driver's disks; under /var/tmp, which is on disk
    by convention (a tmpfs /tmp would make the images cost memory). ``DOJO_NB_DISKS`` moves it."""
    folder = Path(os.environ.get("DOJO_NB_DISKS") or f"/var/tmp/dojo-nb-{os.getuid()}/disks")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def unavailable_reason() -> str | None:
    """None when this driver can give kernels a size-capped disk, else why not."""
    global _reason
    if _reason is not False:
        return _reason  # type: ignore[return-value]
    if os.environ.get("DOJO_NB_NO_DISK_LIMIT", "").strip() not in ("", "0", "false", "no"):
        _reason = "$DOJO_NB_NO_DISK_LIMIT is set"
    elif os.geteuid() != 0:
        _reason = "mounting a size-capped file system needs a root driver"
    elif not shutil.which("mkfs.ext4") or not shutil.which("mount"):
        _reason = "mkfs.ext4 or mount is missing (apt-get install e2fsprogs mount)"
    elif not os.path.exists("/dev/loop-control"):
        _reason = "this machine has no loop devices (/dev/loop-control)"
    else:
        _reason = None
    return _reason  # type: ignore[return-value]


def _run(*argv: str) -> None:
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise OSError(f"{' '.join(argv[:2])} failed: {(res.stderr or res.stdout).strip()[-300:]}")


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts() -> list[list[str]]:
    """/proc/self/mountinfo, one list of unescaped fields per mount."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        return [[_unescape(f) for f in line.split()] for line in fh]


def _mounted(path: Path) -> bool:
    target = os.path.realpath(path)
    return any(len(m) > 4 and m[4] == target for m in _mounts())


@dataclass
class EpisodeDisk:
    """One kernel's capped disk: ``<disks>/<key>/image`` mounted at ``<disks>/<key>/fs``."""

    key: str
    size_mb: int
    uid: int
    gid: int

    @classmethod
    def new(cls, size_mb: int, uid: int, gid: int) -> EpisodeDisk:
        return cls(key=f"{os.getpid()}-{uuid.uuid4().hex[:10]}", size_mb=int(size_mb), uid=uid, gid=gid)

    @property
    def folder(self) -> Path:
        return disks_dir() / self.key

    @property
    def image(self) -> Path:
        return self.folder / "image"

    @property
    def fs(self) -> Path:
        return self.folder / "fs"

    def attach(self, working: Path, submission: Path, forks: Path | None = None) -> None:
        """Make the image, move what the folders hold onto it, bind its folders over them
        (`forks`, when given, too: forked kernels' files count against the same budget)."""
        if _mounted(working) or _mounted(submission):  # a killed driver's disk (a resumed episode)
            remove_stale()
        self.fs.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as fh:
            fh.truncate(self.size_mb * 1024 * 1024)
        _run("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
             "-E", f"root_owner={self.uid}:{self.gid}", str(self.image))
        _run("mount", "-o", "loop,nosuid,nodev", str(self.image), str(self.fs))
        with contextlib.suppress(FileNotFoundError):
            (self.fs / "lost+found").rmdir()
        try:
            for name, host in zip(_SUBDIRS, (working, submission, forks)):
                if host is None:
                    continue
                host.mkdir(exist_ok=True)
                inside = self.fs / name
                inside.mkdir(exist_ok=True)
                copy_tree(host, inside, self.uid, self.gid)  # e.g. a resumed episode's files
                # forks/ is the driver's: it makes each fork's folder there (`fork.py`)
                os.chown(inside, *((0, 0) if name == "forks" else (self.uid, self.gid)))
                os.chmod(inside, 0o755)
                _run("mount", "--bind", str(inside), str(host))
                _run("mount", "-o", "remount,bind,nosuid,nodev", str(host))
        except BaseException:
            self.detach(working, submission, forks, copy_back=False)
            raise

    def detach(self, working: Path, submission: Path, forks: Path | None = None, *, copy_back: bool = True) -> None:
        """Unbind the folders, copy the files back into them, unmount and delete the image."""
        for name, host in zip(_SUBDIRS, (working, submission, forks)):
            if host is None:
                continue
            while host.exists() and _mounted(host):
                _umount(host)
            if copy_back and (self.fs / name).is_dir() and _mounted(self.fs):
                host.mkdir(parents=True, exist_ok=True)
                _clear(host)
                copy_tree(self.fs / name, host, self.uid, self.gid)
        while self.fs.exists() and _mounted(self.fs):
            _umount(self.fs)
        shutil.rmtree(self.folder, ignore_errors=True)

    def used_mb(self) -> float:
        st = os.statvfs(self.fs)
        return (st.f_blocks - st.f_bfree) * st.f_frsize / 2**20


def _umount(path: Path) -> None:
    """Lazily unmount `path`; one that another process (a second gc) unmounted first is fine."""
    try:
        _run("umount", "-l", str(path))
    except OSError:
        if _mounted(path):
            raise


def _clear(folder: Path) -> None:
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def copy_tree(src: Path, dst: Path, uid: int, gid: int) -> None:
    """Copy hostile files safely: links stay links, no set-id bits, no devices/fifos/sockets."""
    for entry in os.scandir(src):
        target = os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            with contextlib.suppress(OSError):
                os.symlink(os.readlink(entry.path), target)
                os.lchown(target, uid, gid)
        elif stat.S_ISDIR(st.st_mode):
            os.makedirs(target, exist_ok=True)
            copy_tree(Path(entry.path), Path(target), uid, gid)
            os.chmod(target, stat.S_IMODE(st.st_mode) & 0o777)
            os.chown(target, uid, gid)
        elif stat.S_ISREG(st.st_mode):
            fd_in = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                fd_out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                try:
                    while chunk := os.read(fd_in, 1 << 20):
                        os.write(fd_out, chunk)
                    os.fchmod(fd_out, stat.S_IMODE(st.st_mode) & 0o777)
                    os.fchown(fd_out, uid, gid)
                finally:
                    os.close(fd_out)
            finally:
                os.close(fd_in)


def remove_stale() -> list[str]:
    """Detach the disks of drivers that are gone (their mounts outlive them); return the keys."""
    import psutil

    removed: list[str] = []
    folder = disks_dir()
    mounts = _mounts()
    for entry in sorted(folder.iterdir()):
        pid_text = entry.name.split("-", 1)[0]
        if pid_text.isdigit() and psutil.pid_exists(int(pid_text)):
            continue
        fs_root = os.path.realpath(entry / "fs")
        st = os.stat(entry) if entry.exists() else None
        disk = EpisodeDisk(key=entry.name, size_mb=0, uid=st.st_uid if st else 0, gid=st.st_gid if st else 0)
        # Which host folders are bound from this disk: same device, root inside the image.
        fs_dev = next((m[2] for m in mounts if m[4] == fs_root), None)
        bound = {m[3].strip("/"): Path(m[4]) for m in mounts if fs_dev and m[2] == fs_dev and m[4] != fs_root}
        owner = (entry / "fs" / "working")
        uid = gid = 0
        with contextlib.suppress(OSError):
            ost = owner.stat()
            uid, gid = ost.st_uid, ost.st_gid
        disk.uid, disk.gid = uid, gid
        for inside, host in bound.items():  # a fork's folders, bound onto its own episode's (`fork.py`)
            if inside.startswith("forks/") and (entry / "fs" / inside).is_dir():
                while _mounted(host):
                    _umount(host)
                _clear(host)
                copy_tree(entry / "fs" / inside, host, uid, gid)
        disk.detach(bound.get("working", entry / "_w"), bound.get("submission", entry / "_s"), bound.get("forks"))
        removed.append(entry.name)
    return removed
