"""`dojo-nb compare A B`: two episodes side by side, cells aligned, differences highlighted.

Alignment by content uses nbdime's notebook diff on copies of both notebooks that keep only
each cell's type and source (outputs, timings and metadata always differ between runs and
would only add noise): a cell nbdime leaves alone is the same on both sides, a patched cell
is the same step changed, an added or removed range has no partner. Runs removed from one
side right before cells added on the other are shown in the same rows ("replaced"), so two
different agents read side by side rather than as a staircase. When nbdime fails (or with
``align="step"``) cells are paired by step number instead.

Episodes of different tasks are refused (`CompareError`) unless ``allow_different_tasks``:
their scores are on different scales and their cells have nothing to align; the page then
says so in a banner.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import nbformat
from nbformat import NotebookNode

from dojo_nb.record.metadata import DESCRIPTION, CellMeta
from dojo_nb.views.report.cells import _source, render_cell
from dojo_nb.views.report.chart import Series, score_chart
from dojo_nb.views.report.episode import EpisodeData, ReportError, load_episode
from dojo_nb.views.report.html import esc
from dojo_nb.views.report.page import page, write_page
from dojo_nb.views.report.report import problems_banner, summary_table

COMPARE_NAME = "compare.html"
Kind = Literal["same", "changed", "only-a", "only-b", "replaced"]


class CompareError(ReportError):
    """The two episodes cannot be compared (e.g. different tasks)."""


@dataclass
class Row:
    """One aligned row: a cell index on each side (None: no partner) and how they relate."""

    a: int | None
    b: int | None
    kind: Kind


def _content_only(nb: NotebookNode) -> NotebookNode:
    cells = []
    for c in nb.cells:
        cell: dict[str, Any] = {"cell_type": c.cell_type, "source": _source(c), "metadata": {}}
        if c.cell_type == "code":
            cell.update(outputs=[], execution_count=None)
        cells.append(cell)
    stripped = nbformat.v4.new_notebook()
    stripped.cells = cells
    return nbformat.from_dict(stripped)


def _relate(a_nb: NotebookNode, b_nb: NotebookNode, ia: int, ib: int) -> Kind:
    ca, cb = a_nb.cells[ia], b_nb.cells[ib]
    same = (_source(ca) == _source(cb) and ca.cell_type == cb.cell_type
            and CellMeta.of(ca).status == CellMeta.of(cb).status)
    return "same" if same else "changed"


def _pair_replacements(rows: list[Row]) -> list[Row]:
    """A run of only-a rows next to a run of only-b rows becomes side-by-side 'replaced' rows."""
    out: list[Row] = []
    i = 0
    while i < len(rows):
        if rows[i].kind not in ("only-a", "only-b"):
            out.append(rows[i])
            i += 1
            continue
        j = i
        while j < len(rows) and rows[j].kind in ("only-a", "only-b"):
            j += 1
        a_side = [r.a for r in rows[i:j] if r.kind == "only-a"]
        b_side = [r.b for r in rows[i:j] if r.kind == "only-b"]
        for k in range(max(len(a_side), len(b_side))):
            ia = a_side[k] if k < len(a_side) else None
            ib = b_side[k] if k < len(b_side) else None
            kind: Kind = "replaced" if ia is not None and ib is not None else ("only-a" if ib is None else "only-b")
            out.append(Row(ia, ib, kind))
        i = j
    return out


#: nbdime compares every cell with every other one (a brute-force grid): 200 x 200 cells take
#: about 1 s here, 400 x 400 about 5 s. Bigger pairs are first cut at identical cells.
NBDIME_MAX_PAIRS = 200 * 200


def _sub(nb: NotebookNode, start: int, stop: int) -> NotebookNode:
    part = nbformat.v4.new_notebook()
    part.cells = nb.cells[start:stop]
    return part


def _anchored(a_nb: NotebookNode, b_nb: NotebookNode) -> list[Row]:
    """Big notebooks: identical cells (difflib) anchor the alignment, nbdime aligns the gaps."""
    key_a = [(c.cell_type, _source(c)) for c in a_nb.cells]
    key_b = [(c.cell_type, _source(c)) for c in b_nb.cells]
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(None, key_a, key_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [Row(i, j, _relate(a_nb, b_nb, i, j)) for i, j in zip(range(i1, i2), range(j1, j2))]
        elif i1 == i2 or j1 == j2 or (i2 - i1) * (j2 - j1) > NBDIME_MAX_PAIRS:
            rows += [Row(i, None, "only-a") for i in range(i1, i2)]
            rows += [Row(None, j, "only-b") for j in range(j1, j2)]
        else:
            for r in align_by_content(_sub(a_nb, i1, i2), _sub(b_nb, j1, j2)):
                rows.append(Row(None if r.a is None else r.a + i1, None if r.b is None else r.b + j1, r.kind))
    return _pair_replacements(rows)


def align_by_content(a_nb: NotebookNode, b_nb: NotebookNode) -> list[Row]:
    """Rows from nbdime's diff of the two notebooks' cell sources."""
    from nbdime import diff_notebooks

    if len(a_nb.cells) * len(b_nb.cells) > NBDIME_MAX_PAIRS:
        return _anchored(a_nb, b_nb)
    diff = diff_notebooks(_content_only(a_nb), _content_only(b_nb))
    ops = next((e["diff"] for e in diff if e.get("key") == "cells" and e.get("op") == "patch"), [])
    rows: list[Row] = []
    ia = ib = 0
    for op in ops:
        key = int(op["key"])
        while ia < key:
            rows.append(Row(ia, ib, _relate(a_nb, b_nb, ia, ib)))
            ia, ib = ia + 1, ib + 1
        if op["op"] == "addrange":
            for _ in op["valuelist"]:
                rows.append(Row(None, ib, "only-b"))
                ib += 1
        elif op["op"] == "removerange":
            for _ in range(int(op["length"])):
                rows.append(Row(ia, None, "only-a"))
                ia += 1
        elif op["op"] == "patch":
            rows.append(Row(ia, ib, _relate(a_nb, b_nb, ia, ib)))
            ia, ib = ia + 1, ib + 1
        else:
            raise ValueError(f"unexpected nbdime diff op {op['op']!r}")
    while ia < len(a_nb.cells) and ib < len(b_nb.cells):
        rows.append(Row(ia, ib, _relate(a_nb, b_nb, ia, ib)))
        ia, ib = ia + 1, ib + 1
    rows += [Row(i, None, "only-a") for i in range(ia, len(a_nb.cells))]
    rows += [Row(None, i, "only-b") for i in range(ib, len(b_nb.cells))]
    return _pair_replacements(rows)


def _step_keys(nb: NotebookNode) -> list[tuple[int, int]]:
    """(step, n-th cell of that step) per cell; cells without a step count as step 0."""
    seen: dict[int, int] = {}
    keys = []
    for c in nb.cells:
        step = CellMeta.of(c).step
        step = step if isinstance(step, int) else 0
        seen[step] = seen.get(step, -1) + 1
        keys.append((step, seen[step]))
    return keys


def align_by_step(a_nb: NotebookNode, b_nb: NotebookNode) -> list[Row]:
    """Rows pairing the cells of equal step number (the fallback alignment)."""
    ka, kb = _step_keys(a_nb), _step_keys(b_nb)
    index_a, index_b = {k: i for i, k in enumerate(ka)}, {k: i for i, k in enumerate(kb)}
    rows = []
    for key in sorted(set(ka) | set(kb)):
        ia, ib = index_a.get(key), index_b.get(key)
        if ia is not None and ib is not None:
            rows.append(Row(ia, ib, _relate(a_nb, b_nb, ia, ib)))
        else:
            rows.append(Row(ia, ib, "only-a" if ib is None else "only-b"))
    return rows


def align(a_nb: NotebookNode, b_nb: NotebookNode, how: str = "content") -> tuple[list[Row], str]:
    """The rows and the method actually used ("content (nbdime)" or "step")."""
    if how == "content":
        try:
            return align_by_content(a_nb, b_nb), "content (nbdime)"
        except Exception as exc:  # noqa: BLE001 - any nbdime failure: fall back, and say so
            return align_by_step(a_nb, b_nb), f"step (nbdime failed: {type(exc).__name__})"
    if how == "step":
        return align_by_step(a_nb, b_nb), "step"
    raise ValueError(f"align must be 'content' or 'step', got {how!r}")


def _diff_lines(mine: str, other: str, cls: str) -> str:
    """`mine` escaped line by line, lines absent from `other` marked with `cls`."""
    a_lines, b_lines = mine.splitlines(), other.splitlines()
    marked: set[int] = set()
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False).get_opcodes():
        if tag != "equal":
            marked.update(range(i1, i2))
    out = []
    for i, line in enumerate(a_lines):
        text = esc(line) or " "
        out.append(f'<span class="{cls}">{text}</span>' if i in marked else f"{text}\n")
    return f'<pre class="code">{"".join(out)}</pre>'


def _slot(nb: NotebookNode, index: int | None, other_nb: NotebookNode, other: int | None,
          side: str, kind: Kind) -> str:
    if index is None:
        return f'<div class="slot empty {side}"></div>'
    cell: Mapping[str, Any] = nb.cells[index]
    source_html = None
    if kind in ("changed", "replaced") and other is not None and cell.get("cell_type") == "code":
        source_html = _diff_lines(_source(cell), _source(other_nb.cells[other]),
                                  "line-del" if side == "a" else "line-ins")
    return f'<div class="slot {side}">{render_cell(cell, index, source_html=source_html, anchor=f"{side}-cell-{index}")}</div>'


def _is_description(cell: Mapping[str, Any]) -> bool:
    return CellMeta.of(cell).action_type == DESCRIPTION


def build_compare(a: EpisodeData, b: EpisodeData, *, align_how: str = "content",
                  allow_different_tasks: bool = False) -> str:
    """The whole comparison page."""
    problems = [f"A: {p}" for p in a.problems] + [f"B: {p}" for p in b.problems]
    if a.task_id != b.task_id:
        if not allow_different_tasks:
            raise CompareError(f"the episodes are of different tasks ({a.task_id!r} and {b.task_id!r}): "
                               "their scores and cells do not line up; pass --allow-different-tasks "
                               "to compare them anyway")
        problems.insert(0, f"different tasks: A is {a.task_id}, B is {b.task_id}; scores are not comparable")
    rows, method = align(a.nb, b.nb, align_how)
    counts = {k: sum(r.kind == k for r in rows) for k in ("same", "changed", "replaced", "only-a", "only-b")}
    same_scale = a.task_id == b.task_id
    chart = score_chart([Series(f"A: {a.label}", a.submissions, a.n_steps),
                         Series(f"B: {b.label}", b.submissions, b.n_steps)],
                        lower_is_better=a.lower_is_better and same_scale,
                        metric=a.metric if same_scale else "")
    grid = [f'<div class="cmp-grid"><div class="colhead a">A: {esc(a.label)}</div>'
            f'<div class="colhead b">B: {esc(b.label)}</div>']
    for r in rows:
        pair = f'{_slot(a.nb, r.a, b.nb, r.b, "a", r.kind)}{_slot(b.nb, r.b, a.nb, r.a, "b", r.kind)}'
        if r.kind == "same" and r.a is not None and _is_description(a.nb.cells[r.a]):
            pair = (f'<details class="slot"><summary>Task description (A)</summary>{_slot(a.nb, r.a, b.nb, r.b, "a", r.kind)}'
                    f'</details><details class="slot"><summary>Task description (B, the same)</summary>'
                    f'{_slot(b.nb, r.b, a.nb, r.a, "b", r.kind)}</details>')
        grid.append(f'<div class="pair {r.kind}" data-kind="{r.kind}">{pair}</div>')
    grid.append("</div>")
    stats = (f"{len(rows)} rows aligned by {esc(method)}: {counts['same']} same, {counts['changed']} changed, "
             f"{counts['replaced']} replaced, {counts['only-a']} only in A, {counts['only-b']} only in B")
    title = (f"{a.task_id}: {a.label} vs {b.label}" if same_scale
             else f"{a.task_id}: {a.label} vs {b.task_id}: {b.label}")
    body = (
        f"<header><h1>dojo-nb compare: {esc(title)}</h1>"
        f'<div class="subtitle">A = {esc(str(a.path))}<br>B = {esc(str(b.path))}</div></header>'
        f"{problems_banner(problems)}"
        f'<section id="summary"><h2>Summary</h2>{summary_table([a, b])}</section>'
        f'<section id="scores"><h2>Score over steps</h2>{chart}</section>'
        f'<section id="cells"><h2>Cells</h2><p class="muted" id="alignment">{stats}. Highlighted: '
        "changed cells (yellow ring, changed lines marked), cells without a partner (purple ring).</p>"
        f'{"".join(grid)}</section>'
    )
    return page(f"dojo-nb compare: {title}", body, body_class="compare")


def write_compare(a_dir: Path | str, b_dir: Path | str, out: Path | str | None = None, *,
                  align_how: str = "content", allow_different_tasks: bool = False) -> Path:
    """Read both episodes, build the page, write it (nothing written if anything fails)."""
    a, b = load_episode(a_dir), load_episode(b_dir)
    text = build_compare(a, b, align_how=align_how, allow_different_tasks=allow_different_tasks)
    target = Path(out) if out is not None else Path.cwd() / COMPARE_NAME
    return write_page(text, target)


__all__ = ["Row", "CompareError", "align", "align_by_content", "align_by_step", "build_compare",
           "write_compare", "COMPARE_NAME"]
