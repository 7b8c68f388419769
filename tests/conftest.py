"""Shared test fixtures. Area-specific fixtures live in each test package's conftest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep prepared task data for the test session under one temp dir, unless the caller pinned a cache."""
    if "DOJO_NB_CACHE" not in os.environ:
        os.environ["DOJO_NB_CACHE"] = str(Path.home() / ".cache" / "dojo-nb-tests")
    # Whole episodes on every task: a tenth of each playground task's rows (tests/tasks/test_catalogue.py
    # and test_lookup.py pin the full size, which the leaderboards were made at).
    os.environ.setdefault("DOJO_NB_TASK_SIZE", "tiny")


@pytest.fixture(autouse=True, scope="session")
def _no_leftovers_of_killed_drivers() -> Iterator[None]:
    """Tests SIGKILL drivers on purpose; what those leave (mounted disks, cgroups, socket
    folders) is removed at the end, as `dojo-nb kernel gc` would."""
    yield
    from dojo_nb.kernel import gc

    gc.collect(docker=False)
