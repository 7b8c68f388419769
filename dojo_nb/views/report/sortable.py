"""Sortable tables: rendered sorted in Python (readable with script off), re-sorted by a click.

The click needs a script. The page's Content-Security-Policy allows exactly this one, by its
sha256 hash (`dojo_nb.views.report.page.page(script=...)`), and it only reorders rows: it
reads ``data-v`` attributes (numbers written by us) and cell text, and builds no HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from dojo_nb.views.report.html import esc

SORT_SCRIPT = """\
"use strict";
for (const table of document.querySelectorAll("table.sortable")) {
  const heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach((th, col) => {
    const button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", () => {
      const up = th.getAttribute("aria-sort") !== "ascending";
      for (const h of heads) h.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      const num = th.dataset.type === "num";
      const key = (row) => {
        const cell = row.cells[col];
        const v = cell ? (cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim()) : "";
        return num ? (v === "" ? NaN : Number(v)) : v;
      };
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        if (num) {
          if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) - Number.isNaN(y);
          return up ? x - y : y - x;
        }
        return up ? x.localeCompare(y) : y.localeCompare(x);
      });
      for (const row of rows) body.appendChild(row);
    });
  });
}
"""


@dataclass(frozen=True)
class Column:
    """A header: its label, whether it sorts as numbers, and an explanation (the tooltip)."""

    label: str
    numeric: bool = False
    help: str = ""


@dataclass(frozen=True)
class Cell:
    """One value: `html` is already safe; `sort` is the number a numeric column sorts by."""

    html: str
    sort: float | None = None


def text_cell(value: object) -> Cell:
    return Cell(esc("—" if value is None else value))


def number_cell(value: float | None, spec: str = ".6g") -> Cell:
    return Cell("—" if value is None else esc(format(value, spec)), value)


def sortable_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *, table_id: str,
                   row_classes: Sequence[str] | None = None) -> str:
    """A ``<table class="board sortable">``: every header a button (with the script on)."""
    head = []
    for c in columns:
        kind = ' data-type="num"' if c.numeric else ""
        tip = f' title="{esc(c.help)}"' if c.help else ""
        head.append(f'<th scope="col"{kind}{tip}><button type="button">{esc(c.label)}</button></th>')
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        tds = []
        for col, cell in zip(columns, row):
            attrs = ' class="num"' if col.numeric else ""
            if col.numeric and cell.sort is not None:
                attrs += f' data-v="{cell.sort!r}"'
            tds.append(f"<td{attrs}>{cell.html}</td>")
        body.append(f"<tr{cls}>{''.join(tds)}</tr>")
    return (f'<table class="board sortable" id="{esc(table_id)}"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


__all__ = ["Cell", "Column", "SORT_SCRIPT", "number_cell", "sortable_table", "text_cell"]
