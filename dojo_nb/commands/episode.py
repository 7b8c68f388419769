"""`dojo-nb replay EPISODE_DIR`: prove an episode's score by re-running its solution notebook."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()

GPUS_HELP = "NVIDIA GPUs for the kernel: all or a count (default: none)"
UNSAFE_HELP = ("let a non-baseline agent's code run on a backend that cannot sandbox it (local without "
               "bubblewrap): it can read your files and use the network. Only for code you trust")
UNSAFE_REPLAY_HELP = ("re-run the solution notebook on a backend that cannot sandbox it (local without bubblewrap): "
                      "whatever agent wrote it, its code can then read your files and use the network")


def parse_gpus(value: Optional[str]) -> dict:
    """`--gpus all|N` as sandbox limits ({} when not given); a bad value is a usage error."""
    from dojo_nb.kernel.spec import normalize_gpus

    if value is None:
        return {}
    try:
        gpus = normalize_gpus(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--gpus") from None
    return {} if gpus is None else {"gpus": gpus}


def _print_notes(notes: list) -> None:
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)


def replay_cmd(episode_dir: Path, backend: Optional[str] = typer.Option(None, help="default: the episode's own"),
               gpus: Optional[str] = typer.Option(None, "--gpus", help=GPUS_HELP),
               unsafe_no_sandbox: bool = typer.Option(False, "--unsafe-no-sandbox", help=UNSAFE_REPLAY_HELP)) -> None:
    """Execute solution.ipynb with papermill in a fresh sandbox and re-grade it (writes replay.json).

    The sandbox's limits are the defaults and the options given here, never the notebook's.
    """
    from dojo_nb.kernel.backends import NotIsolated
    from dojo_nb.kernel.gpus import GpuUnavailable
    from dojo_nb.replay import ReplayError, replay_episode

    limits = parse_gpus(gpus)
    try:
        with console.status("replaying solution.ipynb with papermill ..."):
            report = replay_episode(episode_dir, backend=backend, sandbox_limits=limits,
                                    allow_unsandboxed=unsafe_no_sandbox or None)
    except NotIsolated as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except (ReplayError, GpuUnavailable) as exc:
        console.print(f"[red]cannot replay:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    _print_notes(report.notes)
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
    gpus: Optional[str] = typer.Option(None, "--gpus", help=GPUS_HELP),
    unsafe_no_sandbox: bool = typer.Option(False, "--unsafe-no-sandbox", help=UNSAFE_HELP),
) -> None:
    """Continue an episode whose driver died: rebuild the kernel from its solution cells, then go on.

    The sandbox's limits are the defaults and the options given here, never the notebook's.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dojo_nb.commands.run import _summary_table
    from dojo_nb.env import ResumeError
    from dojo_nb.kernel.backends import UNSAFE_ENV, NotIsolated
    from dojo_nb.kernel.gpus import GpuUnavailable
    from dojo_nb.runners.resume import resume_episode

    limits = parse_gpus(gpus)
    if unsafe_no_sandbox:
        os.environ[UNSAFE_ENV] = "1"  # what the agent opens itself (search nodes) is allowed too

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console)
    bar = progress.add_task(f"{episode_dir}: rebuilding the kernel state", total=None)

    def on_step(task_id: str, step: int, obs: dict, reward: float, info: dict) -> None:
        progress.update(bar, description=f"{task_id}: step {step} {obs.get('action_type', '')} {obs.get('status')}")

    try:
        with progress:
            outcome = resume_episode(episode_dir, agent, backend=backend, replay=replay, on_step=on_step,
                                     sandbox_limits=limits, allow_unsandboxed=unsafe_no_sandbox or None)
    except NotIsolated as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except (ResumeError, ValueError, GpuUnavailable) as exc:
        console.print(f"[red]cannot resume:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - the new kernel did not start: its reason, not a traceback
        console.print(f"[red]cannot resume: the kernel could not start:[/red] {type(exc).__name__}: {exc}",
                      highlight=False)
        raise typer.Exit(2) from None
    _print_notes(outcome.notes)
    console.print(_summary_table([outcome]))
    if outcome.error or not outcome.valid:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)
    app.command("resume")(resume_cmd)
