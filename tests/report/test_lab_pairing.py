"""The pairing Lab Compare asks for (dojo_nb/views/lab/pairing.py), without a browser:
it is the static compare's alignment, refuses paths leaving the Jupyter root and notebooks
that are not trajectories."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from dojo_nb.views.lab.pairing import PairingError, pairing
from dojo_nb.views.report.compare import align
from dojo_nb.views.report.episode import load_episode

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "episode-layout-v1"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "a")
    shutil.copytree(FIXTURE, tmp_path / "b")
    nb = nbformat.read(tmp_path / "b" / "trajectory.ipynb", as_version=4)
    del nb.cells[3]  # B lacks a cell: the rows must say so
    nbformat.write(nb, tmp_path / "b" / "trajectory.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), tmp_path / "plain.ipynb")
    return tmp_path


def test_rows_are_the_static_pages(root: Path) -> None:
    answer = pairing(root, "a/trajectory.ipynb", "b/trajectory.ipynb")
    rows, method = align(load_episode(root / "a").nb, load_episode(root / "b").nb, "content")
    assert answer["rows"] == [[r.a, r.b, r.kind] for r in rows]
    assert answer["method"] == method
    assert any(kind == "only-a" for _a, _b, kind in answer["rows"])
    assert answer["same_task"] is True
    assert answer["a"]["episode"] == "a" and answer["a"]["label"].endswith("· a")


@pytest.mark.parametrize("rel", ["../a/trajectory.ipynb", "/etc/passwd", "a/../../x.ipynb", ""])
def test_paths_outside_the_root_are_refused(root: Path, rel: str) -> None:
    with pytest.raises(PairingError, match="Jupyter root"):
        pairing(root, rel, "a/trajectory.ipynb")


def test_a_plain_notebook_is_refused(root: Path) -> None:
    with pytest.raises(PairingError, match=r"plain.ipynb: not a dojo-nb trajectory"):
        pairing(root, "plain.ipynb", "a/trajectory.ipynb")


def test_a_link_out_of_the_root_is_refused(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    shutil.copytree(FIXTURE, outside / "ep")
    (root / "link").symlink_to(outside / "ep", target_is_directory=True)
    with pytest.raises(PairingError, match="outside the Jupyter root"):
        pairing(root, "link/trajectory.ipynb", "a/trajectory.ipynb")
