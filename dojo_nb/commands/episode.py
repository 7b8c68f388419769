"""`dojo-nb replay EPISODE_DIR`: prove an episode's score by re-running its solution notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def replay_cmd(episode_dir: Path, backend: Optional[str] = typer.Option(None, help="default: the episode's own")) -> None:
    """Execute solution.ipynb with papermill in a fresh sandbox and re-grade it (writes replay.json)."""
    from dojo_nb.replay import ReplayError, replay_episode

    try:
        with console.status("replaying solution.ipynb with papermill ..."):
            report = replay_episode(episode_dir, backend=backend)
    except ReplayError as exc:
        console.print(f"[red]cannot replay:[/red] {exc}")
        raise typer.Exit(2) from None
    table = Table(title=f"replay of {episode_dir}")
    table.add_column("")
    table.add_column("value")
    table.add_row("task", report.task_id)
    table.add_row("episode score (private)", str(report.episode_score))
    table.add_row("replay score (private)", str(report.replay_score))
    table.add_row("reproduced", "[green]yes[/green]" if report.reproduced else "[red]no[/red]")
    table.add_row("duration", f"{report.duration_s:.1f}s")
    table.add_row("message", report.message)
    console.print(table)
    if not report.reproduced:
        raise typer.Exit(1)


def resume_cmd(
    episode_dir: Path,
    agent: Optional[str] = typer.Option(None, "--agent", help="default: the agent that started the episode"),
    backend: Optional[str] = typer.Option(None, help="default: the episode's own"),
    replay: bool = typer.Option(True, "--replay/--no-replay", help="re-run solution.ipynb with papermill at the end"),
) -> None:
    """Continue an episode whose driver died: rebuild the kernel from its solution cells, then go on."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dojo_nb.commands.run import _summary_table
    from dojo_nb.env import ResumeError
    from dojo_nb.resuming import resume_episode

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console)
    bar = progress.add_task(f"{episode_dir}: rebuilding the kernel state", total=None)

    def on_step(task_id: str, step: int, obs: dict, reward: float, info: dict) -> None:
        progress.update(bar, description=f"{task_id}: step {step} {obs.get('action_type', '')} {obs.get('status')}")

    try:
        with progress:
            outcome = resume_episode(episode_dir, agent, backend=backend, replay=replay, on_step=on_step)
    except (ResumeError, ValueError) as exc:
        console.print(f"[red]cannot resume:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(_summary_table([outcome]))
    if outcome.error or not outcome.valid:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)
    app.command("resume")(resume_cmd)
