"""Which node a search trusts: the validation score with its spread, and the simpler of close nodes.

Why: a search once chose a random forest over a logistic regression on a 0.00091 CV difference
(0.99344 vs 0.99253) when the folds' spread was several times that; privately the regression
was better. A difference inside the spread is noise, so among the good nodes within one spread
of the best score the simplest is chosen (the "one standard error" rule, with the best node's
fold std as the spread; a node that prints no spread counts as exact, so the plain best wins).

A node's cell prints ``VALIDATION_SCORE: <mean>`` and, when it measured folds, the spread on
the same line: ``VALIDATION_SCORE: 0.9934 +- 0.0041`` (also ``±``, ``+/-``, ``(std 0.0041)``,
``std=0.0041``). Simplicity is the size of the node's code: the number of syntax-tree nodes of
its solution cells (comments, blank lines and names' lengths do not count).
"""

from __future__ import annotations

import ast
import math
import re
from typing import TYPE_CHECKING, Sequence

from dojo_nb import python_ast
from dojo_nb.agents.search_policies import SCORE_LINE

if TYPE_CHECKING:
    from dojo_nb.agents.search import Node

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_SPREAD = r"(?:±|\+/?-|,?\s*\(?\s*(?:fold\s+)?(?:std|sd)\s*[:=]?)"
_SCORE_RE = re.compile(rf"{SCORE_LINE}\s*[:=]\s*({_NUMBER})(?:\s*{_SPREAD}\s*({_NUMBER}))?")


def _finite(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_score_line(text: str) -> tuple[float | None, float | None]:
    """(score, spread) of the last ``VALIDATION_SCORE`` line printed; None for what is missing
    or not finite (a negative spread is read as its size)."""
    found = _SCORE_RE.findall(text or "")
    if not found:
        return None, None
    score, spread = found[-1]
    value, std = _finite(score), _finite(spread or None)
    return value, (abs(std) if std is not None and value is not None else None)


def complexity(node: Node) -> int:
    """How much code the node's state is: syntax-tree nodes of its cells (characters if unparsable)."""
    total = 0
    for cell in node.cells or [node.code]:
        try:
            total += sum(1 for _ in ast.walk(python_ast.parse(cell)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            total += len(cell)
    return total


def best_node(nodes: Sequence[Node], lower_is_better: bool) -> Node | None:
    """The node to trust: among good nodes with a score, those within one spread of the best
    score (the best node's spread), the simplest; then the better score, then the earliest."""
    good = [n for n in nodes if n.status == "good" and n.score is not None]
    if not good:
        return None
    sign = 1.0 if lower_is_better else -1.0
    top = min(good, key=lambda n: sign * float(n.score))  # type: ignore[arg-type]  # min: earliest on ties
    spread = float(getattr(top, "score_std", None) or 0.0)
    close = [n for n in good if sign * (float(n.score) - float(top.score)) <= spread]  # type: ignore[arg-type]
    return min(close, key=lambda n: (complexity(n), sign * float(n.score), good.index(n)))  # type: ignore[arg-type]


def selection_rule(lower_is_better: bool) -> str:
    """The rule in words, for ``search.json``."""
    return (f"among good nodes within one spread (the best node's fold std) of the "
            f"{'lowest' if lower_is_better else 'highest'} {SCORE_LINE}, the one with the least code")


__all__ = ["best_node", "complexity", "parse_score_line", "selection_rule"]
