"""The env's spaces and the one observation builder.

An observation is a JSON-able dict with exactly the keys in `OBS_KEYS`; actions are the
dicts of `dojo_nb.actions`. Neither is a fixed-size array, so neither space is flattenable.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from dojo_nb.actions import ACTION_TYPES, INFO_TOPICS, Action, parse_action

STATUSES = ("ok", "error", "timeout", "crashed", "invalid_action")
OBS_KEYS = ("status", "text", "outputs", "error", "elapsed_s", "cell_index", "execution_count",
            "action_type", "steps_left", "seconds_left", "message", "grading")


class ActionSpace(gymnasium.spaces.Space[dict]):
    """Dict actions as in `dojo_nb.actions`; `sample` draws harmless ones (no code that does work)."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(parse_action(x), Action) and isinstance(x, dict)

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        rng = self.np_random
        kind = int(rng.integers(4))
        if kind == 0:
            return {"type": "execute_code", "code": f"{int(rng.integers(100))} + {int(rng.integers(100))}"}
        if kind == 1:
            return {"type": "add_markdown", "text": f"note {int(rng.integers(1_000_000))}"}
        if kind == 2:
            return {"type": "request_info", "what": INFO_TOPICS[int(rng.integers(len(INFO_TOPICS)))]}
        return {"type": "validate"}

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"ActionSpace({', '.join(ACTION_TYPES)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActionSpace)


class ObservationSpace(gymnasium.spaces.Space[dict]):
    """JSON-able observation dicts with the keys in `OBS_KEYS`."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)

    def contains(self, x: Any) -> bool:
        if not isinstance(x, dict) or set(x) != set(OBS_KEYS):
            return False
        num = (int, float)
        checks = [
            x["status"] in STATUSES,
            isinstance(x["text"], str),
            isinstance(x["outputs"], list),
            x["error"] is None or isinstance(x["error"], dict),
            isinstance(x["elapsed_s"], num),
            x["cell_index"] is None or isinstance(x["cell_index"], int),
            x["execution_count"] is None or isinstance(x["execution_count"], int),
            isinstance(x["action_type"], str),
            isinstance(x["steps_left"], int),
            isinstance(x["seconds_left"], num),
            x["message"] is None or isinstance(x["message"], str),
            x["grading"] is None or isinstance(x["grading"], dict),
        ]
        return all(checks)

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        return observation("ok", action_type="execute_code",
                            text=str(int(self.np_random.integers(100))))

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ObservationSpace(dict)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObservationSpace)


def observation(status: str, *, action_type: str, text: str = "", outputs: list | None = None,
                error: dict | None = None, elapsed_s: float = 0.0, cell_index: int | None = None,
                execution_count: int | None = None, steps_left: int = 0,
                seconds_left: float = 0.0, message: str | None = None,
                grading: dict | None = None) -> dict[str, Any]:
    """An observation dict (`OBS_KEYS`); steps_left and seconds_left are filled in by `step`."""
    return {"status": status, "text": text, "outputs": list(outputs or []), "error": error,
            "elapsed_s": float(elapsed_s), "cell_index": cell_index,
            "execution_count": execution_count, "action_type": action_type,
            "steps_left": int(steps_left), "seconds_left": float(seconds_left),
            "message": message, "grading": grading}


__all__ = ["ActionSpace", "ObservationSpace", "OBS_KEYS", "STATUSES", "observation"]
