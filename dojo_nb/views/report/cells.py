"""One notebook cell as a card: its step, action, status, time and reward, then its content.

Shared by the report, the comparison and the widgets, so a cell looks the same everywhere.
All content goes through `dojo_nb.views.report.html` (escaped or sanitized).
"""

from __future__ import annotations

from typing import Any, Mapping

from dojo_nb.record.metadata import DESCRIPTION, PARAMETERS, CellMeta
from dojo_nb.views.report.episode import _number, fmt
from dojo_nb.views.report.html import esc, render_code, render_markdown, render_outputs


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src or "")


def cell_header(cell: Mapping[str, Any], index: int | None = None) -> str:
    """The badges line: step, action, status, time, reward, grading message."""
    d = CellMeta.of(cell)
    status = str(d.status or ("ok" if d.action_type in (DESCRIPTION, PARAMETERS) else "?"))
    bits = []
    step = d.step
    if isinstance(step, int) and step > 0:
        bits.append(f"<strong>step {step}</strong>")
    elif d.action_type:
        bits.append(f"<strong>{esc(d.action_type)}</strong>")
    if index is not None:
        bits.append(f'<span class="muted">cell {index}</span>')
    action = d.action_type
    if action and isinstance(step, int) and step > 0:
        bits.append(f"<code>{esc(action)}</code>")
    bits.append(f'<span class="badge status {esc(status)}">{esc(status)}</span>')
    elapsed = _number(d.elapsed_s)
    if elapsed is not None:
        bits.append(f'<span class="muted">{elapsed:.3g} s</span>' if elapsed < 100
                    else f'<span class="muted">{elapsed:.0f} s</span>')
    reward = _number(d.reward)
    if reward is not None:
        bits.append(f'<span class="badge reward">reward {reward:+.4g}</span>')
    grading = d.grading
    if grading and action == "submit" and grading.get("valid"):
        bits.append(f'<span>public score {esc(fmt(_number(grading.get("public_score"))))}, position '
                    f'{esc(fmt(_number(grading.get("public_position_score")), ".4f"))}</span>')
    if d.kernel_restarted:
        bits.append('<span class="badge error">kernel restarted</span>')
    if d.message:
        bits.append(f'<span class="muted">{esc(d.message)}</span>')
    return f'<div class="cell-head">{" ".join(bits)}</div>'


def render_cell(cell: Mapping[str, Any], index: int | None = None, *, source_html: str | None = None,
                anchor: str | None = None) -> str:
    """An ``<article>`` for the cell; `source_html` replaces the highlighted source (diff view)."""
    status = str(CellMeta.of(cell).status or "ok")
    kind = cell.get("cell_type")
    source = _source(cell)
    if kind == "code":
        body = source_html if source_html is not None else render_code(source)
        outputs = render_outputs(cell.get("outputs"))
        if outputs:
            body += f'<div class="outputs">{outputs}</div>'
    elif kind == "markdown":
        body = source_html if source_html is not None else render_markdown(source)
    else:
        body = source_html if source_html is not None else f"<pre>{esc(source)}</pre>"
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return (f'<article{ident} class="cell {esc(kind)} status-{esc(status)}">{cell_header(cell, index)}'
            f'<div class="cell-body">{body}</div></article>')


__all__ = ["render_cell", "cell_header"]
