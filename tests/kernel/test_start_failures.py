"""A kernel that cannot start says why; a Python living under /tmp (a venv there) works."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from dojo_nb.kernel import SandboxSpec, SyncKernelSession
from dojo_nb.kernel.session import KernelSessionError

from .conftest import require_sandbox


@pytest.fixture(autouse=True)
def _root_sandbox() -> None:
    require_sandbox()


def test_a_kernel_that_cannot_start_shows_bubblewraps_own_error(monkeypatch: pytest.MonkeyPatch,
                                                                 episode_root: Path) -> None:
    import dojo_nb.kernel.bwrap as bw

    if sys.executable.startswith("/usr/"):
        pytest.skip("this Python lives under /usr, which the sandbox always has")
    monkeypatch.setattr(bw, "python_dirs", lambda: [])  # the kernel's Python is then missing inside
    s = SyncKernelSession(SandboxSpec(root=episode_root), backend="local", startup_timeout=20)
    try:
        with pytest.raises(KernelSessionError) as caught:
            s.start()
    finally:
        s.close()
    text = str(caught.value)
    assert "did not start" in text and "its last output" in text and "No such file or directory" in text, text


VENV_DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dojo_nb.kernel import SandboxSpec, SyncKernelSession
    with SyncKernelSession(SandboxSpec(root=Path(sys.argv[1])), backend="local") as s:
        r = s.execute("import sys; print(sys.prefix)", timeout=60)
        print(r.status, r.text.strip())
""")


def test_a_python_under_tmp_runs_sandboxed_kernels(tmp_path: Path) -> None:
    venv = Path(tempfile.mkdtemp(prefix="dojo-venv-", dir="/tmp"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                       check=True)
        venv.chmod(0o755)  # mkdtemp makes it 0700: the sandbox's unprivileged user could not run it
        res = subprocess.run([str(venv / "bin" / "python"), "-c", VENV_DRIVER, str(tmp_path / "ep")],
                             capture_output=True, text=True, timeout=180)
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.split() == ["ok", str(venv)], res.stdout + res.stderr[-2000:]
    finally:
        shutil.rmtree(venv, ignore_errors=True)
