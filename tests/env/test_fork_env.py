"""`env.fork()`: a second episode that starts where this one is, its kernel forked (no cell re-run),
its files and submission path its own, its record saying it is a fork; its solution replays alone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest

import dojo_nb
from dojo_nb.record.metadata import EpisodeMeta

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"),
                                reason="forking needs a root driver and bubblewrap")

FIT = """\
import pandas as pd, time
from sklearn.ensemble import RandomForestClassifier
train = pd.read_csv(f"{INPUT_DIR}/train.csv")
target = [c for c in train.columns if c not in ("id",)][-1]
X = train.drop(columns=[target]).select_dtypes("number").fillna(0)
model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, train[target])
FITTED_AT = time.time()
open(f"{WORKING_DIR}/features.txt", "w").write("parent")
"""

SUBMIT = """\
import shutil, glob
shutil.copy(sorted(glob.glob(f"{INPUT_DIR}/sample_submission*"))[0], SUBMISSION_PATH)
print(open(f"{WORKING_DIR}/features.txt").read(), type(model).__name__, FITTED_AT)
"""


def test_fork_continues_the_episode_in_its_own_folder(tmp_path: Path, task_id: str) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    env = dojo_nb.make(task_id, out_dir=tmp_path / "parent", max_steps=10)
    env.reset()
    fitted = env.step({"type": "execute_code", "code": FIT})[0]
    assert fitted["status"] == "ok", fitted["text"]
    child = env.fork(tmp_path / "child")
    try:
        meta = EpisodeMeta.of(child.trajectory)
        assert meta.fork["method"] == "fork", meta.fork
        parent_uid = EpisodeMeta.of(env.trajectory).episode_uid
        assert meta.episode_uid and parent_uid and meta.episode_uid != parent_uid  # export keeps them apart
        assert meta.fork["parent_episode"] == str(tmp_path / "parent") and meta.fork["parent_steps"] == 1
        assert child.state.steps == 1 and len(child.trajectory) == len(env.trajectory) + 1
        stamp = env.step({"type": "execute_code", "code": "print(FITTED_AT)"})[0]["text"].strip()
        obs = child.step({"type": "execute_code", "code": SUBMIT})[0]
        assert obs["status"] == "ok", obs["text"]
        name, model, at = obs["text"].split()
        assert (name, model, at) == ("parent", "RandomForestClassifier", stamp)  # the model was not re-fitted
        assert child.submission_host_path.is_file() and not env.submission_host_path.exists()
        assert child.submission_host_path.parent.parent == tmp_path / "child" / "sandbox"
        assert child.step({"type": "execute_code", "code": "open(f'{WORKING_DIR}/features.txt', 'w').write('child')"}
                          )[0]["status"] == "ok"
        assert env.step({"type": "execute_code", "code": "print(open(f'{WORKING_DIR}/features.txt').read())"}
                        )[0]["text"].strip() == "parent"
        sub = child.step({"type": "submit"})[0]
        assert sub["status"] == "ok", sub
    finally:
        env.close()
        child.close()
    assert (tmp_path / "child" / "sandbox" / "working" / "features.txt").read_text() == "child"
    from dojo_nb.replay import replay_episode

    report = replay_episode(tmp_path / "child")
    assert report.valid and report.failed_cell is None, report.message
    leftover = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    kernels = [p for p in leftover if any(k in " ".join(p.cmdline()) for k in ("ipykernel", "bwrap"))]
    psutil.wait_procs(kernels, timeout=10)
    assert not [p.pid for p in kernels if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_an_unsafe_kernel_is_forked_by_re_running_its_cells(tmp_path: Path, task_id: str) -> None:
    env = dojo_nb.make(task_id, out_dir=tmp_path / "parent", max_steps=10)
    env.reset()
    code = "import threading, time\nvalue = 7\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()"
    assert env.step({"type": "execute_code", "code": code})[0]["status"] == "ok"
    with pytest.warns(UserWarning, match="re-runs the cells"):
        child = env.fork(tmp_path / "child")
    try:
        fork = EpisodeMeta.of(child.trajectory).fork
        assert fork["method"] == "rerun" and "thread" in fork["reason"]
        assert child.step({"type": "execute_code", "code": "print(value)"})[0]["text"].strip() == "7"
    finally:
        env.close()
        child.close()


def test_a_pooled_kernel_forks(tmp_path: Path, task_id: str) -> None:
    """A kernel from the warm pool was started in a staging folder, then moved into its episode."""
    env = dojo_nb.make(task_id, out_dir=tmp_path / "parent", max_steps=10, pool=1)
    try:
        env.pool.wait_ready(timeout=180)
        env.reset()
        assert EpisodeMeta.of(env.trajectory).kernel_source == "pool"
        assert env.step({"type": "execute_code", "code": "v = 5"})[0]["status"] == "ok"
        child = env.fork(tmp_path / "child")
        try:
            assert EpisodeMeta.of(child.trajectory).fork["method"] == "fork"
            obs = child.step({"type": "execute_code", "code": "open(f'{WORKING_DIR}/v.txt', 'w').write(str(v))"})[0]
            assert obs["status"] == "ok", obs["text"]
        finally:
            child.close()
        assert (tmp_path / "child" / "sandbox" / "working" / "v.txt").read_text() == "5"
    finally:
        env.close()


def test_a_fork_whose_kernel_dies_goes_on_in_a_cold_kernel_over_its_own_files(tmp_path: Path,
                                                                              task_id: str) -> None:
    """A dead fork cannot restart in place (its state came from its parent): a cold kernel takes
    over its folders, the parameters point at them, and the parent is untouched."""
    env = dojo_nb.make(task_id, out_dir=tmp_path / "parent", max_steps=10)
    try:
        env.reset()
        assert env.step({"type": "execute_code", "code": "v = 5"})[0]["status"] == "ok"
        child = env.fork(tmp_path / "child")
        try:
            wrote = child.step({"type": "execute_code", "code": "open(f'{WORKING_DIR}/mine.txt', 'w').write('c')"})[0]
            assert wrote["status"] == "ok", wrote["text"]
            died = child.step({"type": "execute_code", "code": "import os; os._exit(1)"})[0]
            assert died["status"] == "crashed" and "fresh kernel was started" in died["text"], died["text"]
            after = child.step({"type": "execute_code", "code":
                                "import os\nprint(open(f'{WORKING_DIR}/mine.txt').read(), 'v' in globals(), "
                                "os.path.realpath(os.getcwd()) == os.path.realpath(WORKING_DIR))"})[0]
            assert after["status"] == "ok" and after["text"].split() == ["c", "False", "True"], after["text"]
            again = child.step({"type": "execute_code", "code": "open(SUBMISSION_PATH, 'w').write('id\\n')"})[0]
            assert again["status"] == "ok" and child.submission_host_path.is_file(), again["text"]
        finally:
            child.close()
        assert (tmp_path / "child" / "sandbox" / "working" / "mine.txt").read_text() == "c"
        assert not (tmp_path / "parent" / "sandbox" / "working" / "mine.txt").exists()
        assert env.step({"type": "execute_code", "code": "print(v)"})[0]["text"].strip() == "5"
        assert not env.submission_host_path.exists()
    finally:
        env.close()
