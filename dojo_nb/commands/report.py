"""`dojo-nb report PATH` and `dojo-nb compare A B`: HTML pages people read in a browser.

PATH may be an episode (its report, plus the search-tree page of a search agent's episode),
a search folder (its tree page), or a folder of episodes (the run index: every episode's
report, compare pages per task, and index.html / index.json / index.csv).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report_cmd(
    path: Path = typer.Argument(..., help="an episode folder (or its trajectory.ipynb), a search folder, "
                                          "or a folder of episodes (a run)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="episode: the report file (default "
                                       "EPISODE/report.html); run: the folder for index.html (default RUN)"),
) -> None:
    """Write self-contained HTML pages: an episode's report, a search tree, or a run's index."""
    from dojo_nb.record import layout
    from dojo_nb.record.runs import holds_trajectory_link, is_episode_folder
    from dojo_nb.record.search_tree import search_folder
    from dojo_nb.views.report import ReportError, write_report
    from dojo_nb.views.report.tree import write_tree_page

    try:
        # A folder whose trajectory.ipynb is a link is an episode folder refused by the loader
        # (it says why), not a run to walk.
        if (path.is_dir() and not path.is_symlink() and not is_episode_folder(path)
                and not holds_trajectory_link(path)):
            if search_folder(path) == path:
                written = [write_tree_page(path, out)]
            else:
                written = _write_run_index(path, out)
        else:
            report = write_report(path, out) if out is not None else _write_in_episode(path)
            tree_out = report.with_name(layout.SEARCH_PAGE) if out is not None else None
            written = [report, write_tree_page(path, tree_out)]
    except (ReportError, OSError) as exc:
        typer.echo(f"cannot write the report: {exc}", err=True)
        raise typer.Exit(2) from None
    for p in written:
        if p is not None:
            typer.echo(str(p))


def _write_run_index(run_dir: Path, out: Optional[Path]) -> list[Path]:
    """The run index, with a progress line per episode; exit 2 when no episode is found."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dojo_nb.record import layout
    from dojo_nb.views.report.run_index import write_run_index

    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        bar = progress.add_task(f"reading {run_dir}", total=None)
        index = write_run_index(run_dir, out, on_episode=lambda f: progress.update(bar, description=f))
    if not index.rows and index.tree is None:
        typer.echo(f"{run_dir}: no {layout.TRAJECTORY} here or in its sub-folders "
                   "(is this an episode folder or a run?)", err=True)
        raise typer.Exit(2)
    broken = [r for r in index.rows if r.error]
    reports = sum(1 for r in index.rows if r.report)
    compares = sum(1 for p in index.written if p.parent.name == layout.RUN_COMPARE_DIR)
    console.print(f"{len(index.rows)} episodes, {len(broken)} with an error; {reports} reports (next to "
                  f"their episodes), {compares} compare pages, the index as HTML, JSON and CSV", highlight=False)
    return [p for p in index.written if p.name in (layout.SEARCH_PAGE, layout.RUN_INDEX)]


def _write_in_episode(episode_dir: Path) -> Path:
    """The default report.html, written as a fresh file in the episode folder: a link planted
    at report.html (the folder may be crafted) is replaced, never written through."""
    from dojo_nb import safe_io
    from dojo_nb.views.report.episode import load_episode
    from dojo_nb.views.report.report import REPORT_NAME, build_report

    episode = load_episode(episode_dir)
    return safe_io.write_text(episode.path, REPORT_NAME, build_report(episode))


def compare_cmd(
    a: Path = typer.Argument(..., help="episode A (folder or trajectory.ipynb)"),
    b: Path = typer.Argument(..., help="episode B (folder or trajectory.ipynb)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="default: ./compare.html"),
    align: str = typer.Option("content", help="align cells by 'content' (nbdime) or by 'step'"),
    allow_different_tasks: bool = typer.Option(False, "--allow-different-tasks",
                                               help="compare episodes of two different tasks anyway"),
) -> None:
    """Write an HTML page with two episodes side by side, cells aligned, both score curves."""
    from dojo_nb.views.report import ReportError, write_compare

    if align not in ("content", "step"):
        typer.echo(f"--align must be 'content' or 'step', not {align!r}", err=True)
        raise typer.Exit(2)
    try:
        path = write_compare(a, b, out, align_how=align, allow_different_tasks=allow_different_tasks)
    except (ReportError, OSError) as exc:
        typer.echo(f"cannot compare: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
    app.command("compare")(compare_cmd)
