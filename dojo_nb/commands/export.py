"""`dojo-nb export sft|rl`: episodes -> JSONL training data (see `dojo_nb.export` for the formats)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer
from rich.console import Console

console = Console(stderr=True)
export_app = typer.Typer(help="Turn episode folders into training data (JSONL).", no_args_is_help=True)

_EPISODES = typer.Argument(..., help="episode folders (or folders holding them, searched recursively)")


def _finish(kind: str, report) -> None:
    for path, problem in report.failed:
        console.print(f"skipped {path}: {problem}", style="yellow", markup=False)
    what = "records" if kind == "sft" else "transitions"
    console.print(f"wrote {report.records} {what} from {report.episodes} episode(s) to {report.out}"
                  + (f"; {len(report.failed)} skipped" if report.failed else ""), markup=False)
    if report.failed:
        raise typer.Exit(1)


@export_app.command("sft")
def sft_cmd(
    episodes: List[Path] = _EPISODES,
    out: Path = typer.Option(..., "--out", help="JSONL file to write (one chat record per conversation)"),
    markdown: str = typer.Option("content", "--markdown",
                                 help="add_markdown steps of non-LLM episodes: 'content' (assistant text "
                                      "before the next tool call) or 'tool' (kept as add_markdown tool calls)"),
    search_calls: bool = typer.Option(False, "--search-calls",
                                      help="a search node whose LLM policy logged its call: the record is that "
                                           "request and reply (search/model_calls.jsonl), not the rendered episode"),
) -> None:
    """Chat records (messages with tool calls and tool results, tools, metadata): for an LLM episode
    exactly the requests its model was sent (one record per conversation), else one per episode
    rendered as the LLM agent renders. Tool-call arguments are JSON strings."""
    from dojo_nb.export import export

    if markdown not in ("content", "tool"):
        raise typer.BadParameter("--markdown is content|tool")
    _finish("sft", export("sft", episodes, out, markdown=markdown, search_calls=search_calls))


@export_app.command("rl")
def rl_cmd(
    episodes: List[Path] = _EPISODES,
    out: Path = typer.Option(..., "--out", help="JSONL file to write (one transition per step)"),
) -> None:
    """Per-step transitions: episode_id, step, observation, action, reward, terminated, truncated."""
    from dojo_nb.export import export

    _finish("rl", export("rl", episodes, out))


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
