"""GPUs: --gpus parsing, make(gpus=...) reaching the SandboxSpec, docker device requests,
bwrap binds against a fake /dev, and one live test where an NVIDIA GPU really exists."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import dojo_nb
from dojo_nb.cli import app
from dojo_nb.commands.episode import parse_gpus
from dojo_nb.kernel import SandboxSpec
from dojo_nb.kernel import gpus as g


def _fake_dev(root: Path, n: int = 3) -> Path:
    dev = root / "dev"
    (dev / "nvidia-caps").mkdir(parents=True)
    for name in [f"nvidia{i}" for i in range(n)] + ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"]:
        (dev / name).touch()
    (dev / "nvidia-caps" / "nvidia-cap1").touch()
    (dev / "null").touch()
    return root


def test_parse_gpus_values() -> None:
    assert parse_gpus(None) == {}
    assert parse_gpus("all") == {"gpus": "all"}
    assert parse_gpus("2") == {"gpus": 2}
    assert parse_gpus("0") == {} and parse_gpus("none") == {}
    with pytest.raises(typer.BadParameter):
        parse_gpus("lots")


@pytest.mark.parametrize("command", [["run", "--task", "penguins-species"], ["replay", "/nonexistent"],
                                     ["resume", "/nonexistent"]])
def test_cli_rejects_bad_gpus(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--gpus", "lots"])
    assert result.exit_code == 2
    assert "gpus" in result.output


@pytest.mark.parametrize("command", ["run", "replay", "resume"])
def test_cli_offers_gpus(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--gpus" in result.output


def test_cli_gpus_reach_the_runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import dojo_nb.runners.episodes as runner

    seen: dict = {}

    def fake_run_episode(task, agent, **kwargs):
        seen.update(kwargs)
        return runner.EpisodeOutcome(task, tmp_path, start_error="RuntimeError: stopped by the test")

    monkeypatch.setattr(runner, "run_episode", fake_run_episode)
    result = CliRunner().invoke(app, ["run", "--task", "penguins-species", "--gpus", "2", "--out", str(tmp_path)])
    assert seen.get("gpus") == 2, result.output
    assert result.exit_code == 1


@pytest.mark.parametrize(("asked", "expected"), [("all", "all"), ("2", 2), (1, 1)])
def test_make_gpus_reaches_the_sandbox_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            asked, expected) -> None:
    import dojo_nb.env.sandbox as sandbox

    monkeypatch.setattr(g, "gpu_unavailable_reason", lambda root="/": None)  # pretend GPUs exist
    seen: list = []

    def capture(spec, backend, pool):
        seen.append(spec)
        raise RuntimeError("stopped by the test before a kernel starts")

    monkeypatch.setattr(sandbox, "_start_kernel", capture)
    env = dojo_nb.make("penguins-species", gpus=asked, out_dir=tmp_path / "ep")
    try:
        with pytest.raises(RuntimeError, match="stopped by the test"):
            env.reset()
    finally:
        env.close()
    assert isinstance(seen[0], SandboxSpec) and seen[0].gpus == expected


def test_make_without_gpus_is_off_and_asking_without_any_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    env = dojo_nb.make("penguins-species")
    assert SandboxSpec(root=Path.cwd(), **env.sandbox_limits).gpus is None
    env.close()
    monkeypatch.setattr(g, "gpu_unavailable_reason", lambda root="/": "no NVIDIA GPU on this machine (test)")
    with pytest.raises(g.GpuUnavailable, match="no NVIDIA GPU on this machine"):
        dojo_nb.make("penguins-species", gpus=1)


def test_docker_device_requests() -> None:
    assert g.docker_device_requests(None) == []
    assert g.docker_device_requests("none") == []
    (all_,) = g.docker_device_requests("all")
    assert all_["Count"] == -1 and all_["Capabilities"] == [["gpu"]]
    (two,) = g.docker_device_requests(2)
    assert two["Count"] == 2 and two["Capabilities"] == [["gpu"]]


def test_device_nodes_of_a_fake_dev(tmp_path: Path) -> None:
    root = _fake_dev(tmp_path, n=11)
    nodes = [str(Path(n).relative_to(root)) for n in g.nvidia_device_nodes(root)]
    assert nodes[:11] == [f"dev/nvidia{i}" for i in range(11)]  # number order: 2 before 10
    assert nodes[11:] == ["dev/nvidiactl", "dev/nvidia-uvm", "dev/nvidia-uvm-tools", "dev/nvidia-caps/nvidia-cap1"]
    assert g.nvidia_device_nodes(tmp_path / "nowhere") == []


def test_bwrap_args_against_a_fake_dev(tmp_path: Path) -> None:
    root = _fake_dev(tmp_path)
    libs = ["/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/opt/driver/libnvidia-ml.so.1"]
    assert g.bwrap_gpu_args(None, root=root, driver_paths=libs) == []
    two = g.bwrap_gpu_args(2, root=root, driver_paths=libs)
    binds = [(two[i + 1], two[i + 2]) for i in range(0, len(two), 3) if two[i] == "--dev-bind"]
    assert [dst for _, dst in binds] == ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm",
                                         "/dev/nvidia-uvm-tools", "/dev/nvidia-caps/nvidia-cap1"]
    assert all(src == str(root) + dst for src, dst in binds)
    ro = [two[i + 1] for i in range(0, len(two), 3) if two[i] == "--ro-bind"]
    assert ro == ["/opt/driver/libnvidia-ml.so.1"]  # /usr is bound already
    every = g.bwrap_gpu_args("all", root=root, driver_paths=[])
    assert every.count("--dev-bind") == 3 + 4
    assert "--dev-bind" in g.bwrap_gpu_args(1, root=root, driver_paths=[])


def test_unavailable_reason_and_visible_env(tmp_path: Path) -> None:
    assert "no NVIDIA GPU" in g.gpu_unavailable_reason(tmp_path)
    assert g.nvidia_visible(None) == {"NVIDIA_VISIBLE_DEVICES": "void", "CUDA_VISIBLE_DEVICES": ""}
    assert g.nvidia_visible("all") == {"NVIDIA_VISIBLE_DEVICES": "all"}
    assert g.nvidia_visible(2) == {"NVIDIA_VISIBLE_DEVICES": "0,1", "CUDA_VISIBLE_DEVICES": "0,1"}
    g.require_gpus(None)  # nothing asked, nothing checked


def _nvidia_smi_works() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


LIVE_SKIP = "no NVIDIA GPU on this machine: the live GPU test was SKIPPED"


def test_live_gpu_is_seen_by_nvidia_smi() -> None:
    if not _nvidia_smi_works():
        import warnings

        warnings.warn(LIVE_SKIP, stacklevel=1)  # in the warnings summary, which -q still prints
        pytest.skip(LIVE_SKIP)
    assert g.gpu_unavailable_reason() is None
    assert any(os.path.basename(n) == "nvidia0" for n in g.nvidia_device_nodes())
    assert g.nvidia_driver_paths()
    assert "--dev-bind" in g.bwrap_gpu_args(1)


def test_the_local_sandbox_binds_the_gpu_nodes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """bwrap_argv carries bwrap_gpu_args' binds for a spec with gpus (nodes of a fake /dev)."""
    from dojo_nb.kernel import bwrap, gpus
    from dojo_nb.kernel.spec import SandboxSpec

    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia0", "nvidia1", "nvidiactl"):
        (dev / name).touch()
    real = gpus.bwrap_gpu_args
    monkeypatch.setattr(gpus, "bwrap_gpu_args", lambda g: real(g, root=tmp_path, driver_paths=[]))
    spec = SandboxSpec(root=tmp_path / "ep", gpus=1)
    argv = bwrap.bwrap_argv("bwrap", spec, tmp_path / "s")
    joined = " ".join(argv)
    assert f"--dev-bind {dev}/nvidia0 /dev/nvidia0" in joined and f"--dev-bind {dev}/nvidiactl /dev/nvidiactl" in joined
    assert "nvidia1" not in joined
    assert argv.index("--dev") < argv.index("--dev-bind")  # after /dev is made, or it would hide them
    assert "--dev-bind" not in bwrap.bwrap_argv("bwrap", SandboxSpec(root=tmp_path / "ep"), tmp_path / "s")
