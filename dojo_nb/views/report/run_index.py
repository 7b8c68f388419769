"""`dojo-nb report RUN_DIR`: the index of a folder of episodes, the view MLE-bench users build by hand.

One page with a leaderboard (task, agent, steps, valid, public and private score, position,
medal, reproduced, time; sortable), the medals per agent as MLE-bench's summary counts them,
and links to each episode's report (written next to it, as `dojo-nb report EPISODE` does), to
a search episode's tree page, and to compare pages of the episodes of one task. The same
rows go to ``index.json`` and ``index.csv`` for people who plot them themselves.

Episodes are found by `dojo_nb.record.runs.find_episodes` and read by the one loader; an
episode that cannot be read (or shown) is a row with its error, never the end of the index.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from dojo_nb import safe_io
from dojo_nb.record import layout
from dojo_nb.record.runs import find_episodes
from dojo_nb.views.report.compare import build_compare
from dojo_nb.views.report.episode import EpisodeData, _number, load_episode
from dojo_nb.views.report.html import esc
from dojo_nb.views.report.medals import MEDALS, medal_thresholds, recorded_thresholds
from dojo_nb.views.report.page import page
from dojo_nb.views.report.report import build_report, problems_banner
from dojo_nb.views.report.sortable import (SORT_SCRIPT, Cell, Column, number_cell, sortable_table,
                                           text_cell)
from dojo_nb.views.report.tree import write_tree_page

#: Compare pages written per task at most (pairs of its first episodes): n episodes make n(n-1)/2.
MAX_PAIRS_PER_TASK = 15
CSV_FIELDS = ("folder", "task", "agent", "steps", "valid", "public_score", "private_score",
              "public_position_score", "private_position_score", "medal", "above_median", "reproduced",
              "elapsed_s", "metric", "lower_is_better", "error")


@dataclass
class IndexRow:
    """One episode of the run, as the table, the JSON and the CSV show it."""

    folder: str                              # relative to the run folder
    task: str | None = None
    agent: str | None = None
    steps: int | None = None
    valid: bool | None = None
    public_score: float | None = None
    private_score: float | None = None
    public_position_score: float | None = None
    private_position_score: float | None = None
    medal: str | None = None
    above_median: bool | None = None
    reproduced: bool | None = None
    elapsed_s: float | None = None
    lower_is_better: bool | None = None
    metric: str | None = None
    thresholds: dict[str, float] | None = None   # as the final grade recorded them
    error: str | None = None                 # why the episode cannot be read, or a page not written
    report: str | None = None                # links, relative to the index page
    tree: str | None = None
    compare: list[tuple[str, str]] = field(default_factory=list)   # (href, the other episode's label)


def row_of(ep: EpisodeData, folder: str) -> IndexRow:
    final = ep.final
    above = final.get("above_median")
    return IndexRow(
        folder=folder, task=ep.task_id, agent=ep.agent, steps=ep.n_steps, valid=bool(final.get("valid")),
        public_score=_number(final.get("public_score")), private_score=ep.final_private_score,
        public_position_score=ep.final_public_position, private_position_score=ep.final_private_position,
        medal=ep.medal, above_median=above if isinstance(above, bool) else None, reproduced=ep.reproduced,
        elapsed_s=ep.elapsed_s, lower_is_better=ep.lower_is_better, metric=ep.metric or None,
        thresholds=dict(recorded_thresholds(ep.final)) or None)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "x"


def _href(target: Path, page_dir: Path) -> str:
    return quote(Path(os.path.relpath(target, page_dir)).as_posix())


@dataclass
class RunIndex:
    """What `write_run_index` wrote: the rows, the walk's problems and the files."""

    root: Path
    rows: list[IndexRow]
    problems: list[str]
    written: list[Path] = field(default_factory=list)
    tree: str | None = None        # the folder's own search tree (`run_search`'s OUT/search), if any


def _episode_pages(ep: EpisodeData, row: IndexRow, out: Path) -> None:
    """The episode's report (and search-tree page) next to it, linked from the row."""
    try:
        path = safe_io.write_text(ep.path, layout.REPORT, build_report(ep))
        row.report = _href(path, out)
    except Exception as exc:  # noqa: BLE001 - a page that cannot be written is a note in its row
        row.error = f"report not written: {type(exc).__name__}: {exc}"
    try:
        tree = write_tree_page(ep.path)
        if tree is not None:
            row.tree = _href(tree, out)
    except Exception as exc:  # noqa: BLE001
        row.error = f"search tree page not written: {type(exc).__name__}: {exc}"


def collect(root: Path | str, out: Path | str | None = None, *,
            on_episode: Callable[[str], None] | None = None) -> tuple[RunIndex, dict[int, Path]]:
    """Read every episode under `root` (and write its report); bad ones become error rows.

    Returns the index and, per row that was read, its folder (episodes are not kept in memory:
    a run of hundreds would hold every notebook)."""
    root = Path(root).expanduser().resolve()
    out_dir = Path(out).resolve() if out is not None else root
    walk = find_episodes(root)
    problems = [f"{p.relative_to(root) if p != root else p}: {why}" for p, why in walk.problems]
    if walk.truncated:
        problems.append(f"the walk stopped at {len(walk.episodes)} episode folders; some are not listed")
    rows: list[IndexRow] = []
    loaded: dict[int, Path] = {}
    for path in walk.episodes:
        folder = path.relative_to(root).as_posix()
        if on_episode is not None:
            on_episode(folder)
        try:
            ep = load_episode(path)
            row = row_of(ep, folder)
        except Exception as exc:  # noqa: BLE001 - ReportError and anything a crafted folder provokes
            message = str(exc).replace(str(path), folder)  # the row names its folder already: keep it short
            rows.append(IndexRow(folder=folder, error=f"{type(exc).__name__}: {message}"[:500]))
            continue
        _episode_pages(ep, row, out_dir)
        loaded[len(rows)] = path
        rows.append(row)
    order = sorted(range(len(rows)), key=lambda i: (rows[i].task is None, rows[i].task or "",
                                                    rows[i].agent or "", rows[i].folder))
    return (RunIndex(root, [rows[i] for i in order], problems),
            {new: loaded[old] for new, old in enumerate(order) if old in loaded})


def write_compares(index: RunIndex, loaded: dict[int, Path], out: Path) -> None:
    """Compare pages for pairs of episodes of one task, under ``out/compare/`` (one task's
    episodes in memory at a time)."""
    by_task: dict[str, list[int]] = {}
    for i, row in enumerate(index.rows):
        if i in loaded and row.task:
            by_task.setdefault(row.task, []).append(i)
    for task, members in by_task.items():
        # Two agents side by side first, then neighbours in the table: with many episodes the
        # pages kept spread over the episodes instead of all pairing the first one.
        pairs = sorted(combinations(members, 2), key=lambda p: (
            index.rows[p[0]].agent == index.rows[p[1]].agent, p[1] - p[0], p[0]))
        if len(pairs) > MAX_PAIRS_PER_TASK:
            index.problems.append(f"{task}: {len(pairs)} pairs of episodes; compare pages for the first "
                                  f"{MAX_PAIRS_PER_TASK} only")
        episodes: dict[int, EpisodeData] = {}
        for ia, ib in pairs[:MAX_PAIRS_PER_TASK]:
            name = f"{layout.RUN_COMPARE_DIR}/{_slug(task)}-{ia + 1}-vs-{ib + 1}.html"
            try:
                for i in (ia, ib):
                    if i not in episodes:
                        episodes[i] = load_episode(loaded[i])
                a, b = episodes[ia], episodes[ib]
                path = safe_io.write_text(out, name, build_compare(a, b))
            except Exception as exc:  # noqa: BLE001
                index.problems.append(f"{task}: compare of rows {ia + 1} and {ib + 1} not written ({exc})")
                continue
            index.written.append(path)
            href = quote(name)
            index.rows[ia].compare.append((href, f"#{ib + 1} {b.agent}"))
            index.rows[ib].compare.append((href, f"#{ia + 1} {a.agent}"))


def medal_counts(rows: list[IndexRow]) -> list[dict[str, Any]]:
    """Per agent: episodes, valid submissions, above median, gold/silver/bronze, any medal (MLE-bench's)."""
    agents: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.error and row.task is None:
            continue
        a = agents.setdefault(row.agent or "?", {"agent": row.agent or "?", "episodes": 0, "valid": 0,
                                                  "above_median": 0, **dict.fromkeys(MEDALS, 0), "any_medal": 0})
        a["episodes"] += 1
        a["valid"] += bool(row.valid)
        a["above_median"] += bool(row.above_median)
        if row.medal in MEDALS:
            a[row.medal] += 1
            a["any_medal"] += 1
    for a in agents.values():
        a["any_medal_pct"] = round(100.0 * a["any_medal"] / a["episodes"], 1) if a["episodes"] else 0.0
    return sorted(agents.values(), key=lambda a: (-a["any_medal"], -a["valid"], a["agent"]))


_BOARD = (Column("#", True), Column("task"), Column("agent"), Column("steps", True),
          Column("valid", help="the final grade is of a valid submission"),
          Column("public score", True, "the graded submission's public score (the metric's units)"),
          Column("private score", True, "the graded submission's private score"),
          Column("position", True, "private position score: the share of the leaderboard it beats, 0..1"),
          Column("medal"), Column("reproduced", help="replay.json: the solution re-ran to the same score"),
          Column("time (s)", True), Column("pages"), Column("folder"))


def _yes_no(value: bool | None, unknown: str = "—") -> str:
    return unknown if value is None else ("yes" if value else "no")


def _board_row(i: int, row: IndexRow) -> list[Cell]:
    links = []
    if row.report:
        links.append(f'<a href="{esc(row.report)}">report</a>')
    if row.tree:
        links.append(f'<a href="{esc(row.tree)}">search tree</a>')
    links += [f'<a href="{esc(h)}">vs {esc(label)}</a>' for h, label in row.compare]
    if row.error:
        links.append(f'<span class="badge error" title="{esc(row.error)}">error</span> '
                     f'<span class="muted">{esc(row.error)}</span>')
    direction = "" if row.lower_is_better is None else (" ↓" if row.lower_is_better else " ↑")
    medal = f'<span class="medal {esc(row.medal)}">{esc(row.medal)}</span>' if row.medal else "—"
    public = number_cell(row.public_score)
    if row.public_score is not None:
        public = Cell(public.html + f'<span class="muted" title="lower/higher is better">{direction}</span>',
                      public.sort)
    return [number_cell(float(i + 1), ".0f"), text_cell(row.task or "?"), text_cell(row.agent or "?"),
            number_cell(float(row.steps) if row.steps is not None else None, ".0f"),
            text_cell(_yes_no(row.valid)), public, number_cell(row.private_score),
            number_cell(row.private_position_score, ".4f"), Cell(medal),
            text_cell(_yes_no(row.reproduced, "—" if row.task is None else "not replayed")),
            number_cell(row.elapsed_s, ".1f"), Cell(" · ".join(links)), text_cell(row.folder)]


def _task_table(rows: list[IndexRow]) -> str:
    """Per task: metric and direction, episodes, the best private score (and whose), the thresholds."""
    cols = (Column("task"), Column("metric"), Column("episodes", True), Column("best private score", True),
            Column("by"), Column("gold", True), Column("silver", True), Column("bronze", True),
            Column("median", True))
    out = []
    for task in sorted({r.task for r in rows if r.task}):
        mine = [r for r in rows if r.task == task]
        lower = bool(mine[0].lower_is_better)
        scored = [r for r in mine if r.valid and r.private_score is not None]
        best = (min if lower else max)(scored, key=lambda r: r.private_score) if scored else None
        recorded = next((r.thresholds for r in mine if r.thresholds), None)
        t = dict(recorded or medal_thresholds(task))
        metric = f"{mine[0].metric or '?'} ({'lower' if lower else 'higher'} is better)"
        out.append([text_cell(task), text_cell(metric), number_cell(float(len(mine)), ".0f"),
                    number_cell(best.private_score if best else None), text_cell(best.agent if best else None),
                    *(number_cell(t.get(k)) for k in (*MEDALS, "median"))])
    return sortable_table(cols, out, table_id="tasks")


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def build_index_page(index: RunIndex) -> str:
    """The index page (a hashed sorting script; no other script, nothing fetched)."""
    rows = index.rows
    agents = medal_counts(rows)
    board = sortable_table(_BOARD, [_board_row(i, r) for i, r in enumerate(rows)], table_id="leaderboard",
                           row_classes=["broken" if r.error and r.task is None else "" for r in rows])
    cols = (Column("agent"), Column("episodes", True), Column("valid", True), Column("above median", True),
            Column("gold", True), Column("silver", True), Column("bronze", True), Column("any medal", True),
            Column("any medal %", True))
    keys = ("episodes", "valid", "above_median", *MEDALS, "any_medal")
    medal_rows = [[text_cell(a["agent"]), *(number_cell(float(a[k]), ".0f") for k in keys),
                   number_cell(a["any_medal_pct"], ".1f")] for a in agents]
    tasks = sorted({r.task for r in rows if r.task})
    broken = sum(1 for r in rows if r.error and r.task is None)
    title = f"dojo-nb run: {index.root.name}"
    tree = (f'<p>This folder holds a search: <a href="{esc(index.tree)}">its search tree</a>.</p>'
            if index.tree else "")
    body = (
        f"<header><h1>{esc(title)}</h1>"
        f'<div class="subtitle">{esc(str(index.root))} · {_count(len(rows), "episode")} · '
        f'{_count(len(tasks), "task")} · {_count(len(agents), "agent")}'
        f'{f" · {broken} unreadable" if broken else ""} · written '
        f'{esc(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))}</div></header>'
        f"{problems_banner(index.problems)}{tree}"
        f'<section id="medals"><h2>Medals per agent</h2>{sortable_table(cols, medal_rows, table_id="agents")}'
        '<p class="muted">As MLE-bench counts them: the final (graded) submission of each episode against '
        "the task's leaderboard. Click a header to sort.</p></section>"
        f'<section id="tasks"><h2>Tasks</h2>{_task_table(rows)}<p class="muted">Medal thresholds: the '
        "scores gold, silver and bronze take on the board the episodes were graded against (as their "
        "final grade recorded it; else this installation's board; empty: none).</p></section>"
        f'<section id="board"><h2>Leaderboard</h2>{board}'
        f'<p class="muted">The same data: <a href="{esc(layout.RUN_INDEX_JSON)}">{esc(layout.RUN_INDEX_JSON)}</a>'
        f' · <a href="{esc(layout.RUN_INDEX_CSV)}">{esc(layout.RUN_INDEX_CSV)}</a>. Scores are the graded '
        "submission's (↑ higher is better, ↓ lower is better); position is its private position score."
        "</p></section>")
    return page(title, body, script=SORT_SCRIPT)


def index_json(index: RunIndex) -> str:
    rows = []
    for r in index.rows:
        d = asdict(r)
        d["compare"] = [h for h, _ in r.compare]
        rows.append(d)
    return json.dumps({"run": str(index.root), "episodes": rows, "agents": medal_counts(index.rows),
                       "problems": index.problems}, indent=1) + "\n"


def index_csv(index: RunIndex) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in index.rows:
        writer.writerow({k: ("" if v is None else v) for k, v in asdict(r).items() if k in CSV_FIELDS})
    return buf.getvalue()


def write_run_index(root: Path | str, out: Path | str | None = None, *,
                    on_episode: Callable[[str], None] | None = None) -> RunIndex:
    """Reports, compare pages, then index.html / .json / .csv in `out` (default: the run folder)."""
    root = Path(root).expanduser().resolve()
    out_dir = Path(out).expanduser().resolve() if out is not None else root
    out_dir.mkdir(parents=True, exist_ok=True)
    index, loaded = collect(root, out_dir, on_episode=on_episode)
    write_compares(index, loaded, out_dir)
    try:
        tree = write_tree_page(root, out_dir / layout.SEARCH_PAGE if out_dir != root else None)
    except Exception as exc:  # noqa: BLE001
        index.problems.append(f"the folder's search tree page was not written ({exc})")
        tree = None
    if tree is not None:
        index.written.append(tree)
        index.tree = _href(tree, out_dir)
    for name, text in ((layout.RUN_INDEX_JSON, index_json(index)), (layout.RUN_INDEX_CSV, index_csv(index)),
                       (layout.RUN_INDEX, build_index_page(index))):
        index.written.append(safe_io.write_text(out_dir, name, text))
    return index


__all__ = ["IndexRow", "RunIndex", "build_index_page", "collect", "index_csv", "index_json", "medal_counts",
           "write_run_index", "MAX_PAIRS_PER_TASK"]
