"""`dojo-nb run`: the main job. An agent works a task (or a whole split) in live notebooks."""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dojo_nb.commands.episode import UNSAFE_HELP
from dojo_nb.views.run_table import summary_view

console = Console()

_STATUS_STYLE = {"ok": "green", "error": "red", "timeout": "yellow", "crashed": "magenta", "invalid_action": "red"}


def _summary_table(outcomes) -> RenderableType:
    """The run summary, fitted to this terminal (see `run_table`)."""
    return summary_view(list(outcomes), console.width)


def refuse_unisolated(agent: str, backend: str, unsafe: bool) -> None:
    """Stop before anything starts when a non-baseline agent would run unsandboxed (exit 2).

    `--unsafe-no-sandbox` also sets $DOJO_NB_UNSAFE_NO_SANDBOX, so the episodes an agent opens
    itself (the search agent's nodes) and Ray workers started from here get the same answer."""
    from dojo_nb.agents.base import is_builtin_baseline
    from dojo_nb.kernel import backends

    if unsafe:
        os.environ[backends.UNSAFE_ENV] = "1"
        return
    if is_builtin_baseline(agent):
        return
    try:
        backends.require_isolation(backend, None, who=f"the {agent!r} agent")
    except backends.NotIsolated as exc:
        console.print(str(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except (ValueError, backends.BackendUnavailable):
        return  # an unknown or unusable backend: the episode's start says so, with its reason


def run_cmd(
    task: Optional[str] = typer.Option(None, "--task", help="task id (see `dojo-nb tasks list`)"),
    split: Optional[str] = typer.Option(None, "--split", help="run every task of a split: train, eval, mlebench, mlebench-lite, mledojo..."),
    agent: str = typer.Option("baseline", "--agent", help="registered agent name or module:Class"),
    out: Path = typer.Option(Path("runs"), "--out", help="output folder"),
    backend: str = typer.Option("local", "--backend", help="sandbox backend: local or docker"),
    parallel: int = typer.Option(1, "--parallel", min=1, help="episodes at a time (with --split)"),
    replay: bool = typer.Option(True, "--replay/--no-replay", help="re-run solution.ipynb with papermill"),
    max_steps: int = typer.Option(60, "--max-steps", min=1),
    cell_timeout: float = typer.Option(600.0, "--cell-timeout", help="seconds per cell"),
    episode_timeout: float = typer.Option(3600.0, "--episode-timeout", help="seconds per episode"),
    engine: str = typer.Option("local", "--engine", help="with --split: local (threads) or ray (Ray tasks on a cluster)"),
    address: Optional[str] = typer.Option(None, "--address", help="with --engine ray: the cluster (HOST:PORT or auto); "
                                                                  "default: a local Ray instance"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="with --split: only the first N tasks"),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="LLM agents: OpenAI-compatible server, "
                                                                    "e.g. http://localhost:8000/v1"),
    model: Optional[str] = typer.Option(None, "--model", help="LLM agents: model name on that server"),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="LLM agents: environment variable "
                                              "holding the API key (default DOJO_NB_API_KEY, then OPENAI_API_KEY)"),
    request_timeout: Optional[float] = typer.Option(None, "--request-timeout", min=1.0,
                                                    help="LLM agents: seconds per model call before it is "
                                                         "retried (default 120)"),
    max_retries: Optional[int] = typer.Option(None, "--max-retries", min=0,
                                              help="LLM agents: retries of a failed, empty or overflowing "
                                                   "model call (default 5)"),
    max_context_tokens: Optional[int] = typer.Option(None, "--max-context-tokens", min=2000,
                                                     help="LLM agent: the model's context window in tokens "
                                                          "(default 32000)"),
    gpus: Optional[str] = typer.Option(None, "--gpus", help="NVIDIA GPUs for each kernel: all or a count "
                                                            "(default: none)"),
    unsafe_no_sandbox: bool = typer.Option(False, "--unsafe-no-sandbox", help=UNSAFE_HELP),
    max_submissions: int = typer.Option(5, "--max-submissions", min=1,
                                        help="graded submits per episode (validate is free)"),
    feedback: str = typer.Option("public", "--feedback", help="what a submit shows: public (rounded public "
                                                             "score), validity (valid or not) or none"),
    reward: str = typer.Option("position", "--reward", help="position (public position gains) or shaped "
                                                           "(plus capped milestone bonuses; the end pays "
                                                           "the private position)"),
) -> None:
    """Run an agent on a task (or on every task of a split) and write the notebooks."""
    from dojo_nb.commands.episode import parse_gpus
    from dojo_nb.runners.episodes import run_episode, run_many
    from dojo_nb.tasks import list_tasks, load_task

    if bool(task) == bool(split):
        raise typer.BadParameter("give exactly one of --task ID or --split train|eval")
    if engine == "ray" and task:
        raise typer.BadParameter("--engine ray runs a split: give --split (and --limit N for a few tasks)")
    refuse_unisolated(agent, backend, unsafe_no_sandbox)
    from dojo_nb.env.rules import Rules

    try:
        Rules.of(feedback, max_submissions, reward)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    env_kwargs = dict(backend=backend, replay=replay, max_steps=max_steps, cell_timeout_s=cell_timeout,
                      episode_timeout_s=episode_timeout, max_submissions=max_submissions, feedback=feedback,
                      reward=reward, **parse_gpus(gpus))
    agent_kwargs = {k: v for k, v in (("base_url", base_url), ("model", model), ("api_key_env", api_key_env),
                                      ("timeout_s", request_timeout), ("max_retries", max_retries),
                                      ("max_context_tokens", max_context_tokens))
                    if v is not None}
    if agent_kwargs:  # only agents that take them (llm, search) get them
        env_kwargs["agent_kwargs"] = agent_kwargs
    if unsafe_no_sandbox:
        env_kwargs["allow_unsandboxed"] = True
    t0 = time.monotonic()
    if task:
        try:
            load_task(task)
        except KeyError as exc:
            console.print(f"[red]{exc.args[0]}[/red]")
            raise typer.Exit(2) from None
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console)
        bar = progress.add_task(f"{task}: starting kernel", total=None)

        def on_step(task_id: str, step: int, obs: dict, reward: float, info: dict) -> None:
            status = obs.get("status", "?")
            style = _STATUS_STYLE.get(status, "white")
            best = info.get("best_public_position_score") or 0.0
            progress.update(bar, description=f"{task_id}: step {step} {obs.get('action_type', '')} "
                                             f"[{style}]{status}[/{style}]  best public position {best:.3f}")
            if reward:
                progress.console.print(f"  step {step}: submission reward {reward:+.3f} (best {best:.3f})")

        with progress:
            outcome = run_episode(task, agent, out_dir=out, on_step=on_step, **env_kwargs)
        if outcome.start_error:
            console.print(f"[red]the episode did not start:[/red] {outcome.start_error}", highlight=False)
            raise typer.Exit(1)
        for note in outcome.notes:
            console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
        console.print(_summary_table([outcome]))
        written = outcome.written()
        if written:
            console.print(f"wrote {outcome.episode_dir}/{', '.join(written)}", highlight=False)
        else:
            console.print(f"[red]no episode files were written to {outcome.episode_dir}[/red]", highlight=False)
        if outcome.error or not outcome.valid or not written:
            raise typer.Exit(1)
        return

    from dojo_nb.tasks.catalogue import is_split, known_splits

    if not is_split(split):
        raise typer.BadParameter(f"--split must be one of {', '.join(known_splits())}")
    if engine not in ("local", "ray"):
        raise typer.BadParameter("--engine must be local or ray")
    ids = [t.id for t in list_tasks(split)][:limit]
    if engine == "ray":
        from dojo_nb.runners.ray_engine import RayNotInstalled, require_ray, run_many_ray

        try:
            require_ray()
        except RayNotInstalled as exc:
            console.print(str(exc), style="red", markup=False)
            raise typer.Exit(2) from None
        run_many = functools.partial(run_many_ray, address=address)  # noqa: F811 - same call, on Ray
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    bar = progress.add_task(f"{split} split, " + ("on Ray" if engine == "ray" else f"{parallel} at a time"),
                            total=len(ids))

    def on_done(outcome) -> None:
        mark = "[green]valid[/green]" if outcome.valid else "[red]invalid[/red]"
        progress.console.print(f"{outcome.task_id}: {mark}, {outcome.steps} steps, {outcome.elapsed_s:.0f}s")
        progress.advance(bar)

    with progress:
        outcomes = run_many(ids, agent, out_dir=out, parallel=parallel, on_done=on_done, **env_kwargs)
    console.print(_summary_table(outcomes))
    total = time.monotonic() - t0
    console.print(f"{len(outcomes)} episodes in {total:.0f}s; "
                  f"{sum(o.valid for o in outcomes)} with a valid submission")
    (out / "run.json").write_text(json.dumps({
        "split": split, "agent": agent, "backend": backend, "parallel": parallel, "engine": engine,
        "elapsed_s": round(total, 1),
        "episodes": [{"task": o.task_id, "valid": o.valid, "steps": o.steps, "final": o.final,
                      "replay": o.replay, "error": o.error, "elapsed_s": round(o.elapsed_s, 1)} for o in outcomes],
    }, indent=1))
    if not all(o.valid for o in outcomes):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
