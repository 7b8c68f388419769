"""The task's public data put into an episode's (or a replay's) sandbox input folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Public-data folders at or above this size are hard-linked into the episode, not copied.
LINK_THRESHOLD_BYTES = 64 * 1024 * 1024


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def populate_input(public_dir: Path, input_dir: Path) -> str:
    """Copy the public data (every file, sub-folders too) into `input_dir`; hard-link it when large.

    `input_dir` is emptied, never replaced: a warm kernel has this very folder bind-mounted
    already. Returns how it was done: "copy" or "hardlink".
    """
    input_dir.mkdir(parents=True, exist_ok=True)
    for child in input_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    how = "copy"
    copy_fn = shutil.copy2
    if folder_size(public_dir) >= LINK_THRESHOLD_BYTES:
        how = "hardlink"

        def copy_fn(src: str, dst: str) -> None:  # type: ignore[misc]
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

    shutil.copytree(public_dir, input_dir, copy_function=copy_fn, dirs_exist_ok=True)
    return how
