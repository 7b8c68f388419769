"""`dojo-nb report`: one episode as one self-contained, script-free HTML page.

The page: a title (task, agent, folder), any problems found while reading (unfinished
episode, unreadable summary/replay), the summary table, the score-over-steps chart, the
task description (folded), then every cell with its status, time, reward and outputs.
"""

from __future__ import annotations

from pathlib import Path

from dojo_nb.record import layout
from dojo_nb.record.metadata import DESCRIPTION, CellMeta
from dojo_nb.views.report.cells import render_cell
from dojo_nb.views.report.chart import Series, score_chart
from dojo_nb.views.report.episode import EpisodeData, load_episode
from dojo_nb.views.report.html import esc
from dojo_nb.views.report.page import page, write_page

REPORT_NAME = layout.REPORT


def summary_table(episodes: list[EpisodeData], links: dict[str, str] | None = None) -> str:
    """One column per episode; rows whose values differ are highlighted (compare).

    `links`: row label -> an anchor on the page (one episode: the graded cell)."""
    rows = [ep.summary_rows() for ep in episodes]
    out = ['<table class="summary">']
    if len(episodes) > 1:
        head = "".join(f"<th>{esc(ep.label)}</th>" for ep in episodes)
        out.append(f"<thead><tr><th></th>{head}</tr></thead>")
    out.append("<tbody>")
    for i, (label, _) in enumerate(rows[0]):
        values = [r[i][1] for r in rows]
        differs = len(episodes) > 1 and len(set(values)) > 1
        cls = ' class="differs"' if differs else ""
        href = (links or {}).get(label)
        cells = "".join(f'<td><a href="{esc(href)}">{esc(v)}</a></td>' if href else f"<td>{esc(v)}</td>"
                        for v in values)
        out.append(f'<tr{cls} data-row="{esc(label)}"><th>{esc(label)}</th>{cells}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def problems_banner(problems: list[str]) -> str:
    return "".join(f'<div class="banner">{esc(p)}</div>' for p in problems)


def _search_note(episode: EpisodeData) -> str:
    """For a search agent's episode: how big its tree is, and a link to the tree page."""
    from dojo_nb.record.search_tree import load_search_tree

    tree = load_search_tree(episode.path)
    if tree is None:
        return ""
    best = tree.best
    chosen = f"; it chose node {esc(best)}" if best else "; no node was chosen"
    return (f'<section id="search"><h2>Search</h2><p>This episode ran a tree search of '
            f"{len(tree.nodes)} nodes{chosen}: the cells below replay the chosen one. "
            f'<a href="{esc(layout.SEARCH_PAGE)}">The search tree</a> (written next to this report) '
            "shows every node, its cells and a runnable notebook of each.</p></section>")


def build_report(episode: EpisodeData) -> str:
    """The whole HTML page for one episode."""
    nb = episode.nb
    description = ""
    body_cells = []
    for i, cell in enumerate(nb.cells):
        if CellMeta.of(cell).action_type == DESCRIPTION and not description:
            description = (f'<details><summary>Task description</summary>'
                           f'{render_cell(cell, i, anchor=f"cell-{i}")}</details>')
            continue
        body_cells.append(render_cell(cell, i, anchor=f"cell-{i}"))
    title = f"{episode.task_id} — {episode.agent}"
    search = _search_note(episode)
    graded = episode.graded_cell
    links = {"graded submission": f"#cell-{graded}"} if graded is not None else {}
    chart = score_chart([Series(episode.label, episode.submissions, episode.n_steps)],
                        lower_is_better=episode.lower_is_better, metric=episode.metric)
    body = (
        f"<header><h1>dojo-nb report: {esc(title)}</h1>"
        f'<div class="subtitle">{esc(str(episode.path))} · started {esc(episode.meta.started_at or "?")}'
        f"</div></header>"
        f"{problems_banner(episode.problems)}"
        f'<section id="summary"><h2>Summary</h2>{summary_table([episode], links)}</section>'
        f'<section id="scores"><h2>Score over steps</h2>{chart}</section>{search}'
        f'<section id="cells"><h2>Cells ({len(nb.cells)})</h2>{description}{"".join(body_cells)}</section>'
    )
    return page(f"dojo-nb report: {title}", body)


def write_report(episode_dir: Path | str, out: Path | str | None = None) -> Path:
    """Read the episode, build the page, then write it (nothing is written if reading fails)."""
    episode = load_episode(episode_dir)
    text = build_report(episode)
    target = Path(out) if out is not None else episode.path / REPORT_NAME
    return write_page(text, target)


__all__ = ["build_report", "write_report", "summary_table", "REPORT_NAME"]
