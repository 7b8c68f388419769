"""The run index and the search-tree page in a real browser, on real episodes.

- a run of 3 tasks x 2 agents (the baseline, replayed, and a scripted agent that submits the
  sample submission), indexed by `dojo-nb report RUN`: the leaderboard sorts by a click (the
  page's one hashed script runs under its CSP), links open the episodes' reports and the
  compare pages, nothing is fetched, no console error; writes docs/img/run-index.png;
- a search agent's episode of 6 nodes (a scripted policy), `dojo-nb report EPISODE`: the tree
  has every node coloured by status, the chosen path in gold, a click on a node opens its
  section, and each node links to its runnable notebook; writes docs/img/search-tree.png.

Both run whole episodes: slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from .conftest import Browser, Page, scripted_episode

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TASKS = ("iris-species", "penguins-species", "diabetes-progression")  # the last two: lower is better
AGENTS = ("baseline", "scripted")
SEARCH_TASK = "penguins-species"

_SCRIPTED = [
    {"type": "execute_code", "code": ("import glob, os, pandas as pd\n"
                                      "files = sorted(os.listdir(INPUT_DIR))\nprint(files)")},
    {"type": "execute_code", "code": "undefined_name + 1"},
    {"type": "execute_code", "code": ("import shutil\n"
                                      "shutil.copy(sorted(glob.glob(os.path.join(INPUT_DIR, "
                                      "'sample_submission*')))[0], SUBMISSION_PATH)")},
    {"type": "validate"},
    {"type": "submit", "final": True},
]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dojo_nb.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RUN/<agent>/<task>/: six real episodes, written once per session."""
    from dojo_nb.runners.episodes import run_episode

    root = tmp_path_factory.mktemp("run")
    for task in TASKS:
        outcome = run_episode(task, "baseline", out_dir=root / "baseline" / task, replay=True, max_steps=40)
        assert outcome.error is None, (task, outcome.error)
        scripted_episode(task, root / "scripted" / task, _SCRIPTED, max_steps=10)
    return root


@pytest.fixture(scope="session")
def search_episode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The search agent through the runner: 6 nodes (good, buggy, debugged, improved)."""
    from dojo_nb.agents.search import ScriptedPolicy
    from dojo_nb.runners.episodes import run_episode
    from tests.search.cells import DEBUG_LIAR, DRAFT_BUGGY, DRAFT_GOOD, IMPROVE, IMPROVE_NO_FILE

    policy = ScriptedPolicy(drafts=[DRAFT_GOOD, DRAFT_BUGGY], debugs=[DEBUG_LIAR, IMPROVE],
                            improves=[IMPROVE, IMPROVE_NO_FILE])
    outcome = run_episode(SEARCH_TASK, "search", out_dir=tmp_path_factory.mktemp("search") / "ep",
                          replay=False, max_steps=12, cell_timeout_s=120, episode_timeout_s=900,
                          agent_kwargs={"policy": policy, "max_nodes": 6, "num_drafts": 2, "debug_prob": 1.0})
    assert outcome.error is None and outcome.valid, (outcome.error, outcome.final)
    return Path(outcome.episode_dir)


def _open(browser: Browser, html: Path, width: int = 1400) -> tuple[Page, list[str]]:
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(html.resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(300)
    return page, requests


def _clean(page: Page, requests: list[str]) -> None:
    assert not page.console_errors(), page.console_errors()   # a CSP refusal would be one
    assert not page.errors, page.errors
    remote = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert not remote, f"the page fetched {remote}"


def _column(page: Page, table: str, n: int) -> list[str]:
    return page.eval_on_selector_all(f"#{table} tbody tr", f"rows => rows.map(r => r.cells[{n}].dataset.v "
                                     f"?? r.cells[{n}].textContent.trim())")


def test_run_index_page(browser: Browser, run_dir: Path, img_dir: Path) -> None:
    res = _cli("report", str(run_dir), cwd=run_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    index = run_dir / "index.html"
    assert res.stdout.strip().splitlines()[-1] == str(index)
    data = json.loads((run_dir / "index.json").read_text())
    assert {(r["task"], r["agent"]) for r in data["episodes"]} == {(t, a) for t in TASKS for a in AGENTS}

    page, requests = _open(browser, index)
    assert page.locator("#leaderboard tbody tr").count() == 6
    assert page.locator("#agents tbody tr").count() == 2
    body = page.inner_text("body")
    for task in TASKS:
        assert task in body
    page.screenshot(path=str(img_dir / "run-index.png"))   # as written: by task, then agent
    # sorting: one click on "private score" sorts ascending, a second descending (numbers, not text)
    col = page.eval_on_selector_all("#leaderboard thead th", "ths => ths.map(t => t.textContent.trim())").index(
        "private score")
    header = page.locator(f"#leaderboard thead th:nth-child({col + 1}) button")
    header.click()
    up = [float(v) for v in _column(page, "leaderboard", col)]
    assert up == sorted(up) and len(up) == 6
    header.click()
    down = [float(v) for v in _column(page, "leaderboard", col)]
    assert down == sorted(up, reverse=True)
    assert page.get_attribute(f"#leaderboard thead th:nth-child({col + 1})", "aria-sort") == "descending"
    _clean(page, requests)

    # every link on the page opens a file that exists; a compare page and a report open cleanly
    hrefs = page.eval_on_selector_all("#leaderboard a", "links => links.map(a => a.href)")
    assert sum("compare/" in h for h in hrefs) == 6       # one pair per task, linked from both rows
    assert sum(h.endswith("report.html") for h in hrefs) == 6
    for h in hrefs:
        assert Path(unquote(urlparse(h).path)).is_file(), h
    page.locator("#leaderboard a", has_text="vs").first.click()
    page.wait_for_load_state("load")
    assert "dojo-nb compare" in page.inner_text("h1")
    page.go_back()
    page.locator("#leaderboard a", has_text="report").first.click()
    page.wait_for_load_state("load")
    assert "dojo-nb report" in page.inner_text("h1")
    assert "graded submission" in page.inner_text("#summary")
    _clean(page, requests)
    page.close()


def test_search_tree_page(browser: Browser, search_episode: Path, img_dir: Path) -> None:
    res = _cli("report", str(search_episode), cwd=search_episode)
    assert res.returncode == 0, res.stdout + res.stderr
    tree_page = search_episode / "search-tree.html"
    assert res.stdout.split() == [str(search_episode / "report.html"), str(tree_page)]
    search = json.loads((search_episode / "search" / "search.json").read_text())
    journal = [json.loads(line) for line in (search_episode / "search" / "journal.jsonl").read_text().splitlines()]
    assert len(journal) >= 6 and {n["status"] for n in journal} >= {"good", "buggy"}

    page, requests = _open(browser, tree_page)
    nodes = page.locator("svg.tree g.node[data-node]")
    assert nodes.count() == len(journal)
    colours = {"good": "rgb(45, 164, 78)", "buggy": "rgb(207, 34, 46)"}
    for n in journal:
        g = f'svg.tree g[data-node="{n["id"]}"]'
        assert page.get_attribute(g, "data-status") == n["status"]
        if n["status"] in colours:
            fill = page.eval_on_selector(f"{g} circle", "c => getComputedStyle(c).fill")
            assert fill == colours[n["status"]], (n["id"], fill)
        if n["score"] is not None:
            assert f"{n['score']:.4g}" in page.text_content(g)
    # the winning path: from a draft down to the chosen node, in gold
    by_id = {n["id"]: n for n in journal}
    path, node = [], search["best"]
    while node is not None:
        path.append(node)
        node = by_id[node]["parent"]
    win = page.eval_on_selector_all("svg.tree g.node.win", "gs => gs.map(g => g.dataset.node)")
    assert sorted(win) == sorted(path) and page.locator("svg.tree path.edge.win").count() == len(path)
    _clean(page, requests)
    page.screenshot(path=str(img_dir / "search-tree.png"))

    # a click on a node opens its section: cells, outputs and a runnable notebook
    target = search["best"]  # a good node: its own cell is in its runnable notebook
    page.locator(f'svg.tree g[data-node="{target}"] circle').click()
    page.wait_for_timeout(200)
    assert page.evaluate("() => location.hash") == f"#node-{target}"
    section = page.locator(f"#node-{target}")
    assert section.is_visible() and section.locator("article.cell").count() >= 2
    assert "VALIDATION_SCORE" in section.inner_text()
    href = page.eval_on_selector(f'#node-{target} a[href$="solution.ipynb"]', "a => a.href")
    notebook = Path(unquote(urlparse(href).path))
    assert notebook.name == "solution.ipynb" and notebook.parent.name == target
    nb = nbformat.read(notebook, as_version=4)
    assert nb.metadata["dojo"]["kind"] == "solution" and any(
        by_id[target]["code"] == c.source for c in nb.cells)
    _clean(page, requests)
    page.close()

    # the episode's report says it ran a search and links to the tree
    page, requests = _open(browser, search_episode / "report.html")
    page.locator("#search a", has_text="search tree").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("search-tree.html")
    _clean(page, requests)
    page.close()
