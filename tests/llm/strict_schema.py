"""A strict JSON-schema-to-grammar converter of the portable subset, as a picky server has it.

Modelled on what llama.cpp's json-schema-to-grammar and LM Studio turn into a GBNF grammar: it
produces a grammar for what it understands and *refuses* anything else (an unknown keyword, a
`pattern`, `format`, `minLength`, composition), like those servers refuse the whole request.
"""

from __future__ import annotations

import json
from typing import Any

ALLOWED = {"type", "description", "properties", "required", "additionalProperties", "enum"}
PRIMITIVES = {"string": "string", "integer": "integer", "number": "number", "boolean": '("true" | "false")'}


class SchemaRejected(ValueError):
    """The schema uses something outside the portable subset."""


def to_grammar(schema: Any, name: str = "root") -> str:
    """GBNF-ish rules for `schema`; SchemaRejected for anything outside the subset."""
    rules: list[str] = []
    _rule(schema, name, rules, name)
    return "\n".join(rules)


def _rule(schema: Any, name: str, rules: list[str], where: str) -> str:
    if not isinstance(schema, dict):
        raise SchemaRejected(f"{where}: a schema must be an object")
    extra = set(schema) - ALLOWED
    if extra:
        raise SchemaRejected(f"{where}: unsupported keyword(s) {sorted(extra)}")
    kind = schema.get("type")
    if "enum" in schema:
        values = schema["enum"]
        if kind != "string" or not values or not all(isinstance(v, str) for v in values):
            raise SchemaRejected(f"{where}: enum must be a non-empty list of strings on a string")
        rules.append(f"{name} ::= " + " | ".join(json.dumps(json.dumps(v)) for v in values))
        return name
    if kind in PRIMITIVES:
        if set(schema) - {"type", "description"}:
            raise SchemaRejected(f"{where}: {kind} takes only type and description")
        rules.append(f"{name} ::= {PRIMITIVES[kind]}")
        return name
    if kind != "object":
        raise SchemaRejected(f"{where}: unsupported type {kind!r}")
    props = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(props, dict) or not isinstance(required, list) or set(required) - set(props):
        raise SchemaRejected(f"{where}: properties/required malformed")
    if schema.get("additionalProperties", False) is not False:
        raise SchemaRejected(f"{where}: additionalProperties must be false")
    parts = []
    for key, sub in props.items():
        sub_name = _rule(sub, f"{name}-{key}", rules, f"{where}.{key}")
        item = f'"\\"{key}\\":" {sub_name}'
        parts.append(item if key in required else f"({item})?")
    rules.append(f'{name} ::= "{{" {" ".join(parts)} "}}"')
    return name


def check_tools(tools: Any) -> str | None:
    """None when every tool's parameters convert; else the refusal, worded like llama.cpp's."""
    try:
        for t in tools or []:
            fn = t["function"]
            if set(fn) - {"name", "description", "parameters"}:
                raise SchemaRejected(f"tool {fn.get('name')}: unknown keys")
            to_grammar(fn["parameters"], fn["name"])
    except (SchemaRejected, KeyError, TypeError) as exc:
        return f"JSON schema conversion failed: {exc}"
    return None
