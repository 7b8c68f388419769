"""Fixtures for the real-browser tests: trajectories, a `jupyter lab` server, headless Chromium.

Everything here is real: two episodes run by the environment on the local backend, a
`jupyter lab` started on 127.0.0.1 (free port, token, temp root/settings/workspaces), and
Debian's Chromium driven by Playwright for Python. Every process started here is stopped in
the fixture's teardown, also when a test fails.

When Chromium or Playwright is missing the tests skip with the reason, unless
DOJO_REQUIRE_BROWSER=1, which turns the skip into a failure (CI sets it after .ci/browser.sh).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest

CHROMIUM = os.environ.get("DOJO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
IMG_DIR = REPO / "docs" / "img"
TASK = "iris-species"
OTHER_TASK = "wine-cultivar"
XSS_HTML = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (Playwright)")


def _unavailable(reason: str) -> None:
    if os.environ.get("DOJO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DOJO_REQUIRE_BROWSER=1 but the browser tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _unavailable(f"playwright for Python is not installed ({exc}); pip install -e '.[dev]'")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM}; run .ci/browser.sh "
                     "(apt-get install chromium chromium-driver)")
    return CHROMIUM


# --- trajectories ---------------------------------------------------------------------------
@dataclass
class Episodes:
    root: Path          # the Jupyter root dir
    baseline: Path      # episode dir (relative name "baseline" under root)
    scripted: Path      # episode dir (relative name "scripted"): errors, two submits, XSS output
    other_task: Path    # episode dir (relative name "other-task"): the baseline on OTHER_TASK
    plain: Path         # "plain.ipynb": an ordinary notebook, not a trajectory

    def rel(self, episode: Path) -> str:
        return (episode / "trajectory.ipynb").relative_to(self.root).as_posix()


_SCRIPTED_CELLS: list[dict[str, Any]] = [
    {"type": "add_markdown", "text": "Plan: a constant guess first, then nearest neighbours."},
    {"type": "execute_code", "code": (
        "import os\nimport pandas as pd\n"
        "train = pd.read_csv(os.path.join(INPUT_DIR, 'train.csv'))\n"
        "test = pd.read_csv(os.path.join(INPUT_DIR, 'test.csv'))\n"
        "sample = pd.read_csv(os.path.join(INPUT_DIR, 'sample_submission.csv'))\n"
        "print(train.shape, test.shape)")},
    {"type": "execute_code", "code": "train['no_such_column'].mean()"},
    {"type": "execute_code", "code": (
        "from IPython.display import HTML, display\n"
        f"display(HTML({XSS_HTML!r}))")},
    {"type": "execute_code", "code": (
        "guess = sample.copy()\nguess['species'] = train['species'].mode()[0]\n"
        "guess.to_csv(SUBMISSION_PATH, index=False)\nprint(guess.head(3))")},
    {"type": "submit"},
    {"type": "execute_code", "code": (
        "from sklearn.neighbors import KNeighborsClassifier\n"
        "features = [c for c in test.columns if c != 'id']\n"
        "fill = train[features].median()  # the playground data has missing cells\n"
        "model = KNeighborsClassifier(5).fit(train[features].fillna(fill), train['species'])\n"
        "pd.DataFrame({'id': test['id'], 'species': model.predict(test[features].fillna(fill))})"
        ".to_csv(SUBMISSION_PATH, index=False)")},
    {"type": "submit", "final": True},
]


def scripted_episode(task: str, out_dir: Path, actions: list[dict[str, Any]], max_steps: int = 40) -> Path:
    """A real episode whose agent ("scripted") takes `actions` in order; its folder."""
    import dojo_nb

    env = dojo_nb.make(task, backend="local", out_dir=out_dir, agent_name="scripted", max_steps=max_steps)
    try:
        obs, info = env.reset()
        for action in actions:
            obs, _reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        return Path(info["episode_dir"])
    finally:
        env.close()


@pytest.fixture(scope="session")
def episodes(tmp_path_factory: pytest.TempPathFactory) -> Episodes:
    """Two real trajectories on one task: the baseline agent, and a scripted run."""
    from dojo_nb.runners.episodes import run_episode

    root = tmp_path_factory.mktemp("lab-root")
    outcome = run_episode(TASK, "baseline", out_dir=root / "baseline", replay=False, max_steps=40)
    assert outcome.error is None, outcome.error
    scripted = scripted_episode(TASK, root / "scripted", _SCRIPTED_CELLS)
    other = run_episode(OTHER_TASK, "baseline", out_dir=root / "other-task", replay=False, max_steps=40)
    assert other.error is None, other.error
    for ep in (outcome.episode_dir, scripted, other.episode_dir):
        assert (ep / "trajectory.ipynb").is_file(), ep
    plain = root / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")]), plain)
    return Episodes(root=root, baseline=Path(outcome.episode_dir), scripted=scripted,
                    other_task=Path(other.episode_dir), plain=plain)


# --- jupyter lab ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a process we started in its own session, and everything it started."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # children (kernels, terminals) that outlived the server
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    proc: subprocess.Popen

    def api(self, path: str) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())


@pytest.fixture(scope="session")
def lab(episodes: Episodes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """`jupyter lab` on 127.0.0.1 over the episodes' root, isolated settings, stopped at the end."""
    if shutil.which("jupyter") is None and not _has_module("jupyterlab"):
        _unavailable("jupyterlab is not installed; pip install -e '.[dev]'")
    home = tmp_path_factory.mktemp("lab-home")
    settings = home / "settings"
    # No news/update toasts over the screenshot.
    notif = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notif.parent.mkdir(parents=True)
    notif.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # The server extension, enabled by the file the wheel installs in etc/jupyter.
    server_d = home / "config" / "jupyter_server_config.d"
    server_d.mkdir(parents=True)
    shutil.copy(REPO / "jupyter-config" / "jupyter_server_config.d" / "dojo_nb.json", server_d)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_PLATFORM_DIRS="1", JUPYTER_PATH=str(_checkout_share(home)),
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    log = open(home / "lab.log", "wb")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={episodes.root}",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.allow_root=True"]
    proc = subprocess.Popen(cmd, cwd=episodes.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = Lab(url=f"http://127.0.0.1:{port}", token=token, root=episodes.root, proc=proc)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({proc.returncode}):\n"
                                   + (home / "lab.log").read_text(errors="replace")[-3000:])
            try:
                server.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not answer within 90 s:\n"
                                       + (home / "lab.log").read_text(errors="replace")[-3000:])
                time.sleep(0.3)
        yield server
    finally:
        _stop_group(proc)
        log.close()


def _checkout_share(home: Path) -> Path:
    """A share/jupyter of this checkout, first on JUPYTER_PATH: its built extension
    (labextension/dist, when built) and its kernelspecs, as the wheel installs them, so the
    tests try this checkout's code rather than whatever dojo-nb is installed."""
    share = home / "share-jupyter"
    (share / "labextensions").mkdir(parents=True)
    dist = REPO / "labextension" / "dist"
    if (dist / "package.json").is_file():
        (share / "labextensions" / "dojo-nb-lab").symlink_to(dist, target_is_directory=True)
    shutil.copytree(REPO / "kernels" / "kernelspecs", share / "kernels")
    return share


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# --- chromium ---------------------------------------------------------------------------------
@dataclass
class Browser:
    context: Any            # playwright BrowserContext (persistent, fresh user-data dir)

    def new_page(self) -> "Page":
        return Page(self.context.new_page())


class Page:
    """A Playwright page that records console errors and uncaught page errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[Any] = []
        self.errors: list[str] = []
        page.on("console", lambda msg: self.console.append(msg))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def console_errors(self) -> list[str]:
        out = []
        for m in self.console:
            if m.type == "error":
                loc = m.location or {}
                out.append(f"{m.text} @ {loc.get('url', '')}:{loc.get('lineNumber', '')}")
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.page, name)


@pytest.fixture(scope="module")
def browser(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Debian Chromium with a fresh user-data dir; closed at the end of the module."""
    from playwright.sync_api import sync_playwright

    user_data = tmp_path_factory.mktemp("chromium-profile")
    pw = sync_playwright().start()
    context = None
    try:
        context = pw.chromium.launch_persistent_context(
            str(user_data), executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
        context.set_default_timeout(30_000)
        yield Browser(context)
    finally:
        try:
            if context is not None:
                context.close()
        finally:
            pw.stop()


@pytest.fixture(scope="session")
def img_dir() -> Path:
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    return IMG_DIR
