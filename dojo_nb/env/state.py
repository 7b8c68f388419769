"""The episode state as one object, and the budgets it is measured against."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dojo_nb.env.progress import Progress
from dojo_nb.record.layout import EpisodeLayout

if TYPE_CHECKING:
    from dojo_nb.kernel import SyncKernelSession
    from dojo_nb.record.trajectory import Trajectory


@dataclass(frozen=True)
class Budgets:
    """What an episode may spend: steps, seconds in all, seconds per cell."""

    max_steps: int = 100
    cell_timeout_s: float = 600.0
    episode_timeout_s: float = 3600.0

    def to_dict(self) -> dict[str, Any]:
        """As ``metadata.dojo.budgets`` records them."""
        return {"max_steps": self.max_steps, "cell_timeout_s": self.cell_timeout_s,
                "episode_timeout_s": self.episode_timeout_s}


@dataclass
class Submission:
    """One graded submit, kept for the final rule."""

    step: int
    file: str
    valid: bool
    message: str
    public_score: float | None
    public_position_score: float | None
    report: dict[str, Any]  # full GradeReport dict, private fields included: never shown to the agent


@dataclass
class EpisodeState:
    """Everything one episode changes as it runs (a fresh one per reset or resume)."""

    episode_dir: Path | None = None
    trajectory: Trajectory | None = None
    session: SyncKernelSession | None = None
    kernel_paths: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    steps: int = 0
    t0: float = field(default_factory=time.monotonic)
    started_at: str = ""
    best: float = 0.0            # best public position score so far
    reward_sum: float = 0.0
    paid_position: float = 0.0   # position rewards paid so far (the rest comes at the end)
    terminal_reward: float = 0.0  # paid when the episode ends (see dojo_nb.env.rules)
    step_valid: bool = False     # this step validated or submitted a valid file
    step_gain: float = 0.0       # this step's public position gain
    progress: Progress = field(default_factory=Progress.new)
    #: The kernel's answers to progress.STEP_EXPRESSIONS, returned with this step's cell (None: ask).
    cell_expressions: dict[str, str] | None = None
    last_cell: int | None = None  # the cell of the step that ended the episode (it gets the terminal reward)
    last_step_reward: float = 0.0
    kernel_facts: dict[str, Any] = field(default_factory=dict)  # hardware and packages, as the kernel sees them
    submissions: list[Submission] = field(default_factory=list)
    final: dict[str, Any] | None = None
    terminated: bool = False
    truncated: bool = False
    end_reason: str | None = None
    open: bool = False

    @property
    def layout(self) -> EpisodeLayout:
        assert self.episode_dir is not None
        return EpisodeLayout(self.episode_dir)

    @property
    def sandbox_dir(self) -> Path | None:
        return self.layout.sandbox if self.episode_dir is not None else None

    @property
    def graded(self) -> int:
        """Graded submits so far (what the submission budget counts)."""
        return sum(1 for sub in self.submissions if sub.valid)

    def steps_left(self, budgets: Budgets) -> int:
        return max(0, budgets.max_steps - self.steps)

    def seconds_left(self, budgets: Budgets) -> float:
        return max(0.0, budgets.episode_timeout_s - (time.monotonic() - self.t0))


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


__all__ = ["Budgets", "EpisodeState", "Submission", "utc_now"]
