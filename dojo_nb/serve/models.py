"""OpenEnv's typed models for dojo-nb, generated from the project's own contracts.

`DojoAction` is built from `dojo_nb.actions.ACTION_FIELDS` (the table that also drives
`parse_action`, the JSON Schemas and the LLM tools) and `DojoObservation` from the signature
of `dojo_nb.env.spaces.observation` (the one observation builder), so a new action field or
observation key appears here without anyone copying it.

The typed model checks JSON *types* only (a string is a string, ``what`` is one of the
topics). The rules that depend on the action's type (which fields it needs, which it may
not have, no blank code) stay with `parse_action` inside `DojoEnv.step`, so a served agent
that breaks them gets the same ``invalid_action`` observation, costing a step, that the
Python API gives: the trajectory of a served episode is the one `env.step` would write.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, Mapping, Optional, get_type_hints

from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field, StrictBool, StrictInt, StrictStr, create_model

from dojo_nb.actions import ACTION_FIELDS, ACTION_TYPES, FieldSpec, any_action_schema
from dojo_nb.env.spaces import OBS_KEYS, observation

_KIND_TYPES: dict[str, Any] = {"string": StrictStr, "integer": StrictInt, "boolean": StrictBool}


def _field_type(spec: FieldSpec) -> Any:
    if spec.kind == "enum":
        return Literal[spec.choices]  # type: ignore[valid-type]
    return _KIND_TYPES[spec.kind]


def _action_fields() -> dict[str, Any]:
    """Every field of every action type, once; a name used by two types must mean one thing."""
    specs: dict[str, FieldSpec] = {}
    users: dict[str, list[str]] = {}
    for atype, (_, fields) in ACTION_FIELDS.items():
        for name, spec in fields.items():
            seen = specs.setdefault(name, spec)
            if (seen.kind, seen.choices) != (spec.kind, spec.choices):
                raise TypeError(f"action field {name!r} has two kinds ({seen.kind}, {spec.kind}); "
                                "one flat OpenEnv model cannot hold both")
            users.setdefault(name, []).append(atype)
    return {name: (Optional[_field_type(spec)],
                   Field(default=None, description=f"{spec.doc} (used by {', '.join(users[name])})"))
            for name, spec in specs.items()}


class _ActionBase(Action):
    """What every generated action shares: the contract dict and the contract's schema."""

    def to_contract(self) -> dict[str, Any]:
        """The action as `DojoEnv.step` takes it (unset fields left out, as an agent would)."""
        return self.model_dump(exclude={"metadata"}, exclude_none=True)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The contract's own schema (one ``oneOf`` branch per action type), not the flat model's."""
        return any_action_schema()


_purposes = "; ".join(f"{t}: {ACTION_FIELDS[t][0]}" for t in ACTION_TYPES)
DojoAction = create_model(  # type: ignore[call-overload]
    "DojoAction", __base__=_ActionBase,
    __doc__="One dojo-nb action (see dojo_nb.actions): " + _purposes,
    type=(Literal[ACTION_TYPES], Field(description="The action type.")),  # type: ignore[valid-type]
    **_action_fields())


def _observation_fields() -> dict[str, Any]:
    """The keys of `OBS_KEYS`, typed and defaulted as `observation()` declares them."""
    hints = get_type_hints(observation)
    params = inspect.signature(observation).parameters
    missing = [k for k in OBS_KEYS if k not in params]
    if missing:
        raise TypeError(f"observation() has no parameter for the observation keys {missing}")
    fields: dict[str, Any] = {}
    for key in OBS_KEYS:
        default = params[key].default
        fields[key] = (hints[key], ... if default is inspect.Parameter.empty else default)
    return fields


DojoObservation = create_model(  # type: ignore[call-overload]
    "DojoObservation", __base__=Observation,
    __doc__="A dojo-nb observation (the keys of dojo_nb.env.spaces.OBS_KEYS) with the step's outcome.",
    terminated=(bool, Field(default=False, description="The episode ended by a final submit.")),
    truncated=(bool, Field(default=False, description="A step or time budget ran out.")),
    info=(dict[str, Any], Field(default_factory=dict, description="The info dict of env.step / env.reset.")),
    **_observation_fields())


class DojoState(State):
    """Where a served episode is: its task, folder, steps taken and reward so far."""

    task_id: str = ""
    episode_dir: Optional[str] = None
    open: bool = False
    reward_sum: float = 0.0


def make_observation(obs: Mapping[str, Any], reward: float | None, terminated: bool, truncated: bool,
                     info: Mapping[str, Any]) -> Any:
    """A `DojoObservation` from what `DojoEnv.reset` / `step` returned."""
    return DojoObservation(**{k: obs[k] for k in OBS_KEYS}, reward=reward, done=terminated or truncated,
                           terminated=terminated, truncated=truncated, info=dict(info))


__all__ = ["DojoAction", "DojoObservation", "DojoState", "make_observation"]
