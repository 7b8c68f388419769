"""solution.ipynb keeps a dependency-safe subset: no cell that read what only a failed cell bound."""

from __future__ import annotations

from pathlib import Path

import nbformat

import dojo_nb
from dojo_nb.record.deps import cell_names, dependency_safe
from dojo_nb.replay import replay_episode


def test_names_read_and_bound() -> None:
    names = cell_names("import numpy as np\nx = np.zeros(3)\ndf['a'] = x + y\ncount += 1\n"
                       "def f(v, w=default):\n    return v + w + g\nfor i in range(3):\n    pass\n"
                       "total = sum(k for k in items)\n")
    assert names.binds == {"np", "x", "df", "count", "f", "i", "total"}
    assert names.reads == {"df", "y", "count", "default", "g", "items", "range", "sum"}
    # a name bound earlier in the same cell is not read from the kernel
    assert "x" not in cell_names("x = 1\nprint(x)").reads
    # IPython syntax is rewritten first; text that is not Python reads every identifier it holds
    magic = cell_names("%time z = w + 1")
    assert {"z", "w"} <= magic.reads and {"z", "w"} <= magic.in_magics and not magic.binds
    assert dependency_safe([("%time z = 1/0", False), ("print(z)", True)]) == [False, False]
    broken = cell_names("x = = 1")
    assert not broken.parsed and "x" in broken.reads and not broken.binds


def test_dependency_safe_rule() -> None:
    cells = [("a = 1", True),
             ("b = a\nraise ValueError", False),  # binds b before failing
             ("c = b + 1", True),                 # read b: dropped, c tainted
             ("print(c)", True),                  # read c: dropped
             ("b = 2\nprint(b)", True),           # rebinds b without reading it: kept, taint cleared
             ("print(a, b)", True)]
    assert dependency_safe(cells) == [True, False, False, False, True, True]
    # a syntax error never ran: it binds nothing
    assert dependency_safe([("x = = 1", False), ("print(a)", True)]) == [False, True]
    # a failed cell rebinding a name an earlier kept cell bound taints it as well
    assert dependency_safe([("m = 1", True), ("m = 2; 1/0", False), ("print(m)", True)]) == [True, False, False]


def test_replay_of_an_episode_whose_failed_cell_bound_a_name_reproduces(tmp_path: Path) -> None:
    env = dojo_nb.make("iris-species", out_dir=tmp_path / "ep", max_steps=10)
    env.reset()
    cells = [
        (("import os, shutil\nsrc = os.path.join(INPUT_DIR, 'sample_submission.csv')\n"
          "raise RuntimeError('failed after binding src')"), "error"),
        ("copy_from = src", "ok"),                                   # worked live: src was bound
        ("import os, shutil\nshutil.copy(os.path.join(INPUT_DIR, 'sample_submission.csv'), SUBMISSION_PATH)", "ok"),
        ("print(copy_from)", "ok"),
    ]
    for code, status in cells:
        obs, *_ = env.step({"type": "execute_code", "code": code})
        assert obs["status"] == status, obs
    *_, info = env.step({"type": "submit", "final": True})
    env.close()
    assert info["final"]["valid"], info["final"]
    solution = nbformat.read(env.episode_dir / "solution.ipynb", as_version=4)
    kept = [c.source for c in solution.cells if c.cell_type == "code"]
    assert cells[2][0] in kept and not any(code in kept for code, _ in (cells[0], cells[1], cells[3]))
    rep = replay_episode(env.episode_dir)
    assert rep.reproduced, rep.to_dict()
