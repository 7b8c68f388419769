"""`ast.parse` that survives CPython's spurious "AST constructor recursion depth mismatch".

CPython 3.11 and 3.12 (gh-106905) can raise that `SystemError` from `ast.parse` in a threaded
program (the driver runs pollers, a grading helper and loky workers beside its main thread)
although the source is fine. Parses are serialised, and the rare spurious error is retried
once; a second failure is raised as it came.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()
_SPURIOUS = "AST constructor recursion depth mismatch"


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source)`; a `SyntaxError` is raised as usual."""
    with _LOCK:
        try:
            return ast.parse(source, filename)
        except SystemError as exc:
            if _SPURIOUS not in str(exc):
                raise
            return ast.parse(source, filename)


__all__ = ["parse"]
