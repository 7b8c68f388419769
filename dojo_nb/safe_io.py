"""Opening files in an episode folder without following links.

An episode folder may have been crafted (by an agent, or handed over by someone else): a
symlink at ``summary.json`` or ``submissions/`` must not make the driver read or write a
file elsewhere. So every path here is relative to an episode root and is walked one
component at a time from a directory fd with ``O_NOFOLLOW``: a link anywhere under the
root is refused with `UnsafePathError`, and there is no window between a check and the
open for a swap. New files are written under a fresh random name (``O_CREAT|O_EXCL``) in
the same folder and renamed over the target, so an existing link there is replaced, never
written through. The root itself is taken as given (the caller named it).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


class UnsafePathError(PermissionError):
    """A path under an episode folder is a link, leaves the folder, or is not what it must be."""


def _parts(rel: str | os.PathLike[str]) -> list[str]:
    """The components of `rel`, which must stay inside the root (no absolute path, no '..')."""
    text = os.fspath(rel)
    p = PurePosixPath(text)
    if p.is_absolute():
        raise UnsafePathError(f"{text!r} is an absolute path; only paths inside the episode folder are allowed")
    parts = [x for x in p.parts if x not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError(f"{text!r} leaves the episode folder ('..'); refused")
    return parts


def relative_to_root(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """`path` (absolute under `root`, or relative to it) as a path relative to `root`."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    base = Path(root).expanduser().resolve()
    try:
        return p.relative_to(base).as_posix()
    except ValueError:
        raise UnsafePathError(f"{p} is not inside the episode folder {base}; refused") from None


def _refuse(root: Path, shown: str, why: str) -> UnsafePathError:
    return UnsafePathError(f"{root / shown} {why}; dojo-nb does not follow links in an episode folder "
                           "(it may have been crafted): refused, nothing was read or written there")


@contextmanager
def open_dir(root: str | os.PathLike[str], rel: str | os.PathLike[str] = "", *,
             create: bool = False) -> Iterator[int]:
    """A directory fd for `root/rel`, every component checked not to be a link (made if `create`)."""
    base = Path(root).expanduser().resolve()
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        done: list[str] = []
        for name in _parts(rel):
            done.append(name)
            if create:
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    why = "is a symlink" if _is_link(fd, name) else "is not a folder"
                    raise _refuse(base, "/".join(done), why) from None
                raise
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def _split(rel: str | os.PathLike[str]) -> tuple[str, str]:
    parts = _parts(rel)
    if not parts:
        raise UnsafePathError("a file name is needed, not the episode folder itself")
    return "/".join(parts[:-1]), parts[-1]


def kind(root: str | os.PathLike[str], rel: str | os.PathLike[str]) -> str | None:
    """What is at `root/rel` without following it: "file", "dir", "link", "other" or None (nothing).

    A link among the parent folders raises `UnsafePathError`; a missing parent gives None.
    """
    folder, name = _split(rel)
    try:
        with open_dir(root, folder) as fd:
            st = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return None
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "other"


def check(root: str | os.PathLike[str], rel: str | os.PathLike[str], *, want: str | None = None) -> Path:
    """`root/rel` after checking that neither it nor a folder on the way is a link.

    With `want` ("file" or "dir") it must also exist and be that. For APIs that take a path
    (a grader): the episode folder is not visible to the kernel, so nobody swaps it after.
    """
    got = kind(root, rel)
    base = Path(root).expanduser().resolve()
    shown = "/".join(_parts(rel))
    if got == "link":
        raise _refuse(base, shown, "is a symlink")
    if want is not None and got != want:
        raise _refuse(base, shown, "is missing" if got is None else f"is not a {want}")
    return base / shown


@contextmanager
def open_read(root: str | os.PathLike[str], rel: str | os.PathLike[str]) -> Iterator[Any]:
    """A binary file object for reading the regular file `root/rel` (no link on the way)."""
    folder, name = _split(rel)
    with open_dir(root, folder) as dfd:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse(Path(root).expanduser().resolve(), "/".join(_parts(rel)), "is a symlink") from None
            raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a fifo or a device would block or never end
            raise _refuse(Path(root).expanduser().resolve(), "/".join(_parts(rel)), "is not a regular file")
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def read_bytes(root: str | os.PathLike[str], rel: str | os.PathLike[str]) -> bytes:
    with open_read(root, rel) as fh:
        return fh.read()


def read_text(root: str | os.PathLike[str], rel: str | os.PathLike[str]) -> str:
    return read_bytes(root, rel).decode("utf-8")


def read_json(root: str | os.PathLike[str], rel: str | os.PathLike[str]) -> Any:
    return json.loads(read_text(root, rel))


@contextmanager
def open_fresh(root: str | os.PathLike[str], rel: str | os.PathLike[str], *, mkdirs: bool = True) -> Iterator[Any]:
    """A binary file object whose contents replace `root/rel` when the block ends without error.

    It is a new file under a random name in the same folder (``O_CREAT|O_EXCL|O_NOFOLLOW``),
    renamed over the target at the end: a link at the target is replaced, not followed; an
    error leaves the old file and no temporary one.
    """
    folder, name = _split(rel)
    with open_dir(root, folder, create=mkdirs) as dfd:
        tmp = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                if os.environ.get("DOJO_NB_FSYNC"):
                    fh.flush()
                    os.fsync(fh.fileno())
            if _is_dir(dfd, name):
                raise _refuse(Path(root).expanduser().resolve(), "/".join(_parts(rel)), "is a folder, not a file")
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise


def _is_dir(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def write_bytes(root: str | os.PathLike[str], rel: str | os.PathLike[str], data: bytes) -> Path:
    """Replace `root/rel` with `data` (a fresh file; see `open_fresh`)."""
    with open_fresh(root, rel) as fh:
        fh.write(data)
    return Path(root).expanduser().resolve() / "/".join(_parts(rel))


def write_text(root: str | os.PathLike[str], rel: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(root, rel, text.encode("utf-8", errors="backslashreplace"))


def append_text(root: str | os.PathLike[str], rel: str | os.PathLike[str], text: str) -> None:
    """Append `text` to the regular file `root/rel` (made if missing), no link followed.

    For logs written as an episode runs (one JSON line per event): appending keeps each
    write small, where `write_text` would rewrite the whole file every time."""
    folder, name = _split(rel)
    with open_dir(root, folder, create=True) as dfd:
        try:
            fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                         0o644, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse(Path(root).expanduser().resolve(), "/".join(_parts(rel)), "is a symlink") from None
            raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refuse(Path(root).expanduser().resolve(), "/".join(_parts(rel)), "is not a regular file")
        os.set_blocking(fd, True)
        data = text.encode("utf-8", errors="backslashreplace")
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def copy_file(src_root: str | os.PathLike[str], src_rel: str | os.PathLike[str],
              dst_root: str | os.PathLike[str], dst_rel: str | os.PathLike[str]) -> Path:
    """Copy a regular file to a fresh file, no link followed at either end (streamed: it may be big)."""
    with open_read(src_root, src_rel) as src, open_fresh(dst_root, dst_rel) as dst:
        shutil.copyfileobj(src, dst, _CHUNK)
    return Path(dst_root).expanduser().resolve() / "/".join(_parts(dst_rel))


def make_dirs(root: str | os.PathLike[str], rel: str | os.PathLike[str]) -> Path:
    """Create `root/rel` (and the folders on the way), refusing links; the path made."""
    with open_dir(root, rel, create=True):
        pass
    return Path(root).expanduser().resolve() / "/".join(_parts(rel))


def remove(root: str | os.PathLike[str], rel: str | os.PathLike[str]) -> None:
    """Delete `root/rel`: a link or file is unlinked (its target untouched), a folder removed whole."""
    folder, name = _split(rel)
    with open_dir(root, folder) as dfd:
        try:
            st = os.lstat(name, dir_fd=dfd)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=dfd)  # fd-based on Linux: does not follow links inside
        else:
            os.unlink(name, dir_fd=dfd)


__all__ = ["UnsafePathError", "append_text", "check", "copy_file", "kind", "make_dirs", "open_dir", "open_fresh", "open_read",
           "read_bytes", "read_json", "read_text", "relative_to_root", "remove", "write_bytes", "write_text"]
