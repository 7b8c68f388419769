"""The `dojo-nb` command: assembles the sub-commands, each defined in `dojo_nb.commands`."""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import TextIO

import typer

app = typer.Typer(
    name="dojo-nb",
    help="Run ML-engineering agents in live, sandboxed Jupyter notebooks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Each module in dojo_nb.commands exposes `register(app)`. A module that fails to import
# stops the command line with its reason: a silently missing command hides a broken install.
_COMMAND_MODULES = ["run", "tasks", "kernel", "episode", "export", "report", "doctor", "serve"]


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


def _plain_sandbox_warnings() -> None:
    """Show a `SandboxWarning` as its own one line on stderr: no "file:line:" of jupyter_client
    and no source line, so a person reads it once, as dojo-nb's."""
    from dojo_nb.kernel.bwrap import SandboxWarning

    show = warnings.showwarning

    def showwarning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: TextIO | None = None, line: str | None = None) -> None:
        if issubclass(category, SandboxWarning):
            print(f"warning: {message}", file=file or sys.stderr, flush=True)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning


def main() -> None:
    _plain_sandbox_warnings()
    app()


if __name__ == "__main__":
    main()
