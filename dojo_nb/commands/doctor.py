"""`dojo-nb doctor`: what this machine can do (sandbox, limits, Docker, GPUs, cache, extras).

Exit status 1 when the chosen backend (default: local) cannot isolate agents' code, so a
set-up script can stop there; `--fix` installs bubblewrap where it can.
"""

from __future__ import annotations

import json

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
_STYLE = {"ok": "green", "missing": "red", "degraded": "yellow"}


def doctor_table(report) -> Table:  # noqa: ANN001 - a dojo_nb.doctor.Report
    """One row per capability (required ones marked *), the fix under what was found: a
    column of fixes would sit empty on every ok row."""
    table = Table(title=f"dojo-nb doctor (backend {report.backend})", box=box.SIMPLE_HEAD)
    table.add_column("capability", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("what was found, and the fix")
    for c in report.checks:
        found = Text(c.detail)
        if c.status != "ok" and c.fix:
            found.append("\nfix: ", style="bold cyan")
            found.append(c.fix, style="cyan")
        table.add_row(Text(c.name + (" *" if c.required else "")), Text(c.status, style=_STYLE.get(c.status, "")),
                      found)
    return table


def doctor_cmd(
    as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout, for scripts"),
    backend: str = typer.Option("local", "--backend", help="the backend whose isolation is required: local or docker"),
    fix: bool = typer.Option(False, "--fix", help="install bubblewrap with apt-get when root (else say what to run)"),
) -> None:
    """Check, for real, what this machine can do: sandbox, uid, limits, Docker, GPUs, cache, extras."""
    from dojo_nb import doctor

    if backend not in ("local", "docker"):
        raise typer.BadParameter("--backend must be local or docker")
    fixed = None
    if fix:
        ok, said = doctor.fix_bubblewrap(run=True)
        fixed = {"bubblewrap": {"ok": ok, "message": said}}
        if not as_json:
            console.print(f"[{'green' if ok else 'red'}]--fix:[/] {said}", highlight=False)
    report = doctor.diagnose(backend)
    if as_json:
        out = report.to_dict()
        if fixed is not None:
            out["fixed"] = fixed
        typer.echo(json.dumps(out, indent=1))
    else:
        console.print(doctor_table(report))
        if report.ok:
            console.print(f"[green]ready:[/green] the {backend} backend isolates agents' code here "
                          "(* = required for that)", highlight=False)
        else:
            console.print(f"[red]not ready:[/red] the {backend} backend cannot isolate agents' code here; "
                          "fix the rows marked * (only the built-in baseline runs without a sandbox)",
                          highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)
