"""The search-tree page: a search agent's tree as inline SVG, then every node's cells and outputs.

Each node is a circle coloured by its status (good, buggy, failed) and labelled with its id and
self-measured validation score; the path from the first draft down to the node the search
chose is drawn in gold. A node links to its section below (an anchor: no script), which shows
its cells as the report does (the cells that rebuilt the parent's state folded), and links to
the node's runnable notebook (its episode's ``solution.ipynb``) and its trajectory.

The tree is read by `dojo_nb.record.search_tree` (a crafted journal is skipped line by line);
node episodes by the one loader.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from dojo_nb import safe_io
from dojo_nb.record import layout
from dojo_nb.record.metadata import DESCRIPTION, CellMeta
from dojo_nb.record.search_tree import SearchTree, TreeNode, load_search_tree
from dojo_nb.views.report.cells import _source, render_cell
from dojo_nb.views.report.episode import fmt, load_episode
from dojo_nb.views.report.html import esc, render_code
from dojo_nb.views.report.page import page, write_page
from dojo_nb.views.report.report import problems_banner

STATUS_COLORS = {"good": "#2da44e", "buggy": "#cf222e", "failed": "#8c959f"}
_OTHER = "#d4a72c"
_DX, _DY, _R, _M = 100, 72, 17, 36   # column width, row height, node radius, margin


def layout_tree(tree: SearchTree) -> dict[str, tuple[float, int]]:
    """(x slot, depth) per node: leaves in depth-first order, a parent over its children."""
    by_id = {n.id: n for n in tree.nodes}
    pos: dict[str, tuple[float, int]] = {}
    next_slot = 0.0

    def place(node: TreeNode, depth: int) -> float:
        nonlocal next_slot
        xs = [place(by_id[c], depth + 1) for c in node.children if c in by_id and c not in pos]
        if xs:
            x = (xs[0] + xs[-1]) / 2
        else:
            x, next_slot = next_slot, next_slot + 1
        pos[node.id] = (x, depth)
        return x

    for node in tree.nodes:
        if node.parent is None:
            place(node, 1)
    return pos


def _node_label(node: TreeNode) -> str:
    return f"{node.stage} · {node.status}" + (f" · score {fmt(node.score)}" if node.score is not None else "")


def tree_svg(tree: SearchTree) -> str:
    """The tree as an ``<svg>`` (a string); the root at the top is the task (depth 0)."""
    pos = layout_tree(tree)
    win = set(tree.path_to(tree.best))
    slots = max((x for x, _ in pos.values()), default=0.0) + 1
    depth = max((d for _, d in pos.values()), default=0)
    width, height = int(2 * _M + _DX * max(slots, 2) + 30), int(2 * _M + _DY * depth)

    def xy(node_id: str) -> tuple[float, float]:
        x, d = pos[node_id]
        return _M + _DX * (x + 0.5), _M + _DY * d

    top = (_M + _DX * slots / 2, _M)
    parts = [f'<svg class="tree" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>search tree: {len(tree.nodes)} nodes'
             f"</title>"]
    for node in tree.nodes:   # edges first, so circles cover them
        x2, y2 = xy(node.id)
        x1, y1 = xy(node.parent) if node.parent in pos else top
        y1, y2 = y1 + (_R if node.parent in pos else 8), y2 - _R   # bottom of the parent to the top of the child
        on_path = node.id in win and (node.parent is None or node.parent in win)
        cls = "edge win" if on_path else "edge"
        parts.append(f'<path class="{cls}" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{(y1 + y2) / 2:.1f} '
                     f'{x2:.1f},{(y1 + y2) / 2:.1f} {x2:.1f},{y2:.1f}"/>')
    parts.append(f'<g class="node root"><circle cx="{top[0]:.1f}" cy="{top[1]:.1f}" r="8" fill="#57606a"/>'
                 f'<text x="{top[0] + 12:.1f}" y="{top[1] + 4:.1f}">task</text></g>')
    for node in tree.nodes:
        x, y = xy(node.id)
        color = STATUS_COLORS.get(node.status, _OTHER)
        cls = "node win" if node.id in win else "node"
        score = fmt(node.score, ".4g") if node.score is not None else "no score"
        chosen = " (chosen)" if node.id == tree.best else ""
        parts.append(
            f'<a href="#node-{esc(node.id)}"><g class="{cls}" data-node="{esc(node.id)}" '
            f'data-status="{esc(node.status)}"><title>{esc(node.id)}: {esc(_node_label(node))}{chosen}'
            f'{esc(" — " + node.message[:200]) if node.message else ""}</title>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{_R}" fill="{color}"/>'
            f'<text class="in" x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">'
            f"{esc(node.id.split('-')[0])}</text>"
            f'<text x="{x + _R + 4:.1f}" y="{y - 2:.1f}">{esc(node.stage)}</text>'
            f'<text x="{x + _R + 4:.1f}" y="{y + 11:.1f}">{esc(score)}</text></g></a>')
    parts.append("</svg>")
    return "".join(parts)


def _dot(color: str) -> str:
    return (f'<svg class="dot" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">'
            f'<circle cx="6" cy="6" r="5" fill="{color}"/></svg>')


def _legend(tree: SearchTree) -> str:
    keys = " ".join(f"{_dot(c)} {esc(k)}" for k, c in STATUS_COLORS.items())
    direction = {True: "lower is better", False: "higher is better", None: "direction unknown"}[tree.lower_is_better]
    return (f'<p class="muted legend-key">{keys} (failed: the policy returned no cell) · label: node number, '
            f"stage, self-measured validation score ({esc(direction)}) · gold: the path to the node the "
            "search chose. Click a node for its cells.</p>")


def _href(target: Path, page_dir: Path) -> str:
    return quote(Path(os.path.relpath(target, page_dir)).as_posix())


def _node_links(node: TreeNode, page_dir: Path) -> str:
    if node.folder is None:
        return '<span class="muted">no episode folder for this node</span>'
    links = []
    for name, text in ((layout.SOLUTION, "runnable notebook (solution.ipynb)"),
                       (layout.TRAJECTORY, "trajectory")):
        try:
            if safe_io.kind(node.folder, name) == "file":
                links.append(f'<a href="{esc(_href(node.folder / name, page_dir))}">{esc(text)}</a>')
        except (OSError, safe_io.UnsafePathError):
            continue
    return " · ".join(links) or '<span class="muted">the node wrote no notebook</span>'


def _node_cells(node: TreeNode) -> str:
    """The node's cells: the ones that rebuilt its parent folded, its own cell and the rest shown."""
    if node.folder is None:
        return render_code(node.code) if node.code else ""
    try:
        ep = load_episode(node.folder)
    except Exception as exc:  # noqa: BLE001 - one unreadable node never loses the page
        return f'<div class="banner">{esc(exc)}</div>' + (render_code(node.code) if node.code else "")
    cells = list(ep.nb.cells)
    own = max((i for i, c in enumerate(cells) if c.get("cell_type") == "code" and node.code
               and _source(c) == node.code), default=None)
    shown, rebuilt = [], []
    for i, cell in enumerate(cells):
        if CellMeta.of(cell).action_type == DESCRIPTION:
            continue
        html = render_cell(cell, i, anchor=f"node-{node.id}-cell-{i}")
        if own is not None and i < own and CellMeta.of(cell).action_type == "execute_code":
            rebuilt.append(html)
        else:
            shown.append(html)
    folded = (f"<details><summary>{len(rebuilt)} cell(s) re-ran the parent's solution to rebuild its "
              f"kernel state</summary>{''.join(rebuilt)}</details>") if rebuilt else ""
    return folded + "".join(shown)


def _node_section(tree: SearchTree, node: TreeNode, page_dir: Path) -> str:
    parent = (f'parent <a href="#node-{esc(node.parent)}">{esc(node.parent)}</a>' if node.parent
              else "a draft from a fresh kernel")
    kids = ", ".join(f'<a href="#node-{esc(c)}">{esc(c)}</a>' for c in node.children)
    chosen = ' <span class="badge reward">chosen</span>' if node.id == tree.best else ""
    status = f'<span class="badge status {esc("ok" if node.status == "good" else "error")}">{esc(node.status)}</span>'
    facts = [parent] + ([f"children {kids}"] if kids else [])
    if node.elapsed_s is not None:
        facts.append(f"{node.elapsed_s:.1f} s")
    if node.submission_valid is not None:
        facts.append("submission valid" if node.submission_valid else "submission invalid")
    message = f'<p class="muted">{esc(node.message)}</p>' if node.message else ""
    return (f'<section class="node" id="node-{esc(node.id)}"><h3>node {esc(node.id)} · {esc(node.stage)} '
            f"{status} · validation score {esc(fmt(node.score))}{chosen}</h3>"
            f'<p>{" · ".join(facts)}</p>{message}<p>{_node_links(node, page_dir)}</p>'
            f"{_node_cells(node)}</section>")


def build_tree_page(tree: SearchTree, page_dir: Path, *, title: str = "") -> str:
    """The whole page; links are relative to `page_dir` (where the page is written)."""
    s = tree.summary or {}
    best = tree.best
    facts = [f"{len(tree.nodes)} nodes", f"stopped: {s.get('stop_reason', '?')}",
             f"policy: {s.get('policy', '?')}"]
    if best:
        facts.append(f'chosen: <a href="#node-{esc(best)}">{esc(best)}</a> '
                     f"(validation score {esc(fmt(s.get('best_score') if isinstance(s.get('best_score'), (int, float)) else None))})")
    heading = title or f"search tree: {s.get('task', tree.root.parent.name)}"
    counts = {k: sum(n.status == k for n in tree.nodes) for k in STATUS_COLORS}
    body = (f"<header><h1>dojo-nb {esc(heading)}</h1>"
            f'<div class="subtitle">{esc(str(tree.root))} · {" · ".join(esc(f) if "<a" not in f else f for f in facts)}'
            f"</div></header>{problems_banner(tree.problems)}"
            f'<section id="tree"><h2>Tree ({", ".join(f"{n} {k}" for k, n in counts.items())})</h2>'
            f'<div class="tree-wrap">{tree_svg(tree)}</div>{_legend(tree)}'
            f'<p class="muted">Selection: {esc(s.get("selection", "?"))}</p></section>'
            f'<section id="nodes"><h2>Nodes</h2>'
            f'{"".join(_node_section(tree, n, page_dir) for n in tree.nodes)}</section>')
    return page(f"dojo-nb {heading}", body)


def write_tree_page(path: Path | str, out: Path | str | None = None) -> Path | None:
    """The page for the search under `path` (an episode or its search folder); None if it has none.

    Default target: ``search-tree.html`` in the episode folder (written without following a link)."""
    tree = load_search_tree(path)
    if tree is None:
        return None
    folder = Path(path).expanduser()
    folder = folder.parent if folder.is_file() else folder
    if out is not None:
        target = Path(out).expanduser().resolve()
        return write_page(build_tree_page(tree, target.parent), target)
    folder = folder.resolve()
    return safe_io.write_text(folder, layout.SEARCH_PAGE, build_tree_page(tree, folder))


__all__ = ["STATUS_COLORS", "build_tree_page", "layout_tree", "tree_svg", "write_tree_page"]
