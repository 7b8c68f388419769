"""What a sandbox is made of: the episode folder, its limits, and where the kernel sees it.

A `SandboxSpec` is plain data so that it can travel to a kernel provisioner
(inside a kernelspec's metadata, or as a JSON file named by an environment
variable) and be rebuilt there unchanged.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Where sandboxed kernels (bwrap, docker) see the episode, so notebooks are portable between runs.
EPISODE_MOUNT = "/episode"

#: Environment variable naming a JSON file with a `SandboxSpec`; read by provisioners started
#: by kernel name (papermill, JupyterLab) when no spec is given in the kernelspec.
SPEC_ENV = "DOJO_NB_SANDBOX_SPEC"

_SUBDIRS = ("input", "working", "submission")

#: The sandbox folder of an episode folder (the same name as dojo_nb.record.layout.SANDBOX, which
#: kernel/ does not import; a test checks they agree): a kernel started by name in an episode
#: folder (JupyterLab on a trajectory) runs in that episode's sandbox.
EPISODE_SANDBOX = "sandbox"


def normalize_gpus(gpus: str | int | None) -> str | int | None:
    """``None``/``0``/``"none"``: no GPU; ``"all"``; or a positive count (``2`` or ``"2"``)."""
    if gpus is None or gpus is False:
        return None
    if isinstance(gpus, str):
        text = gpus.strip().lower()
        if text in ("", "0", "none", "no"):
            return None
        if text == "all":
            return "all"
        if text.isdigit():
            return int(text)
        raise ValueError(f"gpus must be 'all', a count or none, got {gpus!r}")
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise ValueError(f"gpus must be 'all', a count or none, got {gpus!r}")
    return gpus or None


@dataclass(frozen=True)
class SandboxPaths:
    """The episode folders as the kernel sees them (strings: they may not exist on the host)."""

    input_dir: str
    working_dir: str
    submission_dir: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class SandboxSpec:
    """One episode's sandbox: `root` holds input/ (read-only inside), working/ and submission/.

    `memory_mb` (every kind of memory: heap, shared mappings, memfd, tmpfs), `cpus`, `pids`,
    `disk_mb` (what ``working/`` and ``submission/`` may hold together) and `tmp_mb` (the
    size of the private ``/tmp``) are limits; each backend enforces what the machine allows
    and says at start which one it cannot (see `dojo_nb.kernel.limits`). `network=False`
    cuts the kernel off from any network; `gpus` passes NVIDIA GPUs in (None: none; "all";
    or a count); `env` is added to the kernel's (otherwise minimal) environment.
    """

    root: Path
    memory_mb: int | None = 4096
    cpus: float | None = 1.0
    pids: int | None = 512
    disk_mb: int | None = 10240
    tmp_mb: int | None = 1024
    network: bool = False
    gpus: str | int | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser().resolve()
        if self.memory_mb is not None and int(self.memory_mb) <= 0:
            raise ValueError(f"memory_mb must be positive, got {self.memory_mb!r}")
        if self.cpus is not None and float(self.cpus) <= 0:
            raise ValueError(f"cpus must be positive, got {self.cpus!r}")
        if self.pids is not None and int(self.pids) <= 0:
            raise ValueError(f"pids must be positive, got {self.pids!r}")
        for name in ("disk_mb", "tmp_mb"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) <= 0):
                raise ValueError(f"{name} must be a positive number of MB, got {value!r}")
        self.gpus = normalize_gpus(self.gpus)
        bad = [k for k, v in self.env.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise ValueError(f"env keys and values must be strings; bad keys: {bad!r}")
        self.env = dict(self.env)

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def working_dir(self) -> Path:
        return self.root / "working"

    @property
    def submission_dir(self) -> Path:
        return self.root / "submission"

    def ensure_dirs(self) -> None:
        """Create the three episode folders if missing (a kernel cannot start without them)."""
        for name in _SUBDIRS:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def host_paths(self) -> SandboxPaths:
        return SandboxPaths(str(self.input_dir), str(self.working_dir), str(self.submission_dir))

    @staticmethod
    def mounted_paths() -> SandboxPaths:
        """The fixed paths used by sandboxes that remap the episode (bwrap, docker)."""
        return SandboxPaths(
            f"{EPISODE_MOUNT}/input", f"{EPISODE_MOUNT}/working", f"{EPISODE_MOUNT}/submission"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["root"] = str(self.root)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxSpec:
        if not isinstance(data, dict) or "root" not in data:
            raise ValueError("a sandbox spec needs at least a 'root' folder")
        known = {"root", "memory_mb", "cpus", "pids", "disk_mb", "tmp_mb", "network", "gpus", "env"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown sandbox spec fields: {unknown}")
        return cls(**data)

    def write_json(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def from_env_or_cwd(cls, cwd: str | os.PathLike[str] | None = None) -> SandboxSpec:
        """The spec for a kernel started by name: the file in $DOJO_NB_SANDBOX_SPEC, else the
        folder it was started in (`cwd`, else this process's), or that folder's episode
        sandbox when it is an episode folder (``sandbox/input/`` in it)."""
        named = os.environ.get(SPEC_ENV)
        if named:
            try:
                return cls.from_dict(json.loads(Path(named).read_text()))
            except (OSError, ValueError) as exc:
                raise ValueError(f"${SPEC_ENV}={named!r} is not a readable sandbox spec: {exc}") from exc
        folder = Path(cwd) if cwd else Path.cwd()
        episode_sandbox = folder / EPISODE_SANDBOX
        if (episode_sandbox / "input").is_dir() and not episode_sandbox.is_symlink():
            return cls(root=episode_sandbox)
        return cls(root=folder)
