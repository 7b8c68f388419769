"""`dojo-nb report EPISODE_DIR` and `dojo-nb compare A B`: HTML pages people read in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report_cmd(
    episode_dir: Path = typer.Argument(..., help="an episode folder (or its trajectory.ipynb)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="default: EPISODE_DIR/report.html"),
) -> None:
    """Write one self-contained HTML page for an episode (cells, outputs, scores, summary)."""
    from dojo_nb.views.report import ReportError, write_report

    try:
        path = write_report(episode_dir, out) if out is not None else _write_in_episode(episode_dir)
    except (ReportError, OSError) as exc:
        typer.echo(f"cannot write the report: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(str(path))


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
