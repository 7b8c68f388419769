"""NVIDIA GPUs for a sandboxed kernel: what docker asks for, what bwrap binds, whether any exist.

GPUs are off unless asked for (`SandboxSpec.gpus`: None, "all" or a count). Docker gets
device requests (the NVIDIA container toolkit does the rest); bubblewrap gets the device
nodes bound in and the host's driver libraries bound read-only, since a sandbox's /usr may
not hold the driver that matches the host's kernel module. Asking for GPUs on a machine
without them fails early with `gpu_unavailable_reason`, not with a CUDA error in a cell.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from dojo_nb.kernel.spec import normalize_gpus

#: Control nodes every CUDA process needs besides the per-GPU /dev/nvidiaN.
_CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
_GPU_NODE = re.compile(r"^nvidia(\d+)$")
_LIB_PATTERNS = (re.compile(r"^libcuda(debugger)?\.so"), re.compile(r"^libnvidia-[\w.-]*\.so"),
                 re.compile(r"^libnvcuvid\.so"), re.compile(r"^libnvoptix\.so"))
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
             "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/run/nvidia/driver/usr/lib/x86_64-linux-gnu")
_BINARIES = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced")


class GpuUnavailable(RuntimeError):
    """GPUs were asked for and this machine cannot give them (the message says why)."""


def docker_device_requests(gpus: str | int | None) -> list[Any]:
    """Docker SDK device requests for `gpus`: [] for None, count=-1 for "all", else count=N."""
    gpus = normalize_gpus(gpus)
    if gpus is None:
        return []
    import docker

    count = -1 if gpus == "all" else int(gpus)
    return [docker.types.DeviceRequest(count=count, capabilities=[["gpu"]])]


def nvidia_device_nodes(root: str | os.PathLike[str] = "/") -> list[str]:
    """The /dev/nvidia* nodes present under `root` (GPUs first, in number order, then control
    nodes, then /dev/nvidia-caps/*), as paths under `root`; `root` lets tests use a fake /dev."""
    dev = Path(root) / "dev"
    if not dev.is_dir():
        return []
    gpus = sorted((int(m.group(1)), p) for p in dev.iterdir() if (m := _GPU_NODE.match(p.name)))
    out = [str(p) for _, p in gpus]
    out += [str(dev / n) for n in _CONTROL_NODES if os.path.lexists(dev / n)]
    caps = dev / "nvidia-caps"
    if caps.is_dir():
        out += sorted(str(p) for p in caps.iterdir())
    return out


def _ldconfig_libs() -> list[str]:
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else None)
    if not ldconfig:
        return []
    try:
        text = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in text.splitlines():
        name, _, path = line.strip().partition(" => ")
        name = name.split(" ", 1)[0]
        if path and any(p.match(name) for p in _LIB_PATTERNS):
            found.append(path.strip())
    return found


def nvidia_driver_paths() -> list[str]:
    """Host driver files a CUDA program needs (libcuda*, libnvidia-*, nvidia-smi, ...), found
    with ``ldconfig -p`` and in the usual library folders; each an existing path, no duplicates."""
    paths = _ldconfig_libs()
    for folder in _LIB_DIRS:
        for p in glob.glob(os.path.join(folder, "lib*.so*")):
            if any(pat.match(os.path.basename(p)) for pat in _LIB_PATTERNS):
                paths.append(p)
    for name in _BINARIES:
        found = shutil.which(name)
        if found:
            paths.append(found)
    seen: set[str] = set()
    out = []
    for p in paths:
        if p not in seen and os.path.exists(p):
            seen.add(p)
            out.append(p)
    return out


def bwrap_gpu_args(gpus: str | int | None, *, root: str | os.PathLike[str] = "/",
                   driver_paths: list[str] | None = None) -> list[str]:
    """bwrap arguments giving the sandbox `gpus`: ``--dev-bind`` for the device nodes (the first
    N GPUs for a count, all for "all", plus the control nodes) and ``--ro-bind`` for driver
    files not under /usr (the sandbox binds /usr already). [] for None."""
    gpus = normalize_gpus(gpus)
    if gpus is None:
        return []
    nodes = nvidia_device_nodes(root)
    per_gpu = [n for n in nodes if _GPU_NODE.match(os.path.basename(n))]
    keep = per_gpu if gpus == "all" else per_gpu[: int(gpus)]
    base = Path(root)
    args: list[str] = []
    for node in nodes:
        if node in per_gpu and node not in keep:
            continue
        inside = "/" + str(Path(node).relative_to(base)) if base != Path("/") else node
        args += ["--dev-bind", node, inside]
    for path in nvidia_driver_paths() if driver_paths is None else driver_paths:
        if not path.startswith("/usr/"):
            args += ["--ro-bind", path, path]
    return args


def gpu_unavailable_reason(root: str | os.PathLike[str] = "/") -> str | None:
    """Why no NVIDIA GPU can be given to a kernel here (no /dev/nvidia0, nvidia-smi missing or
    failing), or None when there is one."""
    if not os.path.exists(Path(root) / "dev" / "nvidia0"):
        return "no NVIDIA GPU on this machine (/dev/nvidia0 does not exist)"
    smi = shutil.which("nvidia-smi")
    if not smi:
        return "/dev/nvidia0 exists but nvidia-smi is not installed (no NVIDIA driver found)"
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi could not run: {exc}"
    if done.returncode != 0 or "GPU" not in done.stdout:
        why = (done.stderr or done.stdout).strip().splitlines()
        return f"nvidia-smi failed: {why[0] if why else f'exit status {done.returncode}'}"
    return None


def require_gpus(gpus: str | int | None) -> None:
    """Raise `GpuUnavailable` when `gpus` asks for GPUs this machine does not have."""
    if normalize_gpus(gpus) is None:
        return
    reason = gpu_unavailable_reason()
    if reason:
        raise GpuUnavailable(f"gpus={gpus!r} was asked for, but {reason}")


def nvidia_visible(gpus: str | int | None) -> dict[str, str]:
    """The kernel's environment for `gpus`: NVIDIA_VISIBLE_DEVICES ("all" or "0,1,...") and, for
    a count, CUDA_VISIBLE_DEVICES too; with no GPU both say none, so CUDA finds none by itself."""
    gpus = normalize_gpus(gpus)
    if gpus is None:
        return {"NVIDIA_VISIBLE_DEVICES": "void", "CUDA_VISIBLE_DEVICES": ""}
    if gpus == "all":
        return {"NVIDIA_VISIBLE_DEVICES": "all"}
    ids = ",".join(str(i) for i in range(int(gpus)))
    return {"NVIDIA_VISIBLE_DEVICES": ids, "CUDA_VISIBLE_DEVICES": ids}


__all__ = ["GpuUnavailable", "bwrap_gpu_args", "docker_device_requests", "gpu_unavailable_reason",
           "nvidia_device_nodes", "nvidia_driver_paths", "nvidia_visible", "require_gpus"]
