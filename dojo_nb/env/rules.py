"""What an agent is told of its submissions, how many it may grade, and how it is rewarded.

Kaggle's rules for the public leaderboard, because unlimited exact feedback can be probed
(flip one row per submit, keep the flips that help) into a public score the private one
does not follow:

- public scores are shown rounded to `PUBLIC_DECIMALS` decimals, as Kaggle shows them;
- at most ``max_submissions`` graded submits per episode (invalid files are not graded and
  do not count; ``validate`` is free and unlimited); a submit over the budget is refused
  with a clear observation and changes nothing;
- ``feedback``: ``public`` (score, position and reward per submit), ``validity`` (valid or
  not, no score: MLE-bench's validation server), ``none`` (only "received");
- private scores and the medal only in the final grade, when the episode has ended.

Rewards (``reward``):

- ``position``: the gain in the public position score over the best so far, paid on the
  submit (with ``feedback`` other than ``public``, the whole sum is paid at the episode's
  end instead, so a reward never tells a score). **Guarantee:** the rewards of an episode
  sum to the best public position score reached.
- ``shaped``: ``position``'s rewards, plus a one-off bonus the first time each milestone of
  `COMPONENTS` is reached (`dojo_nb.env.progress` detects them from the kernel), plus, at
  the end, ``final private position - position rewards paid``. The bonuses are the weights
  times `shaping_cap`, which is less than one step of the private leaderboard (``margin /
  N`` for N entries), and the weights sum to at most 1. **Guarantee:** an episode's return
  is ``final private position + bonuses`` with ``0 <= bonuses < 1/N``, so an episode whose
  final submission ranks higher always earns more, whatever the other one's bonuses.

The end's payment goes to the step that ended the episode (a final submit, the last step of
a budget). An episode ended by ``close()`` or ``reset()`` has no such step: the payment is in
``summary.json`` (``terminal_reward``, included in ``reward_sum``) only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

#: Decimals of a public score as the agent sees it (Kaggle's leaderboard).
PUBLIC_DECIMALS = 5
FEEDBACK_MODES = ("public", "validity", "none")
REWARD_MODES = ("position", "shaped")
#: Milestones of `shaped`, in the order a notebook usually reaches them.
COMPONENTS = ("data_loaded", "model_fitted", "validation_score", "submission_written", "valid_submission")
#: Default share of the shaping cap each milestone earns (they sum to 1).
DEFAULT_WEIGHTS: dict[str, float] = {"data_loaded": 0.2, "model_fitted": 0.3, "validation_score": 0.2,
                                     "submission_written": 0.1, "valid_submission": 0.2}
DEFAULT_MAX_SUBMISSIONS = 5
#: Share of one private-leaderboard step the bonuses may add up to (< 1 keeps dominance strict).
DEFAULT_MARGIN = 0.5
#: Bonus cap for a task with no leaderboard (all position scores are 0 there).
NO_BOARD_CAP = 0.05


def round_public(value: float | None) -> float | None:
    """A public score as the agent sees it."""
    return None if value is None else round(float(value), PUBLIC_DECIMALS)


@dataclass(frozen=True)
class Rules:
    """The feedback and reward rules of an episode (see the module docstring)."""

    feedback: str = "public"
    max_submissions: int = DEFAULT_MAX_SUBMISSIONS
    reward: str = "position"
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        if self.feedback not in FEEDBACK_MODES:
            raise ValueError(f"feedback must be one of {FEEDBACK_MODES}, got {self.feedback!r}")
        if self.reward not in REWARD_MODES:
            raise ValueError(f"reward must be one of {REWARD_MODES}, got {self.reward!r}")
        if int(self.max_submissions) < 1:
            raise ValueError(f"max_submissions must be >= 1, got {self.max_submissions!r}")
        unknown = set(self.weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown reward components {sorted(unknown)}; known: {COMPONENTS}")
        if any(float(w) < 0 for w in self.weights.values()):
            raise ValueError("reward weights must be >= 0")
        if not 0 < float(self.margin) < 1:
            raise ValueError("margin must be in (0, 1)")

    @classmethod
    def of(cls, feedback: str = "public", max_submissions: int = DEFAULT_MAX_SUBMISSIONS,
           reward: str = "position", reward_weights: Mapping[str, float] | None = None,
           shaping_margin: float = DEFAULT_MARGIN) -> Rules:
        weights = dict(DEFAULT_WEIGHTS)
        weights.update({k: float(v) for k, v in (reward_weights or {}).items()})
        return cls(str(feedback), int(max_submissions), str(reward), weights, float(shaping_margin))

    @property
    def shows_scores(self) -> bool:
        return self.feedback == "public"

    def normalised_weights(self) -> dict[str, float]:
        """The weights, scaled down to sum to at most 1 (the dominance guarantee needs it)."""
        w = {k: float(self.weights.get(k, 0.0)) for k in COMPONENTS}
        total = sum(w.values())
        return {k: v / total for k, v in w.items()} if total > 1 else w

    def to_dict(self) -> dict[str, Any]:
        """As ``metadata.dojo.rules`` records them."""
        return {"feedback": self.feedback, "max_submissions": int(self.max_submissions), "reward": self.reward,
                "weights": self.normalised_weights(), "margin": float(self.margin),
                "public_decimals": PUBLIC_DECIMALS}


def shaping_cap(board_size: int, margin: float = DEFAULT_MARGIN) -> float:
    """What all bonuses together may earn: a fraction of one step of the private board."""
    return margin / board_size if board_size > 0 else NO_BOARD_CAP


def shown_grading(rules: Rules, report: Mapping[str, Any], best: float, reward: float, final: bool,
                  submissions_left: int) -> dict[str, Any]:
    """What the observation and the cell show of a grade, under the feedback mode."""
    valid = bool(report.get("valid"))
    out: dict[str, Any] = {"final": final, "submissions_left": submissions_left}
    if rules.feedback == "none":
        return {**out, "received": True}
    out.update(valid=valid, message=str(report.get("message") or "") if not valid else "valid submission")
    if rules.feedback == "validity":
        return out
    score = round_public(report.get("public_score")) if valid else None
    if valid:
        out["message"] = f"{report.get('metric') or 'score'} = {score} on the public part of the test set"
    out.update(public_score=score, public_position_score=report.get("public_position_score") if valid else None,
               lower_is_better=report.get("lower_is_better"), best_public_position_score=best, reward=reward)
    return out


__all__ = ["COMPONENTS", "DEFAULT_MAX_SUBMISSIONS", "DEFAULT_WEIGHTS", "FEEDBACK_MODES", "PUBLIC_DECIMALS",
           "REWARD_MODES", "Rules", "round_public", "shaping_cap", "shown_grading"]
