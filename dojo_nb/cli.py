"""The `dojo-nb` command: assembles the sub-commands, each defined in `dojo_nb.commands`."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="dojo-nb",
    help="Run ML-engineering agents in live, sandboxed Jupyter notebooks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Each module in dojo_nb.commands exposes `register(app)`; a missing one is
# simply not offered yet.
_COMMAND_MODULES = ["run", "tasks", "kernel", "episode", "export", "report"]


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"dojo_nb.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dojo_nb.commands.{name}":
                continue
            raise
        module.register(app)




@app.callback()
def _root() -> None:
    """Run ML-engineering agents in live, sandboxed Jupyter notebooks."""


_register_all()


@app.command()
def version() -> None:
    """Print the dojo-nb version."""
    from dojo_nb import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
