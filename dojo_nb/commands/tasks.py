"""`dojo-nb tasks ...` and `dojo-nb grade`: browse, prepare, import and grade tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import Progress
from rich.table import Table
from dojo_nb.tasks.grading import grade_submission
from dojo_nb.tasks.leaderboard import load_leaderboard
from dojo_nb.tasks.cache import prepare_task

console = Console()
tasks_app = typer.Typer(help="Browse, prepare and import tasks.", no_args_is_help=True)


def _split_option(split: Optional[str]) -> Optional[str]:
    from dojo_nb.tasks.catalogue import is_split, known_splits

    if split is not None and not is_split(split):
        raise typer.BadParameter(f"--split must be one of {', '.join(known_splits())}")
    return split


@tasks_app.command("list")
def list_cmd(split: Optional[str] = typer.Option(None, help="train, eval, or a suite of imported tasks: "
                                                             "mlebench, mlebench-lite, mledojo, mledojo-<group>"),
             as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """List the tasks in the catalogue."""
    from dojo_nb.tasks import list_tasks

    tasks = list_tasks(_split_option(split))
    if as_json:
        typer.echo(json.dumps([t.metadata() | {"source": t.source} for t in tasks], indent=2))
        return
    from dojo_nb.tasks.size import published_rows

    table = Table(title=f"{len(tasks)} tasks")
    table.add_column("id", no_wrap=True)
    for col in ("type", "metric", "better", "split", "source"):
        table.add_column(col, overflow="fold")
    table.add_column("train rows", justify="right")
    table.add_column("test rows", justify="right")
    for t in tasks:
        rows = published_rows(t)
        table.add_row(t.id, t.type, t.metric, "lower" if t.lower_is_better else "higher", t.split, t.source,
                      *((f"{rows[0]:,}", f"{rows[1]:,}") if rows else ("", "")))
    console.print(table)


def _load(task_id: str):
    from dojo_nb.tasks import load_task

    try:
        return load_task(task_id)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from None


@tasks_app.command("show")
def show_cmd(task_id: str) -> None:
    """Show a task's description, files and leaderboard summary."""
    task = _load(task_id)
    console.print(Markdown(task.description or f"# {task.name}"))
    data = prepare_task(task)
    table = Table(title="public files")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    for f in sorted(data.public_dir.iterdir()):
        table.add_row(f.name, f"{f.stat().st_size:,}")
    console.print(table)
    t = load_leaderboard(task).thresholds()
    if t:
        console.print("medal thresholds (private score): " + ", ".join(f"{k} {v:.5g}" for k, v in t.items()))


@tasks_app.command("leaderboard")
def leaderboard_cmd(task_id: str) -> None:
    """Show a task's leaderboard (a built-in task's: its references on this installation's draw)."""
    import pandas as pd

    from dojo_nb.tasks.leaderboard import leaderboard_path

    task = _load(task_id)
    board = load_leaderboard(task)
    path = leaderboard_path(task)
    if not path.is_file():
        console.print(f"[yellow]{task.id} has no leaderboard[/yellow]")
        raise typer.Exit(1)
    frame = pd.read_csv(path)
    medals = {"gold": "[yellow]gold[/yellow]", "silver": "silver", "bronze": "[dark_orange]bronze[/dark_orange]"}
    table = Table(title=f"{task.id}: {task.metric} ({'lower' if task.lower_is_better else 'higher'} is better), {len(frame)} entries")
    for col in ("#", "entry", "private score", "public score", "medal"):
        table.add_column(col, justify="right" if col in ("#", "private score", "public score") else "left")
    for i, row in enumerate(frame.itertuples(index=False), start=1):
        public = getattr(row, "publicScore", float("nan"))
        table.add_row(str(i), str(row.teamName), f"{row.score:.6g}", f"{public:.6g}",
                      medals.get(board.medal(float(row.score)) or "", ""))
    console.print(table)
    console.print(f"[dim]{path}[/dim]")


@tasks_app.command("prepare")
def prepare_cmd(task_id: Optional[str] = typer.Argument(None), all_tasks: bool = typer.Option(False, "--all"),
                force: bool = typer.Option(False, help="prepare again even if cached")) -> None:
    """Prepare a task's public/private data into the cache (instant when already cached)."""
    from dojo_nb.tasks import list_tasks

    if not task_id and not all_tasks:
        raise typer.BadParameter("give a task id or --all")
    tasks = list_tasks() if all_tasks else [_load(task_id)]
    with Progress(console=console) as progress:
        bar = progress.add_task("preparing", total=len(tasks))
        for task in tasks:
            data = prepare_task(task, force=force)
            progress.console.print(f"{task.id}: {data.public_dir}")
            progress.advance(bar)


def _outcomes_table(title: str, outcomes) -> Table:
    table = Table(title=title)
    table.add_column("competition")
    table.add_column("result")
    table.add_column("details", overflow="fold")
    for o in outcomes:
        warned = o.imported and "warning:" in o.message
        mark = "[yellow]imported[/yellow]" if warned else "[green]imported[/green]" if o.imported else "[red]not imported[/red]"
        table.add_row(o.competition, mark, o.message)
    return table


def _report_bulk(title: str, outcomes) -> None:
    console.print(_outcomes_table(title, outcomes))
    done = sum(o.imported for o in outcomes)
    console.print(f"{done} of {len(outcomes)} imported in place (no data copied); "
                  f"see them with `dojo-nb tasks list --split {title.split()[0]}`")
    if done < len(outcomes):
        raise typer.Exit(1)


@tasks_app.command("import-mlebench")
def import_cmd(
    args: Optional[list[str]] = typer.Argument(None, help="with --prepared: the competition folder; "
                                                           "with --data-dir: competition ids (default: all prepared)"),
    prepared: Optional[Path] = typer.Option(None, "--prepared", help="one competition: folder holding prepared public/ and private/ (copied)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="MLE-bench data directory: imports <dir>/<id>/prepared in place"),
    competitions_dir: Optional[Path] = typer.Option(None, "--competitions-dir", help="mle-bench/mlebench/competitions "
                                                     "(default: that of an installed mlebench)"),
    lite: bool = typer.Option(False, "--lite", help="with --data-dir: MLE-bench's Lite split (22 competitions)"),
    every: bool = typer.Option(False, "--all", help="with --data-dir: every prepared competition (the default)"),
    overwrite: bool = typer.Option(False, help="import again, dropping every cached copy"),
) -> None:
    """Import MLE-bench competitions: one (copied) with --prepared, or a whole data directory in place."""
    from dojo_nb.tasks.mlebench_import import import_mlebench
    from dojo_nb.tasks.spec import TaskError, load_task_folder

    if data_dir is not None:
        from dojo_nb.tasks.mlebench_bulk import default_competitions_dir, import_data_dir

        if prepared is not None or (lite and (every or args)) or (every and args):
            raise typer.BadParameter("with --data-dir give ids, --lite or --all (not --prepared)")
        code = competitions_dir or default_competitions_dir()
        if code is None:
            raise typer.BadParameter("give --competitions-dir (mle-bench/mlebench/competitions of your clone): "
                                     "no installed mlebench found")
        try:
            outcomes = import_data_dir(data_dir, code, args, lite=lite, every=every, overwrite=overwrite)
        except TaskError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        _report_bulk("mlebench import", outcomes)
        return
    if prepared is None or not args or len(args) != 1:
        raise typer.BadParameter("give COMPETITION_DIR --prepared FOLDER, or --data-dir DIR [--lite|--all|IDS...]")
    try:
        dest = import_mlebench(Path(args[0]), prepared, overwrite=overwrite)
    except TaskError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    task = load_task_folder(dest, source="imported")
    console.print(f"imported as task [bold]{dest.name}[/bold] at {dest}: {task.type}, {task.metric} "
                  f"({'lower' if task.lower_is_better else 'higher'} is better), id column {task.id_column}")


@tasks_app.command("import-mledojo")
def import_mledojo_cmd(
    ids: Optional[list[str]] = typer.Argument(None, help="competition ids (default: every prepared one)"),
    data_dir: Path = typer.Option(..., "--data-dir", help="MLE-Dojo data directory: <dir>/<id>/data/{public,private}"),
    competitions_dir: Optional[Path] = typer.Option(None, "--competitions-dir", help="MLE-Dojo/mledojo/competitions "
                                                     "(default: that of an installed mledojo)"),
    overwrite: bool = typer.Option(False, help="import again, dropping every cached copy"),
) -> None:
    """Import prepared MLE-Dojo competitions in place (never runs their prepare())."""
    from dojo_nb.tasks.mledojo_import import default_competitions_dir, import_data_dir
    from dojo_nb.tasks.spec import TaskError

    code = competitions_dir or default_competitions_dir()
    if code is None:
        raise typer.BadParameter("give --competitions-dir (MLE-Dojo/mledojo/competitions of your clone): "
                                 "no installed mledojo found")
    try:
        outcomes = import_data_dir(data_dir, code, ids, overwrite=overwrite)
    except TaskError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _report_bulk("mledojo import", outcomes)


@tasks_app.command("remove")
def remove_cmd(task_ids: list[str] = typer.Argument(..., help="ids of imported tasks")) -> None:
    """Remove imported tasks and their cached data (the user's own data folders are never touched)."""
    from dojo_nb.tasks.mlebench_remove import remove_imported
    from dojo_nb.tasks.spec import TaskError

    failed = False
    for task_id in task_ids:
        try:
            console.print(f"removed {remove_imported(task_id)}")
        except TaskError as exc:
            console.print(f"[red]{exc}[/red]")
            failed = True
    if failed:
        raise typer.Exit(2)


def grade_cmd(task_id: str, submission: Path, as_json: bool = typer.Option(False, "--json")) -> None:
    """Validate and grade a submission file: raw score, position score, medal."""
    task = _load(task_id)
    report = grade_submission(task, submission)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        table = Table(title=f"{task.id}: {task.metric} ({'lower' if task.lower_is_better else 'higher'} is better)")
        table.add_column("")
        table.add_column("value")
        table.add_row("validation", ("[green]ok[/green] " if report.valid else "[red]invalid[/red] ") + report.message)
        if report.valid:
            table.add_row("public score", f"{report.public_score:.6g}")
            table.add_row("private score", f"{report.private_score:.6g}")
            table.add_row("public position score", f"{report.public_position_score:.3f}")
            table.add_row("private position score", f"{report.private_position_score:.3f}")
            table.add_row("medal", report.medal or "none")
            table.add_row("above median", "yes" if report.above_median else "no")
        console.print(table)
    if not report.valid:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")
    app.command("grade")(grade_cmd)
