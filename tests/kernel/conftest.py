"""Kernel fixtures: the behaviour battery runs on every backend this machine can run.

`local` is the bubblewrap sandbox, `local-nobwrap` the weaker path without it, `docker` one
container per kernel (skipped, with the reason, when no engine or image is available, unless
DOJO_REQUIRE_DOCKER=1, which turns the skip into a failure).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dojo_nb.kernel import SandboxSpec, SyncKernelSession
from tests.docker_support import backend_param, skip_without_docker

BACKENDS = ["local", "local-nobwrap", backend_param("docker")]


#: The local backend with its kernels spawned from a template (`dojo_nb.kernel.template`).
TEMPLATE = "local-template"
_template: list = []


def shared_template():
    """One template kernel for the test module (numpy and pandas imported), started on first use
    and closed after the module (`_close_shared_template`), so no later leftover check counts it."""
    from dojo_nb.kernel.template import KernelTemplate

    if not _template or not _template[0].alive():
        _template[:] = [KernelTemplate(("numpy", "pandas")).start()]
    return _template[0]


@pytest.fixture(autouse=True, scope="module")
def _close_shared_template() -> Iterator[None]:
    yield
    while _template:
        _template.pop().close()


def open_session(spec: SandboxSpec, backend: str, **kwargs) -> SyncKernelSession:
    """A session on `backend`, where TEMPLATE means local kernels spawned from `shared_template`."""
    if backend == TEMPLATE:
        config = {"template": shared_template().template_id}
        return SyncKernelSession(spec, "local", provisioner_config=config, **kwargs)
    return SyncKernelSession(spec, backend, **kwargs)


def assert_spawned(session: SyncKernelSession, backend: str) -> None:
    """A TEMPLATE session's kernel really came from the template (not a silent cold start)."""
    if backend == TEMPLATE:
        from dojo_nb.kernel.template import SpawnedProcess

        assert isinstance(session.session.km.provisioner.process, SpawnedProcess)


def backend_or_skip(name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    if name == TEMPLATE:
        from dojo_nb.kernel.template import unavailable_reason

        why = unavailable_reason("local")
        if why:
            if os.environ.get("DOJO_REQUIRE_SANDBOX") == "1":
                pytest.fail(f"DOJO_REQUIRE_SANDBOX=1 but template kernels cannot run: {why}")
            pytest.skip(why)
        return name
    if name == "local-nobwrap":
        monkeypatch.setenv("DOJO_NB_NO_BWRAP", "1")
        return "local"
    if name == "local" and not shutil.which("bwrap"):
        pytest.skip("bwrap is not installed (apt-get install bubblewrap)")
    if name == "docker":
        skip_without_docker()
    return name


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return backend_or_skip(request.param, monkeypatch)


@pytest.fixture
def episode_root(tmp_path: Path) -> Path:
    root = tmp_path / "episode"
    for sub in ("input", "working", "submission"):
        (root / sub).mkdir(parents=True)
    (root / "input" / "train.csv").write_text("a,b\n1,2\n")
    return root


@pytest.fixture
def session(backend: str, episode_root: Path) -> Iterator[SyncKernelSession]:
    s = SyncKernelSession(SandboxSpec(root=episode_root, memory_mb=2048), backend=backend)
    try:
        s.start()
        yield s
    finally:
        s.close()


def kernel_processes(ours: bool = False) -> list[psutil.Process]:
    """dojo-nb ipykernel processes on this machine (any backend's host-side process); with `ours`,
    only this test process's descendants, so another test run beside this one (an xdist worker,
    a second checkout) does not count."""
    found = []
    procs = psutil.Process().children(recursive=True) if ours else psutil.process_iter()
    for proc in procs:
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "ipykernel_launcher" in cmd and "dojo-nb" in cmd:
            found.append(proc)
    return found


def sandbox_skip_reason() -> str | None:
    """Why the root-driver sandbox (bwrap, setpriv, cgroups, the disk budget) cannot be tested here."""
    from dojo_nb.kernel import cgroups, disk

    if os.geteuid() != 0:
        return "these tests are about a driver that runs as root"
    if not shutil.which("bwrap"):
        return "bwrap is not installed (apt-get install bubblewrap)"
    return cgroups.unavailable_reason() or disk.unavailable_reason()


def require_sandbox() -> None:
    """Skip with the reason, unless DOJO_REQUIRE_SANDBOX=1 (CI) makes the skip a failure."""
    reason = sandbox_skip_reason()
    if reason:
        if os.environ.get("DOJO_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"DOJO_REQUIRE_SANDBOX=1 but the root-driver sandbox cannot be tested: {reason}")
        pytest.skip(reason)
