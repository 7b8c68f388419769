"""The command line fails loudly when one of its command modules does not import."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import typer

from dojo_nb import cli


def test_every_command_module_is_registered() -> None:
    folder = Path(cli.__file__).parent / "commands"
    found = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    assert sorted(cli._COMMAND_MODULES) == found


def test_a_command_module_that_fails_to_import_stops_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def broken(name: str, *args: object) -> object:
        if name == "dojo_nb.commands.export":
            raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")
        return real(name, *args)

    monkeypatch.setattr(cli, "app", typer.Typer())  # registering again must not touch the real app
    monkeypatch.setattr(cli.importlib, "import_module", broken)
    with pytest.raises(cli.CommandImportError, match="dojo_nb.commands.export failed to import"):
        cli._register_all()
