"""`dojo-nb kernel ...`: build the docker kernel image, install kernelspecs, remove orphans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console()
kernel_app = typer.Typer(help="Kernel images, kernelspecs and clean-up.", no_args_is_help=True)


@kernel_app.command("build")
def build_cmd(base_image: Optional[str] = typer.Option(None, help="base image (default python:3.11-slim)"),
              no_registry: bool = typer.Option(False, "--no-registry", help="make the base with debootstrap"),
              force: bool = typer.Option(False, help="rebuild even when the image is current")) -> None:
    """Build the docker kernel image (dojo-nb/kernel:latest) from kernels/."""
    import subprocess

    from dojo_nb.kernel.docker import docker_unavailable_reason
    from dojo_nb.kernel.image import build_image, ensure_base_image

    reason = docker_unavailable_reason()
    if reason and "image" not in reason:
        console.print(f"[red]cannot build: {reason}[/red]")
        raise typer.Exit(2)
    try:
        with console.status("building the kernel image ...") as status:
            def say(line: str) -> None:
                console.print(line)
                status.update(line[:80])

            base = base_image or (ensure_base_image(say) if no_registry else "python:3.11-slim")
            tag = build_image(base, say, force=force)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        console.print(f"[red]kernel image build failed:[/red] {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - docker SDK errors (e.g. an unknown base image)
        console.print(f"[red]kernel image build failed:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    console.print(f"[green]ready:[/green] {tag}")


@kernel_app.command("gc")
def gc_cmd(all_hosts: bool = typer.Option(False, "--all-hosts", help="also containers of other hosts' drivers")) -> None:
    """Remove what drivers that are gone left behind: containers, socket folders, cgroups, mounted disks."""
    from dojo_nb.kernel import gc

    done = gc.collect(all_hosts=all_hosts)
    console.print(done.summary() + (": " + ", ".join(done.containers) if done.containers else ""))


@kernel_app.command("install")
def install_cmd(prefix: Optional[Path] = typer.Option(None, help="a Jupyter data dir (default: the user's)")) -> None:
    """Install the dojo-local and dojo-docker kernelspecs so papermill, nbclient and JupyterLab can use them."""
    from jupyter_core.paths import jupyter_data_dir

    from dojo_nb.kernel import backends

    root = (prefix or Path(jupyter_data_dir())) / "kernels"
    for name in ("local", "docker"):
        backend = backends.get(name)
        # Started by name, the sandbox is $DOJO_NB_SANDBOX_SPEC's file or the kernel's folder.
        folder = root / backend.kernel_name()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "kernel.json").write_text(json.dumps(backend.named_kernelspec(), indent=1) + "\n")
        console.print(f"installed {backend.kernel_name()} at {folder}")


def register(app: typer.Typer) -> None:
    app.add_typer(kernel_app, name="kernel")
