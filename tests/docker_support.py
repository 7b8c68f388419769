"""The one copy of the tests' docker rules: when docker is usable, and how a docker test skips.

A docker test is marked ``docker`` (``pytest -m "not docker"`` leaves them out). It skips
when the engine or the kernel image is missing, with the reason, unless DOJO_REQUIRE_DOCKER=1
(set by CI where docker must work): then the skip is a failure.
"""

from __future__ import annotations

import os
from typing import Any

import pytest


def docker_reason() -> str | None:
    """Why the docker backend cannot run here (None: it can)."""
    try:
        from dojo_nb.kernel.docker import docker_unavailable_reason
    except ImportError as exc:
        return f"the docker backend is not available: {exc}"
    return docker_unavailable_reason()


def docker_required() -> bool:
    return os.environ.get("DOJO_REQUIRE_DOCKER") == "1"


def docker_wanted() -> bool:
    """Whether docker tests should run at all: docker works here, or CI requires it."""
    return docker_reason() is None or docker_required()


def skip_without_docker() -> None:
    """Skip (or, with DOJO_REQUIRE_DOCKER=1, fail) the running test when docker is unusable."""
    reason = docker_reason()
    if reason:
        if docker_required():
            pytest.fail(f"DOJO_REQUIRE_DOCKER=1 but docker is unavailable: {reason}")
        pytest.skip(f"docker unavailable: {reason}")


def backend_param(name: str) -> Any:
    """A backend name as a pytest parameter; "docker" carries the ``docker`` marker."""
    return pytest.param(name, marks=pytest.mark.docker) if name == "docker" else name
