"""The per-installation secret that seeds every built-in task's generated rows.

It lives in the driver's cache (never mounted into a sandbox), so knowing prepare.py and
guessing seeds 0, 1 or 42 does not rebuild a task's hidden answers.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from dojo_nb.paths import cache_dir

SECRET_NAME = "task-secret.key"


def secret_path() -> Path:
    return cache_dir() / SECRET_NAME


def installation_secret() -> bytes:
    """Read the secret, creating it once (O_EXCL: parallel first callers agree on one)."""
    path = secret_path()
    if not path.is_file():
        data = secrets.token_hex(32).encode()
        tmp = path.with_name(f".{SECRET_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    value = path.read_bytes().strip()
    if len(value) < 32:
        raise RuntimeError(f"{path}: the task secret is too short; delete it to make a new one")
    return value


def task_seed(task_id: str, version: str = "1") -> int:
    """A 63-bit seed for one task version, derived from the secret."""
    digest = hmac.new(installation_secret(), f"{task_id}@{version}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1
