"""The answers stay secret: every way a cell could look for them fails, on each sandboxed backend.

A cell tries, from inside a real episode: walking the whole file system for a file with the
answers' exact bytes, the host path of the answers, /proc of the driver and of every process
it can see, the environment (with secrets planted in the driver's own), the Docker socket, and
the network (a server the test runs on the host's loopback, and the outside). It also tries to
tamper with what is graded: the notebook, the summary, SUBMISSION_PATH itself.

Without bwrap the local backend protects none of this; the README says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import dojo_nb
from tests.docker_support import backend_param, docker_wanted, skip_without_docker
from dojo_nb.tasks.cache import prepare_task

PLANTED = {"DOJO_NB_API_KEY": "sk-planted-dojo-secret", "OPENAI_API_KEY": "sk-planted-openai-secret",
           "AWS_SECRET_ACCESS_KEY": "planted-aws-secret"}


def _backends() -> list:
    import shutil

    out = []
    if shutil.which("bwrap"):
        out.append("local")
    if docker_wanted():
        out.append(backend_param("docker"))
    return out or ["none"]


@pytest.fixture(scope="module")
def host_server() -> Iterator[int]:
    """A TCP server on the host's loopback that records whether anyone reached it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    hits: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            hits.append("hit")
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = srv.getsockname()[1]
    try:
        yield port
    finally:
        stop.set()
        t.join(timeout=5)
        srv.close()
    assert not hits, "a cell reached a server on the host's loopback"


@pytest.fixture(params=_backends())
def episode(request: pytest.FixtureRequest, tmp_path: Path, task_id: str,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[dojo_nb.env.DojoEnv]:
    if request.param == "none":
        pytest.skip("neither bwrap nor docker is available: there is no sandbox to test")
    if request.param == "docker":
        skip_without_docker()
    for key, value in PLANTED.items():
        monkeypatch.setenv(key, value)
    env = dojo_nb.make(task_id, backend=request.param, out_dir=tmp_path / "ep", max_steps=50,
                       cell_timeout_s=240)
    env.reset()
    try:
        yield env
    finally:
        env.close()


def _run(env: dojo_nb.env.DojoEnv, code: str) -> dict:
    obs, *_ = env.step({"type": "execute_code", "code": code})
    assert obs["status"] == "ok", obs["text"]
    return json.loads(obs["text"].strip().splitlines()[-1])


def _answers(env: dojo_nb.env.DojoEnv) -> list[Path]:
    private = Path(prepare_task(env.task).private_dir)
    files = [p for p in private.rglob("*") if p.is_file()]
    assert files
    return files


def test_walking_the_file_system_finds_no_answers(episode: dojo_nb.env.DojoEnv) -> None:
    files = _answers(episode)
    targets = {p.stat().st_size: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    code = f"""
import os, hashlib, json
targets = {targets!r}
found, scanned = [], 0
for top, dirs, names in os.walk('/', onerror=lambda e: None):
    if top.startswith(('/proc', '/sys', '/dev')):
        dirs[:] = []
        continue
    for n in names:
        p = os.path.join(top, n)
        try:
            size = os.lstat(p).st_size
            scanned += 1
            if size in targets and hashlib.sha256(open(p, 'rb').read()).hexdigest() == targets[size]:
                found.append(p)
        except OSError:
            pass
print(json.dumps({{"found": found, "scanned": scanned}}))
"""
    out = _run(episode, code)
    assert out["scanned"] > 100  # the walk really ran
    assert out["found"] == []


def test_host_paths_and_other_processes_are_out_of_reach(episode: dojo_nb.env.DojoEnv) -> None:
    files = _answers(episode)
    driver = os.getpid()
    paths = [str(p) for p in files] + [str(files[0].parent), str(Path(prepare_task(episode.task).private_dir).parent),
                                       f"/proc/{driver}/root{files[0]}", f"/proc/{driver}/environ",
                                       f"/proc/{driver}/cmdline", f"/proc/1/root{files[0]}",
                                       str(episode.episode_dir / "trajectory.ipynb")]
    code = f"""
import os, json
readable = []
for p in {paths!r}:
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            open(p, 'rb').read(16)
        readable.append(p)
    except OSError:
        pass
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
envs = []
for pid in pids:
    try:
        envs.append(open(f'/proc/{{pid}}/environ', 'rb').read().decode(errors='replace'))
    except OSError:
        pass
print(json.dumps({{"readable": readable, "pids": pids, "environs": envs}}))
"""
    out = _run(episode, code)
    assert out["readable"] == []
    assert driver not in out["pids"] or episode.backend == "docker" and len(out["pids"]) <= 4
    assert len(out["pids"]) <= 4, f"the kernel sees other processes: {out['pids']}"
    for text in out["environs"]:
        for value in PLANTED.values():
            assert value not in text
        assert str(prepare_task(episode.task).private_dir) not in text


def test_environment_holds_no_secret_and_no_host_path(episode: dojo_nb.env.DojoEnv) -> None:
    out = _run(episode, "import os, json\nprint(json.dumps(dict(os.environ)))")
    flat = json.dumps(out)
    for key, value in PLANTED.items():
        assert key not in out and value not in flat
    assert str(Path(prepare_task(episode.task).private_dir).parent.parent) not in flat
    assert str(episode.episode_dir) not in flat


def test_no_docker_socket_and_no_network(episode: dojo_nb.env.DojoEnv, host_server: int) -> None:
    code = f"""
import os, socket, json
result = {{}}
for path in ('/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock'):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    try:
        s.connect(path)
        result[path] = 'connected'
    except OSError as e:
        result[path] = 'refused: ' + type(e).__name__
    finally:
        s.close()
for host, port in (('127.0.0.1', {host_server}), ('10.0.0.1', 80), ('1.1.1.1', 53), ('172.17.0.1', 2375)):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, port))
        result[f'{{host}}:{{port}}'] = 'connected'
    except OSError as e:
        result[f'{{host}}:{{port}}'] = 'refused: ' + type(e).__name__
    finally:
        s.close()
try:
    socket.getaddrinfo('pypi.org', 443)
    result['dns'] = 'resolved'
except OSError as e:
    result['dns'] = 'failed: ' + type(e).__name__
print(json.dumps(result))
"""
    out = _run(episode, code)
    assert not [k for k, v in out.items() if v in ("connected", "resolved")], out


def test_tampering_changes_nothing_that_is_graded(episode: dojo_nb.env.DojoEnv) -> None:
    env = episode
    import nbformat

    before = nbformat.read(env.episode_dir / "trajectory.ipynb", as_version=4)
    code = """
import os, json, glob, shutil
tried = {}
for target in ('/episode/../trajectory.ipynb', '/episode/trajectory.ipynb', '/episode/summary.json',
               os.path.join(INPUT_DIR, '..', '..', 'trajectory.ipynb')):
    try:
        open(target, 'w').write('{}')
        tried[target] = 'written'
    except OSError as e:
        tried[target] = type(e).__name__
# Point the notebook's variable elsewhere: the env grades its own path, not the variable.
SUBMISSION_PATH = os.path.join(WORKING_DIR, 'elsewhere.csv')
shutil.copy(sorted(glob.glob(os.path.join(INPUT_DIR, 'sample_submission*')))[0], SUBMISSION_PATH)
print(json.dumps(tried))
"""
    tried = _run(env, code)
    # Whatever a cell could write stays inside its own sandbox, never the episode's records.
    after = nbformat.read(env.episode_dir / "trajectory.ipynb", as_version=4)
    nbformat.validate(after)
    assert len(after.cells) == len(before.cells) + 1
    assert [c.source for c in after.cells[:-1]] == [c.source for c in before.cells]
    assert not (env.episode_dir / "summary.json").exists()
    assert not [p for p in env.episode_dir.rglob("elsewhere.csv") if "working" not in p.parts]
    obs, reward, *_ = env.step({"type": "submit"})
    assert obs["status"] == "error" and "no submission file" in obs["text"], obs["text"]
    assert reward == 0.0
