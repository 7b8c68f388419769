"""Backends: where a sandboxed kernel runs ("local", "docker", ...), registered by name.

A backend is a small class that knows how to describe its kernel as a Jupyter kernelspec
whose ``metadata.kernel_provisioner`` names a jupyter_client *kernel provisioner* (entry
point group ``jupyter_client.kernel_provisioners``) and carries the `SandboxSpec` as the
provisioner's config. Everything that starts kernels (our `KernelSession`, nbclient,
papermill, JupyterLab) then goes through the same provisioner.

Adding a backend never touches ``session.py``: define a subclass in
``dojo_nb/kernel/<name>.py`` decorated with `register`; `get("<name>")` imports that module
on first use.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any, ClassVar

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

from dojo_nb.kernel.spec import SandboxPaths, SandboxSpec

_REGISTRY: dict[str, type[Backend]] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: The ipykernel command; ``{connection_file}`` is filled in by jupyter_client and the
#: provisioner replaces ``python`` with the interpreter its sandbox uses.
KERNEL_ARGV = [
    "python", "-m", "ipykernel_launcher", "-f", "{connection_file}",
    # Parallel kernels must never fight over one SQLite history file.
    "--HistoryManager.hist_file=:memory:",
]


#: Set to 1 to let agents' code run on a backend that does not isolate it (what the CLI's
#: ``--unsafe-no-sandbox`` sets, so the search agent's own episodes and Ray workers see it too).
UNSAFE_ENV = "DOJO_NB_UNSAFE_NO_SANDBOX"


class BackendUnavailable(RuntimeError):
    """The backend cannot start kernels on this machine (the message says why)."""


class NotIsolated(BackendUnavailable):
    """Refused: the backend would run untrusted code unconfined, and nobody opted in."""


class Backend:
    """Base class: the kernelspec and kernel-side paths of one kind of sandbox."""

    name: ClassVar[str] = ""
    provisioner_name: ClassVar[str] = ""

    def unavailable_reason(self) -> str | None:
        """None when kernels can start here, else one line saying why not."""
        return None

    def isolation_gap(self) -> str | None:
        """None when kernels are confined (files, network, uid), else why not: safe-by-default
        refuses agents' code on such a backend. A backend is expected to isolate."""
        return None

    def paths(self, spec: SandboxSpec) -> SandboxPaths:
        """The episode folders as the kernel sees them."""
        return SandboxSpec.mounted_paths()

    def kernel_name(self) -> str:
        return f"dojo-{self.name}"

    def kernelspec(self, spec: SandboxSpec) -> dict[str, Any]:
        """kernel.json content for this sandbox; the spec rides along as provisioner config."""
        return {
            "argv": list(KERNEL_ARGV),
            "display_name": f"Python 3 (dojo-nb {self.name} sandbox)",
            "language": "python",
            "interrupt_mode": "message",
            "env": {},
            "metadata": {
                "debugger": False,
                "kernel_provisioner": {
                    "provisioner_name": self.provisioner_name,
                    "config": {"sandbox": spec.to_dict()},
                },
            },
        }

    def named_kernelspec(self) -> dict[str, Any]:
        """kernel.json for a kernel started by name (JupyterLab, papermill): no sandbox in it,
        the provisioner takes $DOJO_NB_SANDBOX_SPEC's file or the folder it is started in.
        Shipped in the wheel (kernels/kernelspecs/, share/jupyter/kernels/) and written by
        `dojo-nb kernel install`, so a trajectory's ``metadata.kernelspec`` names one that exists."""
        kernel_json = self.kernelspec(SandboxSpec(root=Path("/")))
        kernel_json["metadata"]["kernel_provisioner"]["config"] = {}
        return kernel_json

    def notebook_kernelspec(self) -> dict[str, str]:
        """The short form for a notebook's ``metadata.kernelspec``."""
        return {"name": self.kernel_name(), "display_name": f"Python 3 (dojo-nb {self.name} sandbox)",
                "language": "python"}


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available by its `name`."""
    if not cls.name or not _NAME.match(cls.name):
        raise ValueError(f"backend name must be a lowercase identifier, got {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Backends registered so far (built-in ones register when first asked for)."""
    return sorted(_REGISTRY)


def get(name: str) -> Backend:
    """The backend called `name`, importing ``dojo_nb.kernel.<name>`` on first use."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid backend name {name!r}: use a name such as 'local' or 'docker'")
    if name not in _REGISTRY:
        try:
            importlib.import_module(f"dojo_nb.kernel.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"dojo_nb.kernel.{name}":
                raise BackendUnavailable(f"backend {name!r} needs a missing module: {exc}") from exc
    if name not in _REGISTRY:
        known = ", ".join(names()) or "none"
        raise ValueError(f"unknown backend {name!r} (registered: {known})")
    return _REGISTRY[name]()


def unsafe_allowed_by_env() -> bool:
    """True when ``$DOJO_NB_UNSAFE_NO_SANDBOX`` opts this process in to unconfined kernels."""
    return os.environ.get(UNSAFE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def refusal_message(backend: str, gap: str, who: str = "this agent") -> str:
    """The one message a refused start prints: what is wrong and every way out."""
    return (f"dojo-nb: refusing to run {who} on the {backend!r} backend: {gap}, so its code would run "
            "WITHOUT a sandbox (your files, your network). To get isolation: install bubblewrap "
            "(Debian/Ubuntu: sudo apt-get install bubblewrap, or `dojo-nb doctor --fix` as root), or use "
            "`--backend docker`. For code you trust, pass --unsafe-no-sandbox "
            f"(Python: make(..., allow_unsandboxed=True), or ${UNSAFE_ENV}=1). `dojo-nb doctor` shows what "
            "this machine can do.")


def require_isolation(backend: str | Backend, allow_unsandboxed: bool | None = None,
                      who: str = "this agent") -> None:
    """Raise `NotIsolated` unless `backend` confines kernels or the caller opted out.

    `allow_unsandboxed` None defers to ``$DOJO_NB_UNSAFE_NO_SANDBOX``."""
    be = get(backend) if isinstance(backend, str) else backend
    gap = be.isolation_gap()
    if gap is None:
        return
    allowed = unsafe_allowed_by_env() if allow_unsandboxed is None else allow_unsandboxed
    if not allowed:
        raise NotIsolated(refusal_message(be.name, gap, who))


def named_start_spec(backend: Backend, cwd: str | None) -> SandboxSpec:
    """The sandbox of a kernel started by name (no spec in its kernelspec).

    Refused (`NotIsolated`) on a backend that cannot confine it unless
    $DOJO_NB_UNSAFE_NO_SANDBOX opts in: whatever JupyterLab can start from a trajectory is
    sandboxed. Else $DOJO_NB_SANDBOX_SPEC's file, or the folder the kernel is started in
    (JupyterLab and papermill pass the notebook's folder)."""
    require_isolation(backend, who="a kernel started by name (JupyterLab, papermill)")
    return SandboxSpec.from_env_or_cwd(cwd)


class DojoKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernelspec is built in memory for one sandbox.

    The spec is not looked up by name, so nothing has to be installed in Jupyter's
    kernel folders for dojo-nb's own sessions.
    """

    def __init__(self, kernel_spec: KernelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._kernel_spec = kernel_spec

    @property
    def kernel_spec(self) -> KernelSpec | None:
        return self._kernel_spec


def make_kernel_manager(
    spec: SandboxSpec, backend: str | Backend = "local", *, provisioner_config: dict[str, Any] | None = None,
    **kwargs: Any
) -> AsyncKernelManager:
    """A not-yet-started kernel manager for `spec` on `backend`.

    Hand it to nbclient or papermill (``km=``) to run a notebook in a fresh sandbox;
    it talks to the kernel over ZeroMQ's ipc transport. `provisioner_config` adds settings of
    the backend's provisioner (the local one's ``template``).
    """
    be = get(backend) if isinstance(backend, str) else backend
    reason = be.unavailable_reason()
    if reason:
        raise BackendUnavailable(f"backend {be.name!r} is unavailable: {reason}")
    spec.ensure_dirs()
    kernel_json = be.kernelspec(spec)
    if provisioner_config:
        kernel_json["metadata"]["kernel_provisioner"]["config"].update(provisioner_config)
    ks = KernelSpec(resource_dir="", name=be.kernel_name(), **kernel_json)
    kwargs.setdefault("transport", "ipc")
    return DojoKernelManager(ks, kernel_name=be.kernel_name(), **kwargs)
