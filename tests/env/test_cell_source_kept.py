"""No failure of the driver hides what ran: a cell's source is saved before it runs.

Also, through the env: a cell whose messages break the driver is recorded with its source and
ends as error, output floods stay capped in the trajectory, and an absurd submission is refused
fast by validate.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.kernel.conftest import backend_or_skip
from tests.docker_support import backend_param

_SEND = "k = get_ipython().kernel\nparent = k.get_parent()\n"
DUPLICATE = (_SEND + "msg = k.session.msg('stream', {'name': 'stdout', 'text': 'dup\\n'}, parent=parent)\n"
             "k.session.send(k.iopub_socket, msg)\nk.session.send(k.iopub_socket, msg)\n")
DEEP = ("from IPython.display import display\nd = node = {}\nfor i in range(500):\n"
        "    node['a'] = {}\n    node = node['a']\ndisplay({'application/json': d, 'text/plain': 'deep'}, raw=True)\n")
FLOOD = ("from IPython.display import display\nfor i in range(20):\n"
         "    display({'text/plain': 'x'}, metadata={'m': 'y' * 1_000_000}, raw=True)\n")


@pytest.fixture(params=["local", backend_param("docker")])
def env_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return backend_or_skip(request.param, monkeypatch)


def _cells(env) -> list[dict]:
    return json.loads((Path(env.episode_dir) / "trajectory.ipynb").read_text())["cells"]


def test_source_is_saved_before_the_cell_runs(make_env, env_backend: str) -> None:
    env = make_env(backend=env_backend, cell_timeout_s=60)
    env.reset()
    code = "import time\ntime.sleep(4)  # marker-1234"
    done = threading.Event()
    worker = threading.Thread(target=lambda: (env.step({"type": "execute_code", "code": code}), done.set()))
    worker.start()
    try:
        seen = None
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and seen is None:
            cells = _cells(env)
            seen = next((c for c in cells if "marker-1234" in "".join(c["source"])), None)
            time.sleep(0.1)
        assert seen is not None and not done.is_set()
        assert seen["metadata"]["dojo"]["status"] == "running" and seen["outputs"] == []
    finally:
        worker.join(timeout=60)
    cell = next(c for c in _cells(env) if "marker-1234" in "".join(c["source"]))
    assert cell["metadata"]["dojo"]["status"] == "ok"
    assert isinstance(cell["metadata"]["dojo"]["elapsed_s"], float)


@pytest.mark.parametrize("code", [DUPLICATE, DEEP], ids=["duplicate_signature", "nested_500_deep"])
def test_broken_message_cell_is_recorded_as_error(make_env, env_backend: str, code: str) -> None:
    env = make_env(backend=env_backend)
    env.reset()
    obs, *_ = env.step({"type": "execute_code", "code": code + "# broken-cell"})
    assert obs["status"] == "error" and "could not process" in (obs["message"] or "")
    cell = _cells(env)[obs["cell_index"]]
    assert "# broken-cell" in "".join(cell["source"])
    assert cell["metadata"]["dojo"]["status"] == "error"
    assert env.session.session.client.pollers_running() == 0
    nxt, *_ = env.step({"type": "execute_code", "code": "print(INPUT_DIR is not None)"})
    assert nxt["status"] == "ok" and nxt["text"].strip() == "True"


def test_output_flood_is_capped_in_the_trajectory(make_env) -> None:
    env = make_env(backend="local")
    env.reset()
    path = Path(env.episode_dir) / "trajectory.ipynb"
    before = path.stat().st_size
    obs, *_ = env.step({"type": "execute_code", "code": FLOOD})
    assert "characters of output dropped" in obs["text"]
    assert path.stat().st_size - before < 2_000_000
    assert len(json.dumps(obs)) < 2_000_000


def test_800k_column_submission_is_refused_fast_by_validate(make_env) -> None:
    env = make_env(backend="local")
    env.reset()
    write = ("with open(SUBMISSION_PATH, 'w') as fh:\n"
             "    fh.write(','.join(f'c{i}' for i in range(800_000)) + '\\n')")
    assert env.step({"type": "execute_code", "code": write})[0]["status"] == "ok"
    t = time.monotonic()
    obs, *_ = env.step({"type": "validate"})
    assert time.monotonic() - t < 10
    assert obs["status"] == "error" and "columns" in obs["message"]
    t = time.monotonic()
    obs, *_ = env.step({"type": "submit"})
    assert time.monotonic() - t < 10
    assert obs["status"] == "error" and obs["grading"]["valid"] is False
