"""The kernelspecs shipped with the package (what JupyterLab starts from a trajectory).

A trajectory's ``metadata.kernelspec`` names ``dojo-local`` or ``dojo-docker``; the wheel
installs both (kernels/kernelspecs -> share/jupyter/kernels), so Lab finds them instead of
switching the notebook to python3. Started by name they must still be sandboxed: a real
kernel is started by name through jupyter_client, as JupyterLab does, with only the shipped
files on JUPYTER_PATH.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from dojo_nb.kernel import backends
from dojo_nb.kernel.backends import NotIsolated

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "kernels" / "kernelspecs"


@pytest.mark.parametrize("name", ["local", "docker"])
def test_shipped_kernelspec_is_what_install_writes(name: str) -> None:
    backend = backends.get(name)
    shipped = json.loads((SHIPPED / backend.kernel_name() / "kernel.json").read_text())
    assert shipped == backend.named_kernelspec()
    # ... and it is the name a trajectory records.
    assert backend.notebook_kernelspec()["name"] == backend.kernel_name()
    assert shipped["metadata"]["kernel_provisioner"] == {"provisioner_name": f"dojo-{name}", "config": {}}


def test_pyproject_ships_them() -> None:
    text = (REPO / "pyproject.toml").read_text()
    for name in ("dojo-local", "dojo-docker"):
        assert f'"kernels/kernelspecs/{name}" = "share/jupyter/kernels/{name}"' in text


def _manager(tmp_path: Path) -> KernelManager:
    data = tmp_path / "data" / "kernels"
    shutil.copytree(SHIPPED, data)
    ksm = KernelSpecManager(kernel_dirs=[str(data)])
    return KernelManager(kernel_name="dojo-local", kernel_spec_manager=ksm)


def _run(km: KernelManager, code: str) -> str:
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        out: list[str] = []
        reply = client.execute_interactive(
            code, timeout=60, output_hook=lambda m: out.append(m["content"].get("text", "")))
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(out)
    finally:
        client.stop_channels()


def test_started_by_name_is_sandboxed_in_the_notebooks_folder(tmp_path: Path) -> None:
    if not shutil.which("bwrap"):
        pytest.skip("bwrap is not installed (apt-get install bubblewrap)")
    folder = tmp_path / "episode"
    folder.mkdir()
    km = _manager(tmp_path)
    # What jupyter_server does for a notebook in `folder`.
    km.start_kernel(cwd=str(folder))
    try:
        out = _run(km, "import os; print(os.getuid(), os.getcwd(), os.path.exists(%r))" % str(REPO))
    finally:
        km.shutdown_kernel(now=True)
    uid, cwd, sees_repo = out.split()
    assert int(uid) != 0
    assert cwd == "/episode/working"
    assert sees_repo == "False", "the kernel sees the dojo-nb checkout"
    # The sandbox is the notebook's folder, not the server's working directory.
    assert sorted(p.name for p in folder.iterdir()) == ["input", "submission", "working"]


def test_started_by_name_without_a_sandbox_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOJO_NB_NO_BWRAP", "1")
    monkeypatch.delenv("DOJO_NB_UNSAFE_NO_SANDBOX", raising=False)
    folder = tmp_path / "episode"
    folder.mkdir()
    km = _manager(tmp_path)
    with pytest.raises(NotIsolated, match="kernel started by name"):
        km.start_kernel(cwd=str(folder))
    assert not km.has_kernel
    assert list(folder.iterdir()) == []


def test_started_by_name_in_an_episode_folder_uses_its_sandbox(tmp_path: Path) -> None:
    """JupyterLab on runs/EP/trajectory.ipynb: the kernel sees that episode's input and working."""
    if not shutil.which("bwrap"):
        pytest.skip("bwrap is not installed (apt-get install bubblewrap)")
    from dojo_nb.kernel.spec import EPISODE_SANDBOX
    from dojo_nb.record import layout

    assert EPISODE_SANDBOX == layout.SANDBOX
    episode = tmp_path / "ep"
    for part in layout.SANDBOX_PARTS:
        (episode / layout.SANDBOX / part).mkdir(parents=True)
    (episode / layout.SANDBOX / "input" / "train.csv").write_text("a\n1\n")
    km = _manager(tmp_path)
    km.start_kernel(cwd=str(episode))
    try:
        out = _run(km, "import os; print(sorted(os.listdir('/episode/input')))")
    finally:
        km.shutdown_kernel(now=True)
    assert out.strip() == "['train.csv']"
    assert sorted(p.name for p in episode.iterdir()) == [layout.SANDBOX]
