"""`dojo-nb doctor`, the real command in a subprocess: each capability as this machine has it,
with bubblewrap and without (off PATH, or switched off), with a Docker engine and without;
exit 1 exactly when the chosen backend cannot isolate; `--fix` runs apt-get when root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NAMES = {"bubblewrap", "sandbox uid", "memory limit", "pids limit", "cpu limit", "disk limit", "docker engine",
         "kernel image", "gpu (local)", "gpu (docker)", "cache"}
NO_ENGINE = "unix:///nonexistent/docker.sock"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DOJO_NB_NO_BWRAP"}
    env.update({"PYTHONPATH": str(REPO), "COLUMNS": "100"})
    env.update(extra)
    return env


def _doctor(*args: str, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "dojo_nb.cli", "doctor", "--json", *args], capture_output=True,
                          text=True, env=env, timeout=240)
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"not JSON: {done.stdout!r} {done.stderr!r}") from None


def _checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    checks = {c["name"]: c for c in report["checks"]}
    assert NAMES <= set(checks), set(checks)
    assert all(c["status"] in ("ok", "missing", "degraded") for c in checks.values())
    assert all(c["fix"] for c in checks.values() if c["status"] != "ok"), "every problem names its fix"
    return checks


def _bare_path(tmp_path: Path) -> str:
    """PATH without bwrap: a scratch folder and this interpreter's folder only."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    return f"{tmp_path / 'bin'}:{os.path.dirname(sys.executable)}"


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bwrap is not installed here")
def test_with_bubblewrap_a_real_sandboxed_kernel_starts(tmp_path: Path) -> None:
    code, report = _doctor(env=_env(DOCKER_HOST=NO_ENGINE))
    checks = _checks(report)
    assert code == 0 and report["ok"], report
    bwrap = checks["bubblewrap"]
    assert bwrap["status"] == "ok" and bwrap["required"] and 0 < bwrap["facts"]["seconds"] < 120
    uid = checks["sandbox uid"]["facts"]["uid"]
    assert uid != 0
    if os.geteuid() == 0:  # a root driver: the probe kernel had a uid of its own
        assert checks["sandbox uid"]["status"] == "ok" and uid >= checks["sandbox uid"]["facts"]["base"]
        from dojo_nb.kernel import cgroups

        want = "ok" if cgroups.unavailable_reason() is None else "degraded"
        assert checks["memory limit"]["status"] == checks["pids limit"]["status"] == want
    else:
        assert checks["sandbox uid"]["status"] == "degraded" and uid == os.geteuid()
        assert checks["memory limit"]["status"] == "degraded"
    cache = checks["cache"]
    assert cache["status"] in ("ok", "degraded") and cache["facts"]["path"] == os.environ["DOJO_NB_CACHE"]
    assert any(name.startswith("extra [") for name in checks)


def test_without_bubblewrap_on_path_the_local_backend_is_not_ready(tmp_path: Path) -> None:
    code, report = _doctor(env=_env(PATH=_bare_path(tmp_path), DOCKER_HOST=NO_ENGINE))
    checks = _checks(report)
    assert code == 1 and not report["ok"]
    assert checks["bubblewrap"]["status"] == "missing" and "apt-get install -y bubblewrap" in checks["bubblewrap"]["fix"]
    assert checks["sandbox uid"]["status"] == "missing"
    assert checks["disk limit"]["status"] == "missing"


def test_switched_off_bubblewrap_names_the_switch(tmp_path: Path) -> None:
    code, report = _doctor(env=_env(DOJO_NB_NO_BWRAP="1", DOCKER_HOST=NO_ENGINE))
    assert code == 1
    assert _checks(report)["bubblewrap"]["fix"] == "unset DOJO_NB_NO_BWRAP"


def test_without_a_docker_engine(tmp_path: Path) -> None:
    code, report = _doctor(env=_env(DOJO_NB_NO_BWRAP="1", DOCKER_HOST=NO_ENGINE))
    checks = _checks(report)
    assert checks["docker engine"]["status"] == "missing" and NO_ENGINE in checks["docker engine"]["detail"]
    assert not checks["docker engine"]["required"]  # the local backend is the one asked about
    assert checks["kernel image"]["status"] == checks["gpu (docker)"]["status"] == "missing"
    code, report = _doctor("--backend", "docker", env=_env(DOJO_NB_NO_BWRAP="1", DOCKER_HOST=NO_ENGINE))
    assert code == 1 and _checks(report)["docker engine"]["required"]


@pytest.mark.docker
def test_with_a_docker_engine(tmp_path: Path) -> None:
    from tests.docker_support import docker_reason

    reason = docker_reason()
    if reason and "image" not in reason:
        pytest.skip(f"no Docker engine here: {reason}")
    code, report = _doctor("--backend", "docker", env=_env(DOJO_NB_NO_BWRAP="1"))
    checks = _checks(report)
    assert checks["docker engine"]["status"] == "ok"
    assert checks["kernel image"]["status"] == ("missing" if reason else checks["kernel image"]["status"])
    assert code == (0 if checks["kernel image"]["status"] == "ok" else 1)


@pytest.mark.skipif(os.geteuid() != 0, reason="--fix installs only as root")
def test_fix_runs_apt_get_install_bubblewrap_when_it_is_missing(tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    path = _bare_path(tmp_path)
    fake = tmp_path / "bin" / "apt-get"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\necho \"$DEBIAN_FRONTEND\" >> {log}\n")
    fake.chmod(0o755)
    code, report = _doctor("--fix", env=_env(PATH=path, DOCKER_HOST=NO_ENGINE))
    assert log.read_text().splitlines()[:2] == ["install -y bubblewrap", "noninteractive"]
    assert report["fixed"]["bubblewrap"]["ok"]
    assert code == 1  # the fake installed nothing: still missing, and said so


def test_the_table_for_people(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "dojo_nb.cli", "doctor"], capture_output=True, text=True,
                          env=_env(PATH=_bare_path(tmp_path), DOCKER_HOST=NO_ENGINE), timeout=240)
    assert done.returncode == 1
    for word in ("capability", "bubblewrap *", "missing", "fix: apt-get install -y", "not ready", "extra ["):
        assert word in done.stdout, (word, done.stdout)
