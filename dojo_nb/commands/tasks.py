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

console = Console()
tasks_app = typer.Typer(help="Browse, prepare and import tasks.", no_args_is_help=True)


def _split_option(split: Optional[str]) -> Optional[str]:
    if split not in (None, "train", "eval"):
        raise typer.BadParameter("--split must be train or eval")
    return split


@tasks_app.command("list")
def list_cmd(split: Optional[str] = typer.Option(None, help="train or eval"),
             as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """List the tasks in the catalogue."""
    from dojo_nb.tasks import list_tasks

    tasks = list_tasks(_split_option(split))
    if as_json:
        typer.echo(json.dumps([t.metadata() | {"source": t.source} for t in tasks], indent=2))
        return
    table = Table(title=f"{len(tasks)} tasks")
    for col in ("id", "type", "metric", "better", "split", "source"):
        table.add_column(col)
    for t in tasks:
        table.add_row(t.id, t.type, t.metric, "lower" if t.lower_is_better else "higher", t.split, t.source)
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
    data = task.prepare()
    table = Table(title="public files")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    for f in sorted(data.public_dir.iterdir()):
        table.add_row(f.name, f"{f.stat().st_size:,}")
    console.print(table)
    t = task.leaderboard().thresholds()
    if t:
        console.print("medal thresholds (private score): " + ", ".join(f"{k} {v:.5g}" for k, v in t.items()))


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
            data = task.prepare(force=force)
            progress.console.print(f"{task.id}: {data.public_dir}")
            progress.advance(bar)


@tasks_app.command("import-mlebench")
def import_cmd(competition_dir: Path, prepared: Path = typer.Option(..., "--prepared", help="folder holding prepared public/ and private/"),
               overwrite: bool = typer.Option(False)) -> None:
    """Import an MLE-bench competition folder and its prepared data as a dojo-nb task."""
    from dojo_nb.tasks.mlebench_import import import_mlebench
    from dojo_nb.tasks.spec import TaskError, load_task_folder

    try:
        dest = import_mlebench(competition_dir, prepared, overwrite=overwrite)
    except TaskError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    task = load_task_folder(dest, source="imported")
    console.print(f"imported as task [bold]{dest.name}[/bold] at {dest}: {task.type}, {task.metric} "
                  f"({'lower' if task.lower_is_better else 'higher'} is better), id column {task.id_column}")


def grade_cmd(task_id: str, submission: Path, as_json: bool = typer.Option(False, "--json")) -> None:
    """Validate and grade a submission file: raw score, position score, medal."""
    task = _load(task_id)
    report = task.grade(submission)
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
