"""What this machine can do for dojo-nb, checked for real (`dojo-nb doctor`).

Each check says ok / missing / degraded and the exact fix, so a user learns before a run
fails whether kernels will be sandboxed, which limits hold, whether Docker and its image are
there, where the cache is. A check is *required* when the chosen backend cannot isolate
agents' code without it (safe-by-default refuses them then).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, distribution, version
from pathlib import Path
from typing import Any

OK, MISSING, DEGRADED = "ok", "missing", "degraded"
APT_FIX = "apt-get install -y bubblewrap (as root; or `dojo-nb doctor --fix`)"


@dataclass
class Check:
    """One capability: its status, what was found, and what to run when it is not ok."""

    name: str
    status: str
    detail: str
    fix: str = ""
    required: bool = False
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    backend: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        """False when a required capability is not ok: the default backend cannot isolate."""
        return all(c.status == OK for c in self.checks if c.required)

    def get(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "backend": self.backend, "checks": [c.to_dict() for c in self.checks]}


# --- local sandbox ------------------------------------------------------------------------
def _probe_local_kernel() -> tuple[float, dict[str, Any] | None, str | None]:
    """Start a real sandboxed local kernel: (seconds, what it saw, error)."""
    from dojo_nb.kernel import SandboxSpec, SyncKernelSession

    code = "import os, json; print(json.dumps({'uid': os.getuid(), 'host_root_visible': os.path.exists('/root')}))"
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dojo-doctor-") as tmp:
        try:
            with SyncKernelSession(SandboxSpec(root=Path(tmp), disk_mb=None), backend="local") as session:
                result = session.execute(code, timeout=60)
        except Exception as exc:  # noqa: BLE001 - the reason is the finding
            return time.monotonic() - t0, None, f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - t0
    if result.status != "ok":
        return seconds, None, f"the probe cell ended {result.status}: {result.text[-300:]}"
    import json

    try:
        return seconds, json.loads(result.text.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return seconds, None, f"the probe cell printed {result.text[-200:]!r}"


def check_bwrap(required: bool) -> tuple[Check, dict[str, Any] | None]:
    """bubblewrap installed, and a real sandboxed kernel starts here (user namespaces allowed)."""
    from dojo_nb.kernel.bwrap import NO_BWRAP_ENV, bwrap_path

    if os.environ.get(NO_BWRAP_ENV, "").strip() not in ("", "0", "false", "no"):
        return Check("bubblewrap", MISSING, f"${NO_BWRAP_ENV} is set: local kernels run unsandboxed",
                     f"unset {NO_BWRAP_ENV}", required), None
    path = bwrap_path()
    if not path:
        return Check("bubblewrap", MISSING, "bwrap is not installed: local kernels would run unsandboxed",
                     APT_FIX + ", or use --backend docker", required), None
    seconds, seen, error = _probe_local_kernel()
    if error:
        return Check("bubblewrap", MISSING, f"{path} is installed but a sandboxed kernel does not start: {error}",
                     "allow unprivileged user namespaces (sysctl -w kernel.unprivileged_userns_clone=1; on "
                     "Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0), or use --backend docker",
                     required, {"path": path, "seconds": round(seconds, 2)}), None
    return Check("bubblewrap", OK, f"{path}: a sandboxed kernel started and ran a cell in {seconds:.1f}s",
                 required=required, facts={"path": path, "seconds": round(seconds, 2)}), seen


def check_uid(seen: dict[str, Any] | None) -> Check:
    """The uid a local kernel runs as: never root, never the driver's root."""
    from dojo_nb.kernel import users

    if seen is None:
        return Check("sandbox uid", MISSING, f"no sandboxed kernel: kernels would run as the driver (uid {os.geteuid()})",
                     "fix bubblewrap above")
    uid = int(seen["uid"])
    if uid == 0:
        return Check("sandbox uid", MISSING, "the probe kernel ran as uid 0", "report this: it must never happen",
                     facts={"uid": uid})
    if os.geteuid() == 0:
        return Check("sandbox uid", OK, f"root driver: one uid per kernel from {users.BASE_UID} "
                     f"(the probe ran as {uid})", facts={"uid": uid, "base": users.BASE_UID})
    return Check("sandbox uid", DEGRADED, f"kernels run as your own uid {uid} (a root driver gives each its own)",
                 "run the driver as root for per-kernel uids", facts={"uid": uid})


def check_limits(sandboxed: bool) -> list[Check]:
    """Memory, pids, CPU (cgroups) and disk (loop-mounted image): enforced, or rlimits only."""
    from dojo_nb.kernel import cgroups, disk

    if not sandboxed:
        weak = "no sandbox: rlimits only (heap, per-user processes)"
        return [Check(n, DEGRADED, weak, "fix bubblewrap above") for n in ("memory limit", "pids limit", "cpu limit")] \
            + [Check("disk limit", MISSING, "no sandbox: working/ is not limited", "fix bubblewrap above")]
    out = []
    why = cgroups.unavailable_reason() if os.geteuid() == 0 else "cgroups need a root driver"
    how = {"memory limit": "every kind (heap, shared, /tmp)", "pids limit": "processes per kernel",
           "cpu limit": "cpuset per kernel"}
    for name, what in how.items():
        if why is None:
            out.append(Check(name, OK, f"cgroup {cgroups.layout()}: {what}"))
        else:
            out.append(Check(name, DEGRADED, f"rlimits only: {why}",
                             "run the driver as root with a writable /sys/fs/cgroup" if os.geteuid() else
                             "mount a cgroup file system with memory, pids and cpuset (or delegate a subtree)"))
    reason = disk.unavailable_reason()
    out.append(Check("disk limit", OK, "loop-mounted ext4 per kernel for working/ + submission/") if reason is None
               else Check("disk limit", DEGRADED, f"not enforced: {reason}",
                          "run the driver as root with loop devices and e2fsprogs (apt-get install e2fsprogs)"))
    return out


# --- docker -------------------------------------------------------------------------------
def _docker_client() -> tuple[Any, str | None]:
    try:
        import docker
    except ImportError:
        return None, "the docker Python package is not installed"
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return None, f"no Docker engine answers at {where} ({type(exc).__name__})"
    return client, None


def check_docker(required: bool) -> tuple[list[Check], Any]:
    """The engine answers; the kernel image is there and built from the current kernels/."""
    from dojo_nb.kernel.docker import IMAGE

    client, why = _docker_client()
    if client is None:
        fix = "start dockerd (`bash kernels/ci-docker.sh` does), or install Docker Engine"
        return [Check("docker engine", MISSING, why or "", fix, required),
                Check("kernel image", MISSING, "no engine to ask", "start the engine, then `dojo-nb kernel build`",
                      required)], None
    info = client.version()
    engine = Check("docker engine", OK, f"Docker {info.get('Version', '?')} answers", required=required)
    try:
        image = client.images.get(IMAGE)
    except Exception:  # noqa: BLE001
        return [engine, Check("kernel image", MISSING, f"{IMAGE} is not built",
                              "dojo-nb kernel build --no-registry", required)], client
    from dojo_nb.kernel.image import BASE_NO_REGISTRY, HASH_LABEL, content_hash

    label = (image.labels or {}).get(HASH_LABEL)
    current = label in {content_hash(b) for b in ("python:3.11-slim", BASE_NO_REGISTRY)}
    size = f"{(image.attrs.get('Size') or 0) / 1e6:.0f} MB"
    if current:
        return [engine, Check("kernel image", OK, f"{IMAGE} ({size}) is current", required=required)], client
    return [engine, Check("kernel image", DEGRADED, f"{IMAGE} ({size}) is stale: kernels/ or the host's "
                          "package versions changed since it was built", "dojo-nb kernel build --no-registry",
                          required)], client


def check_gpus(docker_client: Any) -> list[Check]:
    """An NVIDIA GPU for local kernels (device nodes, driver) and for containers (runtime)."""
    from dojo_nb.kernel.gpus import gpu_unavailable_reason

    reason = gpu_unavailable_reason()
    local = Check("gpu (local)", OK, "an NVIDIA GPU can be bound into the sandbox") if reason is None else \
        Check("gpu (local)", MISSING, reason, "only for GPU tasks: install the NVIDIA driver")
    if docker_client is None:
        return [local, Check("gpu (docker)", MISSING, "no Docker engine", "only for GPU tasks: start the engine")]
    if reason is not None:
        return [local, Check("gpu (docker)", MISSING, reason, "only for GPU tasks: install the NVIDIA driver")]
    runtimes = (docker_client.info() or {}).get("Runtimes") or {}
    if "nvidia" in runtimes:
        return [local, Check("gpu (docker)", OK, "the nvidia container runtime is registered")]
    return [local, Check("gpu (docker)", MISSING, "the engine has no nvidia runtime",
                         "install nvidia-container-toolkit, then nvidia-ctk runtime configure --runtime=docker")]


# --- this installation ----------------------------------------------------------------------
def _size_mb(root: Path, budget_s: float = 5.0) -> tuple[float, bool]:
    """Bytes under `root` in MB, and whether the walk finished within `budget_s`."""
    total, deadline = 0, time.monotonic() + budget_s
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
        if time.monotonic() > deadline:
            return total / 1e6, False
    return total / 1e6, True


def check_cache() -> Check:
    """Where prepared task data and the wheelhouse live, how big, and room left."""
    from dojo_nb.paths import cache_dir

    root = cache_dir()
    size, complete = _size_mb(root)
    free_mb = shutil.disk_usage(root).free / 1e6
    detail = f"{root}: {size:.0f} MB{'' if complete else '+'} used, {free_mb / 1000:.1f} GB free"
    facts = {"path": str(root), "size_mb": round(size, 1), "free_mb": round(free_mb)}
    if free_mb < 1000:
        return Check("cache", DEGRADED, detail, "free disk space there, or set DOJO_NB_CACHE elsewhere", facts=facts)
    return Check("cache", OK, detail, facts=facts)


def _requirement_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0]


def check_extras() -> list[Check]:
    """Each optional extra of the dojo-nb package: installed, or the pip command for it."""
    try:
        dist = distribution("dojo-nb")
    except PackageNotFoundError:
        return [Check("extras", MISSING, "dojo-nb is not installed as a package", 'pip install -e ".[dev]"')]
    out = []
    for extra in dist.metadata.get_all("Provides-Extra") or []:
        reqs = [r for r in dist.requires or [] if re.search(rf"extra\s*==\s*['\"]{re.escape(extra)}['\"]", r)]
        missing = []
        for req in reqs:
            try:
                version(_requirement_name(req))
            except PackageNotFoundError:
                missing.append(_requirement_name(req))
        if missing:
            out.append(Check(f"extra [{extra}]", MISSING, "not installed: " + ", ".join(missing),
                             f'pip install "dojo-nb[{extra}]" (from a checkout: pip install -e ".[{extra}]")'))
        else:
            out.append(Check(f"extra [{extra}]", OK, ", ".join(_requirement_name(r) for r in reqs)))
    return out


def diagnose(backend: str = "local") -> Report:
    """Every check, for real; `backend` decides which ones are required."""
    bwrap, seen = check_bwrap(required=backend == "local")
    checks = [bwrap, check_uid(seen), *check_limits(seen is not None)]
    docker_checks, client = check_docker(required=backend == "docker")
    checks += docker_checks + check_gpus(client) + [check_cache()] + check_extras()
    return Report(backend, checks)


def fix_bubblewrap(run: bool) -> tuple[bool, str]:
    """Install bubblewrap with the system's package manager when root: (ran ok, what happened)."""
    if shutil.which("bwrap"):
        return True, "bubblewrap is already installed"
    apt = shutil.which("apt-get")
    if not apt:
        return False, "no apt-get here: install bubblewrap with this system's package manager"
    if os.geteuid() != 0:
        return False, "not root: run `sudo apt-get install -y bubblewrap`"
    if not run:
        return False, f"would run: {apt} install -y bubblewrap"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run([apt, "install", "-y", "bubblewrap"], env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0:  # a fresh machine's package lists may be empty
        subprocess.run([apt, "update"], env=env, stdin=subprocess.DEVNULL)
        done = subprocess.run([apt, "install", "-y", "bubblewrap"], env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        return False, f"apt-get install -y bubblewrap failed (exit {done.returncode})"
    return True, "installed bubblewrap"


__all__ = ["Check", "Report", "diagnose", "fix_bubblewrap"]
