"""The HTML pages of `dojo-nb report` and `dojo-nb compare` in a real browser: they load with
no console error, fetch nothing from the network, and no script from a cell output runs.
Writes docs/img/report.png."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from .conftest import XSS_HTML, Browser, Episodes, Page

pytestmark = pytest.mark.browser


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dojo_nb.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _require_command(name: str, cwd: Path) -> str:
    """The command's --help text; skip (with the reason) while the command is not written yet."""
    if importlib.util.find_spec("dojo_nb.commands.report") is None:
        pytest.skip(f"`dojo-nb {name}` does not exist yet (no dojo_nb/commands/report.py)")
    out = _cli(name, "--help", cwd=cwd)
    if out.returncode != 0 and "No such command" in (out.stdout + out.stderr):
        pytest.skip(f"`dojo-nb {name}` is not registered yet: {(out.stdout + out.stderr).strip()[-300:]}")
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _has_xss_output(episode: Path) -> bool:
    nb = nbformat.read(episode / "trajectory.ipynb", as_version=4)
    return any("window.__pwned" in str(o.get("data", {}).get("text/html", ""))
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _open_page(browser: Browser, html: Path) -> tuple[Page, list[str]]:
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(html.resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(800)   # let late handlers (onerror of a broken <img>, timers) run
    return page, requests


def _assert_safe_and_clean(page: Page, requests: list[str]) -> None:
    assert page.evaluate("() => typeof window.__pwned") == "undefined", \
        f"a script from a cell output ran: window.__pwned = {page.evaluate('() => window.__pwned')}"
    assert not page.console_errors(), page.console_errors()
    assert not page.errors, page.errors
    remote = [u for u in requests if u.startswith(("http:", "https:", "ws:", "wss:"))]
    assert not remote, f"the page is not self-contained, it fetched: {remote}"


def _run(cmd: list[str], episodes: Episodes, out: Path) -> Path:
    res = _cli(*cmd, cwd=episodes.root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert out.is_file(), f"{cmd} wrote no {out}:\n{res.stdout}{res.stderr}"
    return out


def test_report_page(browser: Browser, episodes: Episodes, img_dir, tmp_path: Path) -> None:
    help_text = _require_command("report", episodes.root)
    assert _has_xss_output(episodes.scripted), "the fixture episode must carry the script output"
    out = tmp_path / "report.html"
    cmd = ["report", str(episodes.scripted)]
    if "--out" in help_text:
        cmd += ["--out", str(out)]
        html = _run(cmd, episodes, out)
    else:  # written next to the episode
        res = _cli(*cmd, cwd=episodes.root)
        assert res.returncode == 0, res.stdout + res.stderr
        pages = sorted(episodes.scripted.glob("*.html"), key=lambda p: p.stat().st_mtime)
        assert pages, res.stdout + res.stderr
        html = pages[-1]
    text = html.read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in text, "the output's <script> is in the page as live markup"

    page, requests = _open_page(browser, html)
    body = page.inner_text("body")
    assert "iris-species" in body, body[:500]
    assert page.locator("svg, canvas").count() >= 1, "no score chart on the page"
    _assert_safe_and_clean(page, requests)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.screenshot(path=str(img_dir / "report.png"))
    page.close()


def test_compare_page(browser: Browser, episodes: Episodes, tmp_path: Path) -> None:
    _require_command("compare", episodes.root)
    out = tmp_path / "compare.html"
    html = _run(["compare", str(episodes.baseline), str(episodes.scripted), "--out", str(out)], episodes, out)
    page, requests = _open_page(browser, html)
    body = page.inner_text("body")
    assert "baseline" in body and "scripted" in body, body[:500]
    assert page.locator("svg, canvas").count() >= 1, "no score chart on the page"
    _assert_safe_and_clean(page, requests)
    page.close()


def test_xss_payload_is_checked_by_this_test(browser: Browser, tmp_path: Path) -> None:
    """The check above can fail: the same payload in a page that renders it raw sets __pwned."""
    raw = tmp_path / "raw.html"
    raw.write_text(f"<!doctype html><html><body><div>{XSS_HTML}</div></body></html>", encoding="utf-8")
    page, _ = _open_page(browser, raw)
    assert page.evaluate("() => window.__pwned") in (1, 2)
    page.close()
