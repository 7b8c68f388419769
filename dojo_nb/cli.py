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

# Each module in dojo_nb.commands exposes `register(app)`. A module that fails to import
# stops the command line with its reason: a silently missing command hides a broken install.
_COMMAND_MODULES = ["run", "tasks", "kernel", "episode", "export", "report", "serve"]


class CommandImportError(ImportError):
    """A command module of dojo_nb.commands could not be imported."""


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"dojo_nb.commands.{name}")
        except Exception as exc:
            raise CommandImportError(f"dojo-nb: the command module dojo_nb.commands.{name} failed to import: "
                                     f"{type(exc).__name__}: {exc}") from exc
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
