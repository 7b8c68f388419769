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


#: Test modules that share state on disk beyond the task cache (which is safe to share: a
#: preparation is renamed into place atomically) run on one xdist worker, one after another.
_SHARED_GROUPS = {
    # the catalogue's imported-tasks folder: tests import, overwrite and remove competitions in it
    "imported-tasks": ("tests/tasks/test_mlebench_", "tests/tasks/test_mledojo_", "tests/tasks/test_competition_"),
    # the views' session-scoped episodes, and the one JupyterLab server of the browser tests
    "views": ("tests/report/", "tests/browser/"),
}


def _xdist_group(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    for group, prefixes in _SHARED_GROUPS.items():
        if path.startswith(prefixes):
            return group
    return path  # one module, one worker: its module- and session-scoped fixtures are built once


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``-n N --dist loadgroup`` (the default run, see pyproject.toml), keep each module on
    one worker, and the modules of a shared group together."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_xdist_group(item.nodeid)))
