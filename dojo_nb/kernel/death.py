"""Why a kernel ended, in words for the agent: its exit code or signal, and the limit it met."""

from __future__ import annotations

import signal
from typing import Any


async def death_note(km: Any) -> str:
    """`` (exit code 3)``, `` (killed by signal SIGKILL): the sandbox's memory limit ...``, or ``""``."""
    note = await _exit_note(km)
    limit = getattr(getattr(km, "provisioner", None), "limit_note", lambda: None)()
    return f"{note}: {limit}" if limit else note


async def _exit_note(km: Any) -> str:
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if getattr(provisioner, "exit_code_unknown", False) or getattr(process, "exit_code_unknown", False):
        return ""  # a fork or a spawned kernel: not our child, so how it ended is not known here
    code = getattr(process, "returncode", None)
    if code is None and provisioner is not None:
        try:
            code = await provisioner.poll()
        except Exception:  # noqa: BLE001
            code = None
    if code is None:
        return ""
    if code < 0:
        try:
            return f" (killed by signal {signal.Signals(-code).name})"
        except ValueError:
            return f" (killed by signal {-code})"
    return f" (exit code {code})"
