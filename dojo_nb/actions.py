"""The action contract: what an agent may send to `DojoEnv.step`, checked in one place.

An action is a JSON-able dict with a ``type`` and that type's fields (see `ACTION_FIELDS`).
`parse_action` turns anything an agent sends (a dict, a JSON string, garbage) into either an
`Action` or an `InvalidAction` whose message says exactly what is wrong; it never raises.
`action_schema` / `action_schemas` give the same contract as JSON Schema, so an LLM agent can
declare one tool per action type without restating the rules.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

#: Largest action accepted, in characters of its JSON form (a cell of code is rarely > 100 kB).
MAX_ACTION_CHARS = 1_000_000

#: What `request_info` can ask for.
INFO_TOPICS = ("description", "data", "submission_format", "metric", "history")


@dataclass(frozen=True)
class FieldSpec:
    """One field of an action: its JSON type, whether it is required, and a line for humans."""

    kind: str  # "string" | "integer" | "boolean" | "enum"
    required: bool
    doc: str
    choices: tuple[str, ...] = ()
    nonblank: bool = False
    default: Any = None


#: The action contract: type -> (one-line purpose, fields).
ACTION_FIELDS: dict[str, tuple[str, dict[str, FieldSpec]]] = {
    "execute_code": (
        "Append a code cell to the notebook and run it in the live kernel.",
        {"code": FieldSpec("string", True, "Python source of the new cell.", nonblank=True)},
    ),
    "add_markdown": (
        "Append a markdown cell (notes, reasoning); nothing is executed.",
        {"text": FieldSpec("string", True, "Markdown text of the new cell.", nonblank=True)},
    ),
    "edit_cell": (
        "Replace the source of an earlier code cell: a new cell with the new source is "
        "appended (marked as editing the old one) and run.",
        {
            "cell_index": FieldSpec("integer", True, "Notebook index of the code cell to edit."),
            "code": FieldSpec("string", True, "The new Python source.", nonblank=True),
        },
    ),
    "run_cell": (
        "Run an earlier code cell's source again, as a new cell appended to the notebook.",
        {"cell_index": FieldSpec("integer", True, "Notebook index of the code cell to run again.")},
    ),
    "request_info": (
        "Ask the environment about the task; nothing runs in the kernel.",
        {"what": FieldSpec("enum", True, "What to describe.", choices=INFO_TOPICS)},
    ),
    "validate": ("Check the submission file's format (no score is given).", {}),
    "submit": (
        "Grade the submission file on the public split; the reward is the improvement of the "
        "best public position score. With final=true the episode ends after grading.",
        {"final": FieldSpec("boolean", False, "End the episode after this submission.", default=False)},
    ),
    "restart_kernel": ("Restart the kernel: all variables are lost; files stay.", {}),
    "interrupt": ("Interrupt the kernel (stops anything still running in it).", {}),
}

ACTION_TYPES: tuple[str, ...] = tuple(ACTION_FIELDS)


@dataclass(frozen=True)
class Action:
    """A well-formed action: its type and its fields (defaults filled in)."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.fields}


@dataclass(frozen=True)
class InvalidAction:
    """What was wrong with an action, in a sentence an agent can act on."""

    message: str
    type: str | None = None  # the type the agent asked for, when it was a known one
    raw_preview: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "raw_preview": self.raw_preview}


def _preview(raw: Any, limit: int = 200) -> str:
    try:
        text = raw if isinstance(raw, str) else repr(raw)
    except Exception:  # a hostile __repr__ must not crash parsing
        text = f"<unprintable {type(raw).__name__}>"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    return text if len(text) <= limit else text[:limit] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _json_size(value: Any) -> int | None:
    """Characters of `value` as JSON, or None when it is not JSON-able."""
    try:
        return len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return None


def _check_field(atype: str, name: str, spec: FieldSpec, value: Any) -> str | None:
    where = f"{atype}.{name}"
    if spec.kind in ("string", "enum"):
        if not isinstance(value, str):
            return f"{where} must be a string, got {_type_name(value)}"
        if spec.kind == "enum" and value not in spec.choices:
            return f"{where} must be one of {', '.join(spec.choices)}; got {_preview(value, 60)!r}"
        if spec.nonblank and not value.strip():
            return f"{where} is empty: send some {'code' if name == 'code' else 'text'}"
        if "\x00" in value:
            return f"{where} contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"{where} is not valid Unicode text (a lone surrogate at position {exc.start})"
    elif spec.kind == "integer":
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{where} must be an integer, got {_type_name(value)}"
        if value < 0:
            return f"{where} must be >= 0, got {value}"
    elif spec.kind == "boolean":
        if not isinstance(value, bool):
            return f"{where} must be true or false, got {_type_name(value)}"
    return None


def parse_action(raw: Any) -> Action | InvalidAction:
    """Check `raw` against the action contract; never raises.

    Accepts a dict or a JSON string holding one. Unknown fields are rejected (a typo in a
    field name should be reported, not silently ignored).
    """
    try:
        return _parse(raw)
    except Exception as exc:  # last line of defence: hostile objects (odd __eq__, __len__...)
        return InvalidAction(f"the action could not be read: {type(exc).__name__}: {exc}"[:500],
                             raw_preview=_preview(raw))


def _parse(raw: Any) -> Action | InvalidAction:
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return InvalidAction("the action is bytes that are not UTF-8 text", raw_preview=_preview(raw))
    if isinstance(raw, str):
        if len(raw) > MAX_ACTION_CHARS:
            return InvalidAction(
                f"the action is {len(raw)} characters long; the limit is {MAX_ACTION_CHARS}",
                raw_preview=_preview(raw))
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            return InvalidAction(f"the action is a string that is not valid JSON ({exc})",
                                 raw_preview=_preview(raw))
    if not isinstance(raw, Mapping):
        return InvalidAction(
            f"an action must be a JSON object (dict) with a 'type' field, got {_type_name(raw)}",
            raw_preview=_preview(raw))
    if "type" not in raw:
        return InvalidAction(
            f"the action has no 'type' field; use one of: {', '.join(ACTION_TYPES)}",
            raw_preview=_preview(raw))
    atype = raw["type"]
    if not isinstance(atype, str):
        return InvalidAction(f"'type' must be a string, got {_type_name(atype)}", raw_preview=_preview(raw))
    if atype not in ACTION_FIELDS:
        return InvalidAction(
            f"unknown action type {_preview(atype, 60)!r}; use one of: {', '.join(ACTION_TYPES)}",
            raw_preview=_preview(raw))
    size = _json_size(dict(raw))
    if size is None:
        return InvalidAction(f"the {atype} action is not JSON-able (only strings, numbers, "
                             "booleans, null, lists and objects are allowed)",
                             type=atype, raw_preview=_preview(raw))
    if size > MAX_ACTION_CHARS:
        return InvalidAction(f"the {atype} action is {size} characters as JSON; the limit is "
                             f"{MAX_ACTION_CHARS}", type=atype, raw_preview=_preview(raw))
    _, specs = ACTION_FIELDS[atype]
    unknown = sorted(str(k) for k in raw if k != "type" and k not in specs)
    if unknown:
        allowed = ", ".join(specs) or "no other fields"
        return InvalidAction(f"unknown field(s) {', '.join(map(repr, unknown))} for {atype}; "
                             f"allowed: {allowed}", type=atype, raw_preview=_preview(raw))
    fields: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in raw:
            if spec.required:
                return InvalidAction(f"{atype} needs a '{name}' field ({spec.doc})", type=atype,
                                     raw_preview=_preview(raw))
            fields[name] = spec.default
            continue
        problem = _check_field(atype, name, spec, raw[name])
        if problem:
            return InvalidAction(problem, type=atype, raw_preview=_preview(raw))
        value = raw[name]
        fields[name] = int(value) if spec.kind == "integer" else value
    return Action(atype, fields)


def action_schema(action_type: str) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one action type, e.g. for an LLM tool definition."""
    if action_type not in ACTION_FIELDS:
        raise KeyError(f"unknown action type {action_type!r}; known: {', '.join(ACTION_TYPES)}")
    purpose, specs = ACTION_FIELDS[action_type]
    props: dict[str, Any] = {"type": {"const": action_type}}
    for name, spec in specs.items():
        prop: dict[str, Any] = {"description": spec.doc}
        if spec.kind == "enum":
            prop.update(type="string", enum=list(spec.choices))
        elif spec.kind == "integer":
            prop.update(type="integer", minimum=0)
        elif spec.kind == "string":
            prop.update(type="string", minLength=1)
            if spec.nonblank:
                prop["pattern"] = r"\S"
        else:
            prop["type"] = spec.kind
        if not spec.required and spec.default is not None:
            prop["default"] = spec.default
        props[name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": action_type,
        "description": purpose,
        "type": "object",
        "properties": props,
        "required": ["type"] + [n for n, s in specs.items() if s.required],
        "additionalProperties": False,
    }


#: The JSON-schema keywords every major tool-calling server accepts (OpenAI, vLLM, llama.cpp's
#: json-schema-to-grammar, Ollama, LM Studio, TGI). llama.cpp refuses a `pattern` without
#: ``^...$`` and older builds reject `minLength`/`minimum`/`format`; composition (`oneOf`,
#: `anyOf`, `allOf`) and `$ref` differ across servers. So tool schemas carry only these, and the
#: rest of the contract (non-blank, >= 0, defaults) is stated in the description and checked by
#: `parse_action` on our side.
PORTABLE_SCHEMA_KEYS = frozenset({"type", "description", "properties", "required",
                                  "additionalProperties", "enum"})


def _portable_doc(spec: FieldSpec) -> str:
    notes = []
    if spec.nonblank:
        notes.append("must not be empty")
    if spec.kind == "integer":
        notes.append("an integer >= 0")
    if not spec.required and spec.default is not None:
        notes.append(f"default {json.dumps(spec.default)}")
    return spec.doc + (f" ({'; '.join(notes)})" if notes else "")


def tool_parameters(action_type: str) -> dict[str, Any]:
    """One action type's fields as a tool's ``parameters``, in the portable subset only.

    Why not `action_schema`: its `pattern`/`minLength`/`const` make llama.cpp and LM Studio
    refuse every request. The checks those keywords expressed are done by `parse_action`."""
    if action_type not in ACTION_FIELDS:
        raise KeyError(f"unknown action type {action_type!r}; known: {', '.join(ACTION_TYPES)}")
    _, specs = ACTION_FIELDS[action_type]
    props: dict[str, Any] = {}
    for name, spec in specs.items():
        kind = "string" if spec.kind == "enum" else spec.kind
        prop: dict[str, Any] = {"type": kind, "description": _portable_doc(spec)}
        if spec.kind == "enum":
            prop["enum"] = list(spec.choices)
        props[name] = prop
    return {"type": "object", "properties": props,
            "required": [n for n, s in specs.items() if s.required], "additionalProperties": False}


def action_schemas() -> dict[str, dict[str, Any]]:
    """Every action type's JSON Schema, by type."""
    return {t: action_schema(t) for t in ACTION_TYPES}


def any_action_schema() -> dict[str, Any]:
    """One schema accepting any valid action (``oneOf`` the per-type schemas)."""
    parts = []
    for schema in action_schemas().values():
        part = dict(schema)
        part.pop("$schema", None)
        parts.append(part)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "dojo-nb action",
            "oneOf": parts}
