"""Reading what a chat model sent back, leniently: servers and models differ in the details.

Why a module of its own: the LLM agent must not lose a step because a reply came in a form the
OpenAI spec does not promise — arguments with raw newlines or code fences, `content` as a list of
parts, or a tool call written as JSON inside the text (Hermes/Qwen ``<tool_call>`` blocks, a
fenced JSON object, or the action dict itself) when the server's tool parser missed it.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Iterable

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_TOOL_TAG = re.compile(r"</?tool_call>|</?function_call>", re.I)
_MAX_SCAN = 50  # opening braces tried when looking for a tool call in text


def parse_arguments(arguments: Any) -> tuple[dict[str, Any], bool]:
    """A tool call's arguments as a dict and whether a repair was needed; ValueError if hopeless."""
    if isinstance(arguments, dict):
        return arguments, False
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}, False
    if not isinstance(arguments, str):
        raise ValueError(f"arguments must be a JSON object string, got {type(arguments).__name__}")
    try:
        value = json.loads(arguments)
        repaired = False
    except ValueError as first:
        value, repaired = _repair(arguments, first), True
    if isinstance(value, str):  # double-encoded: a JSON string holding the object
        try:
            value, repaired = json.loads(value, strict=False), True
        except ValueError:
            pass
    if not isinstance(value, dict):
        raise ValueError(f"arguments must be a JSON object, got {type(value).__name__}")
    return value, repaired


def _repair(text: str, first: ValueError) -> Any:
    candidates = [text]
    fenced = _FENCE.match(text)
    if fenced:
        candidates.append(fenced.group(1))
    for c in list(candidates):
        start, end = c.find("{"), c.rfind("}")
        if 0 <= start < end:
            candidates.append(c[start:end + 1])
    for c in list(candidates):
        candidates.append(_TRAILING_COMMA.sub(r"\1", c))
    for c in candidates:
        try:
            return json.loads(c, strict=False)  # strict=False: raw newlines/tabs inside strings
        except ValueError:
            pass
        try:
            value = ast.literal_eval(c.strip())  # {'code': '...', 'final': True}
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            continue
        if isinstance(value, dict):
            return value
    raise ValueError(f"the arguments are not valid JSON ({first})")


def content_text(content: Any) -> str:
    """`content` as text: a string, or the text parts of a list (``[{"type": "text", ...}]``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def _as_call(obj: Any, names: set[str]) -> tuple[str, str] | None:
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    name = fn.get("name")
    if isinstance(name, str) and name in names:
        args = fn.get("arguments", fn.get("parameters", {}))
        return name, args if isinstance(args, str) else json.dumps(args if args is not None else {})
    atype = obj.get("type")
    if isinstance(atype, str) and atype in names:  # the action dict itself
        return atype, json.dumps({k: v for k, v in obj.items() if k != "type"})
    return None


def calls_in_text(text: str, names: Iterable[str]) -> tuple[list[tuple[str, str]], str]:
    """Tool calls written as JSON in a reply's text, and the text without them.

    Only objects naming one of `names` count, so prose with braces stays prose."""
    known = set(names)
    if not text or "{" not in text:
        return [], text
    decoder = json.JSONDecoder(strict=False)
    calls: list[tuple[str, str]] = []
    spans: list[tuple[int, int]] = []
    pos, tried = 0, 0
    while tried < _MAX_SCAN:
        start = text.find("{", pos)
        if start < 0:
            break
        tried += 1
        try:
            obj, end = decoder.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        call = _as_call(obj, known)
        if call:
            calls.append(call)
            spans.append((start, end))
            pos = end
        else:
            pos = start + 1
    if not calls:
        return [], text
    rest, last = [], 0
    for start, end in spans:
        rest.append(text[last:start])
        last = end
    rest.append(text[last:])
    leftover = _TOOL_TAG.sub("", "".join(rest))
    leftover = re.sub(r"```(?:json)?\s*```", "", leftover).strip()
    return calls, leftover


__all__ = ["parse_arguments", "content_text", "calls_in_text"]
