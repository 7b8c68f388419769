"""The structured result of running one cell (the contract in docs/interfaces.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "error", "timeout", "crashed"]


@dataclass
class ExecutionResult:
    """What one `execute` produced, for agents (``text``) and for notebooks (``outputs``).

    `kernel_restarted` is True when the cell ended with a fresh kernel (all variables lost);
    `message` is one sentence for people and agents when something unusual happened.
    """

    status: Status
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    text: str = ""
    elapsed_s: float = 0.0
    execution_count: int | None = None
    kernel_restarted: bool = False
    message: str | None = None
    #: text/plain of each expression asked with the cell (`execute(..., expressions=)`), evaluated
    #: by the kernel right after a cell that succeeded; absent after an error (not in to_dict).
    expressions: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (nbformat nodes become plain dicts)."""
        return json.loads(
            json.dumps(
                {
                    "status": self.status,
                    "outputs": self.outputs,
                    "error": self.error,
                    "text": self.text,
                    "elapsed_s": self.elapsed_s,
                    "execution_count": self.execution_count,
                    "kernel_restarted": self.kernel_restarted,
                    "message": self.message,
                }
            )
        )
