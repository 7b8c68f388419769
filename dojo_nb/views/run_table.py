"""The run summary (`dojo-nb run`, `dojo-nb resume`), readable in any terminal width.

Task ids and verdicts are never cut: a table with short headers when it fits, else one block
per episode; failure reasons go below, whole, instead of a one-word-per-line column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

#: Cut a failure reason here (it is in summary.json / replay.json in full).
MAX_REASON = 400


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _reasons(o: Any) -> tuple[str, str | None, str, str | None]:
    """(valid verdict, why not valid, replay verdict, why not reproduced) of one outcome."""
    final = o.final or {}
    invalid_why = None if o.valid else (o.error or final.get("message") or None)
    if not o.replay:
        return ("yes" if o.valid else "no"), invalid_why, "-", None
    ok = bool(o.replay.get("reproduced"))
    return ("yes" if o.valid else "no"), invalid_why, ("reproduced" if ok else "no"), \
        (None if ok else (o.replay.get("message") or None))


def _cells(o: Any) -> list[tuple[str, str]]:
    """(header, text) of one outcome's figures, in table order."""
    final = o.final or {}
    valid, _, replay, _ = _reasons(o)
    return [("steps", str(o.steps)), ("valid", valid),
            ("pub.pos", _fmt(final.get("public_position_score"), 3)),
            ("score", _fmt(final.get("private_score"))),
            ("pos", _fmt(final.get("private_position_score"), 3)),
            ("gap", _fmt(final.get("gap_closed"), 3)),
            ("medal", final.get("medal") or "-"), ("replay", replay), ("time", f"{o.elapsed_s:.0f}s")]


_STYLE = {"yes": "green", "reproduced": "green", "no": "red"}


#: Columns a narrow terminal loses first (summary.json has them all).
_OPTIONAL = ("gap",)


def _table(outcomes: Sequence[Any], drop: Sequence[str] = ()) -> Table:
    table = Table(title="dojo-nb run", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                  padding=(0, 1, 0, 0))
    table.add_column("task", no_wrap=True, overflow="ignore")
    for header, _ in _cells(outcomes[0]) if outcomes else []:
        if header in drop:
            continue
        left = header in ("valid", "medal", "replay")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for o in outcomes:
        table.add_row(o.task_id, *(Text(text, style=_STYLE.get(text, "")) for header, text in _cells(o)
                                   if header not in drop))
    return table


def _blocks(outcomes: Sequence[Any]) -> Group:
    """One episode per block: the id on its own line, then its figures on two short lines
    (under 50 columns each, so no figure is split from its name)."""
    parts: list[RenderableType] = [Text("dojo-nb run", style="italic")]
    for o in outcomes:
        parts.append(Text(o.task_id, style="bold"))
        cells = dict(_cells(o))
        for names in (("valid", "replay", "steps", "time"), ("pub.pos", "score", "pos"), ("gap", "medal")):
            line = Text("  ")
            for name in names:
                line.append(f"{name} ", style="dim")
                line.append(cells[name], style=_STYLE.get(cells[name], ""))
                line.append("  ")
            parts.append(line)
    return Group(*parts)


def summary_view(outcomes: Sequence[Any], width: int) -> RenderableType:
    """The summary for a terminal `width` columns wide: the table if it fits, else blocks;
    reasons for invalid or unreproduced episodes below either, in full."""
    body: RenderableType = _blocks(outcomes)
    for drop in ((), _OPTIONAL):  # the whole table, then without the optional columns, then blocks
        table = _table(outcomes, drop)
        if Console(width=10_000).measure(table).maximum <= width:
            body = table
            break
    notes: list[RenderableType] = []
    for o in outcomes:
        _, invalid_why, _, replay_why = _reasons(o)
        for label, why in (("not valid", invalid_why), ("not reproduced", replay_why)):
            if why:
                text = Text(f"{o.task_id} {label}: ", style="red")
                text.append(str(why)[:MAX_REASON], style="")
                notes.append(text)
    return Group(body, *notes) if notes else body
