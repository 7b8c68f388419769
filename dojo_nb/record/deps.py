"""Which names a cell reads and binds, so a solution never keeps a cell that needed a dropped one.

A failed cell is left out of ``solution.ipynb``, but it may have bound names before it raised
(``x = load(); model.fit(...)`` fails at ``fit`` with ``x`` bound). A later cell that read ``x``
worked in the live kernel and would stop a replay with ``NameError`` (or, if an earlier cell
bound ``x`` too, run on another value). The rule (`dependency_safe`), conservative on purpose:

- every name a failed cell binds or mutates (``x = ..``, ``x[..] = ..``, ``x.a = ..``,
  ``x += ..``, imports, defs, loop and ``with`` targets) is *tainted*, whether or not an
  earlier kept cell bound it as well: the live kernel held the failed cell's value;
- a later ok cell that reads a tainted name before binding it itself is dropped too, and
  what it binds becomes tainted in turn;
- an ok cell that binds a tainted name without reading it first clears the taint (a
  fallback cell that redefines everything it needs is kept);
- identifiers in the text of a magic or shell escape (``%time z = f()``) count as read,
  and as bound when the cell failed (never as clearing a taint);
- a cell Python cannot parse even after IPython's own rewriting (``%magic``, ``!shell``):
  a failed one bound nothing (it never ran); an ok one is taken to read every identifier in
  its text and is dropped when any is tainted.

What static analysis cannot see is not guessed at: a failed cell that mutated an object
through a method (``df.drop(columns=c, inplace=True)``, ``items.append(v)``) before raising,
or names reached through ``globals()``/``exec``. Such a replay can still differ; the replay
then says so (it re-grades and compares) rather than reporting a false success.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dojo_nb import python_ast

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class CellNames:
    """The names a cell reads from the kernel before binding them, and the names it binds."""

    reads: frozenset[str]
    binds: frozenset[str]
    parsed: bool = True
    #: Identifiers inside magics and shell escapes (``%time z = f()``): read, and maybe bound.
    in_magics: frozenset[str] = frozenset()


def _python(source: str) -> str:
    """IPython's own rewriting of magics and shell escapes into plain Python, when available."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython ships with the kernel
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - whatever it cannot rewrite, ast reports below
        return source


def _target_names(node: ast.AST) -> set[str]:
    """Names bound or mutated by an assignment target (the base of ``a.b[c] = ..`` is ``a``)."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(e) for e in node.elts)) if node.elts else set()
    if isinstance(node, ast.Starred):
        return _target_names(node.value)
    if isinstance(node, (ast.Attribute, ast.Subscript)):
        return _target_names(node.value)
    return set()


def _binds(node: ast.AST) -> set[str]:
    """Names a statement binds in the cell's (global) scope; nested scopes keep theirs."""
    out: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return out
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    if isinstance(node, ast.Assign):
        for t in node.targets:
            out |= _target_names(t)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
        out |= _target_names(node.target)
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        out |= _target_names(node.optional_vars)
    elif isinstance(node, ast.ExceptHandler) and node.name:
        out.add(node.name)
    elif isinstance(node, ast.NamedExpr):
        out |= _target_names(node.target)
    elif isinstance(node, ast.Delete):
        for t in node.targets:
            out |= _target_names(t)
    for child in ast.iter_child_nodes(node):
        out |= _binds(child)
    return out


def _local_names(scope: ast.AST) -> set[str]:
    """Names a nested scope binds for itself (parameters, its assignments, comprehension targets)."""
    out: set[str] = set()
    args = getattr(scope, "args", None)
    if isinstance(args, ast.arguments):
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                out.add(a.arg)
    for gen in getattr(scope, "generators", []):
        out |= _target_names(gen.target)
    body = scope.body if isinstance(getattr(scope, "body", None), list) else []
    for stmt in body:
        out |= _binds(stmt)
    for node in ast.walk(scope):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
    return out


def _reads(node: ast.AST) -> set[str]:
    """Names a statement reads from the enclosing scope (a nested scope's own names excluded)."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, _SCOPES):
        outer: list[ast.AST] = list(getattr(node, "decorator_list", []))
        args = getattr(node, "args", None)
        if isinstance(args, ast.arguments):
            outer += [d for d in [*args.defaults, *args.kw_defaults] if d is not None]
        outer += list(getattr(node, "bases", [])) + [k.value for k in getattr(node, "keywords", [])]
        inner: list[ast.AST] = []
        if isinstance(node, _SCOPES[4:]):
            inner = [c for c in ast.iter_child_nodes(node)]
        else:
            inner = node.body if isinstance(node.body, list) else [node.body]
        found = set().union(*(_reads(n) for n in outer)) if outer else set()
        inside = set().union(*(_reads(n) for n in inner)) if inner else set()
        return found | (inside - _local_names(node))
    out: set[str] = set()
    if isinstance(node, ast.AugAssign):
        out |= _target_names(node.target)  # x += 1 reads x
    for child in ast.iter_child_nodes(node):
        out |= _reads(child)
    return out


def cell_names(source: str) -> CellNames:
    """What a code cell reads before binding, and what it binds (`parsed` False: not Python)."""
    try:
        tree = python_ast.parse(_python(source))
    except (SyntaxError, ValueError):
        idents = frozenset(_IDENT.findall(source))
        return CellNames(reads=idents, binds=frozenset(), parsed=False)
    reads: set[str] = set()
    bound: set[str] = set()
    for stmt in tree.body:
        reads |= _reads(stmt) - bound
        bound |= _binds(stmt)
    magics = frozenset(_magic_identifiers(tree))
    return CellNames(reads=frozenset(reads | magics), binds=frozenset(bound), in_magics=magics)


def _magic_identifiers(tree: ast.AST) -> set[str]:
    """Identifiers in the text handed to ``get_ipython().run_line_magic(...)`` and the like."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name)
                and node.func.value.func.id == "get_ipython"):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out |= set(_IDENT.findall(arg.value))
    return out


def dependency_safe(cells: Iterable[tuple[str, bool]]) -> list[bool]:
    """For each (source, ran ok) cell in execution order: whether a replay may keep it."""
    tainted: set[str] = set()
    keep: list[bool] = []
    for source, ok in cells:
        names = cell_names(source)
        if not ok:
            keep.append(False)
            if names.parsed:
                tainted |= names.binds | names.in_magics
            continue
        if names.reads & tainted:
            keep.append(False)
            tainted |= names.binds
        else:
            keep.append(True)
            tainted -= names.binds
    return keep


__all__ = ["CellNames", "cell_names", "dependency_safe"]
