"""`dojo-nb serve`: episodes of one task over OpenEnv's WebSocket protocol, for RL trainers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer


def serve_cmd(
    task: str = typer.Option(..., "--task", help="task id (see `dojo-nb tasks list`)"),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback by default)"),
    max_concurrent: int = typer.Option(1, "--max-concurrent", min=1, help="sessions (kernels) at a time"),
    token: Optional[str] = typer.Option(None, "--token", help="clients' token (default: $DOJO_NB_SERVE_TOKEN, "
                                                              "else a new one, printed)"),
    out: Path = typer.Option(Path("runs/serve"), "--out", help="episode folders go here, one per session"),
    backend: str = typer.Option("local", "--backend", help="sandbox backend: local or docker"),
    max_steps: int = typer.Option(100, "--max-steps", min=1),
    cell_timeout: float = typer.Option(600.0, "--cell-timeout", help="seconds per cell"),
    episode_timeout: float = typer.Option(3600.0, "--episode-timeout", help="seconds per episode"),
    idle_timeout: float = typer.Option(3600.0, "--idle-timeout", help="close a session idle this long (seconds)"),
) -> None:
    """Serve episodes of a task through OpenEnv (one sandboxed kernel per WebSocket session)."""
    from dojo_nb.serve import ServeUnavailable, require_openenv

    try:
        require_openenv()
    except ServeUnavailable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    from dojo_nb.serve.app import TOKEN_ENV, is_loopback, new_token, serve
    from dojo_nb.serve.environment import ServeConfig
    from dojo_nb.tasks import load_task

    if idle_timeout <= cell_timeout:
        raise typer.BadParameter("--idle-timeout must be longer than --cell-timeout (a running cell "
                                 "is not activity to OpenEnv: its session would be closed mid-cell)")
    load_task(task)  # an unknown task fails here, not in the first client's session
    given = token or os.environ.get(TOKEN_ENV)
    secret = given or new_token()
    config = ServeConfig(task=task, out_dir=out.expanduser().resolve(), backend=backend, max_steps=max_steps,
                         cell_timeout_s=cell_timeout, episode_timeout_s=episode_timeout,
                         max_concurrent=max_concurrent, idle_timeout_s=idle_timeout)
    if not is_loopback(host):
        typer.echo(f"warning: listening on {host}, not loopback: anyone who can reach it and has the token "
                   "can run code in a kernel (the traffic is not encrypted)", err=True)
    source = "--token" if token else f"${TOKEN_ENV}" if given else "generated"
    typer.echo(f"dojo-nb serve: task {task} on ws://{host}:{port} (at most {max_concurrent} at a time)", err=True)
    typer.echo(f"token ({source}): {secret if not given else '(as given)'}", err=True)
    serve(config, secret, host=host, port=port)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
