"""The JupyterLab extension in a real browser: load, compare two trajectories, badges,
scroll synced by the pairing the static compare page uses, score curves; writes
docs/img/lab-compare.png."""

from __future__ import annotations

import itertools
import time
import urllib.parse
from typing import Any

import nbformat
import pytest

from .conftest import Browser, Episodes, Lab, Page

pytestmark = pytest.mark.browser

EXT = "dojo-nb-lab"
_WORKSPACES = itertools.count(1)
COMMAND = "dojo-nb:compare"

# The cell at the top of a notebook's viewport, as the page shows it (pure DOM, no extension code).
TOP_CELL_JS = """(sel) => {
  const panel = document.querySelector(sel);
  if (!panel) return null;
  const outer = panel.querySelector('.jp-WindowedPanel-outer') || panel.querySelector('.jp-Notebook');
  const top = outer.getBoundingClientRect().top;
  for (const cell of panel.querySelectorAll('.jp-Notebook .jp-Cell')) {
    const r = cell.getBoundingClientRect();
    if (r.height > 0 && r.bottom > top + 1) {
      return {key: cell.dataset.dojoKey || null, step: cell.dataset.dojoStep ? Number(cell.dataset.dojoStep) : null,
              index: Number(cell.dataset.windowedListIndex), scrollTop: outer.scrollTop};
    }
  }
  return null;
}"""


def _cells(path) -> list[dict[str, Any]]:
    nb = nbformat.read(path, as_version=4)
    return [dict(c.metadata.get("dojo") or {}) for c in nb.cells]


def pairing(lab: Lab, a: str, b: str) -> dict[str, Any]:
    """What the server extension answers (the static compare page's alignment)."""
    return lab.api(f"/dojo-nb/api/pairing?{urllib.parse.urlencode({'a': a, 'b': b})}")


def partners(rows: list[list[Any]], n_left: int) -> list[int | None]:
    """The right cell shown with each left cell: its partner, else the last partner above."""
    direct = {a: b for a, b, _kind in rows if a is not None and b is not None}
    out, last = [], None
    for i in range(n_left):
        last = direct.get(i, last)
        out.append(last)
    return out


def _open_lab(browser: Browser, lab: Lab) -> Page:
    """A fresh Lab page in a workspace of its own (nothing restored from an earlier test)."""
    page = browser.new_page()
    workspace = f"t{next(_WORKSPACES)}"
    page.goto(f"{lab.url}/lab/workspaces/{workspace}?reset&token={lab.token}", wait_until="domcontentloaded")
    page.wait_for_selector("#jp-main-dock-panel", state="visible", timeout=60_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('%s')" % COMMAND,
                           timeout=60_000)
    # The layout restorer (and ?reset) must be done before we open anything.
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    page.wait_for_timeout(300)
    return page


def _wait_until(fn, timeout: float = 8.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = fn()
    return value


def _extension_errors(page: Page) -> list[str]:
    errs = [e for e in page.console_errors() if EXT in e or "dojo" in e.lower()]
    errs += [e for e in page.errors if EXT in e or "dojo" in e.lower()]
    return errs


def test_extension_is_installed_and_enabled(lab: Lab) -> None:
    """`pip install` put the prebuilt extension where this Lab finds it."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True,
                         text=True, timeout=120)
    text = out.stdout + out.stderr
    line = next((ln for ln in text.splitlines() if EXT in ln), "")
    assert "enabled" in line and "OK" in line, text


def test_compare_command_side_by_side(browser: Browser, lab: Lab, episodes: Episodes, img_dir) -> None:
    page = _open_lab(browser, lab)
    # The extension activated, and said so.
    _wait_until(lambda: any(f"{EXT}:plugin activated" in m.text for m in page.console))
    assert any(f"{EXT}:plugin activated" in m.text for m in page.console), [m.text for m in page.console]

    left_rel, right_rel = episodes.rel(episodes.baseline), episodes.rel(episodes.scripted)
    left_cells = _cells(episodes.baseline / "trajectory.ipynb")
    right_cells = _cells(episodes.scripted / "trajectory.ipynb")

    # More room for the two notebooks (and the screenshot): fold the file browser away.
    page.evaluate("() => { const app = window.jupyterapp; "
                  "if (!app.shell.leftCollapsed) return app.commands.execute('application:toggle-left-area'); }")

    # Through the command palette and the dialog, as a person does it.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # The modal palette closes when focus moves (the left area folding away can take it): open it
    # again until the item shows, at most three times.
    item = page.locator(".lm-CommandPalette-item", has_text="Compare trajectories").first
    for attempt in range(3):
        page.keyboard.press("Control+Shift+C")
        page.fill(".lm-CommandPalette-input", "Compare trajectories")
        try:
            item.wait_for(state="visible", timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    item.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible")
    page.fill(".dojo-nb-compare-left-path", left_rel)
    page.fill(".dojo-nb-compare-right-path", right_rel)
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()

    left = page.locator(".dojo-nb-compare-left")
    right = page.locator(".dojo-nb-compare-right")
    left.wait_for(state="visible")
    right.wait_for(state="visible")
    # Both tabs are named by agent and episode folder, as the static pages name them.
    tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").all_inner_texts()
    assert any(t.startswith("A: baseline") and episodes.baseline.name in t for t in tabs), tabs
    assert any(t.startswith("B: scripted") and episodes.scripted.name in t for t in tabs), tabs
    pairs = partners(pairing(lab, left_rel, right_rel)["rows"], len(left_cells))

    # Side by side: right starts where left ends, and they share the same rows.
    page.wait_for_selector(".dojo-nb-compare-right .dojo-nb-badge")
    lb, rb = left.bounding_box(), right.bounding_box()
    assert lb and rb
    assert rb["x"] >= lb["x"] + lb["width"] - 8, (lb, rb)
    assert abs(rb["y"] - lb["y"]) < 4 and lb["width"] > 300 and rb["width"] > 300, (lb, rb)

    # The documents are the two trajectories (first cell is the task description of each).
    assert page.evaluate("""() => {
      const app = window.jupyterapp; const w = app.shell.currentWidget; return w && w.context && w.context.path; }""") \
        == left_rel

    # Badges: one per cell carrying metadata.dojo, with step/status/time/reward.
    n_left = sum(1 for d in left_cells if d)
    n_right = sum(1 for d in right_cells if d)
    _wait_until(lambda: left.locator(".dojo-nb-badge").count() == n_left)
    assert left.locator(".dojo-nb-badge").count() == n_left
    assert right.locator(".dojo-nb-badge").count() == n_right

    submit = next(d for d in left_cells if d.get("action_type") == "submit" and d.get("reward"))
    badge = left.locator(f'.jp-Cell[data-dojo-step="{submit["step"]}"] .dojo-nb-badge').text_content()
    assert f"step {submit['step']}" in badge and "submit" in badge and "ok" in badge, badge
    assert "reward +" in badge and "score " in badge, badge
    assert " ms" in badge or " s" in badge, badge

    error = next(d for d in right_cells if d.get("status") == "error")
    err_cell = right.locator(f'.jp-Cell[data-dojo-step="{error["step"]}"]')
    assert "error" in err_cell.locator(".dojo-nb-badge").text_content()
    assert "dojo-nb-cell-status-error" in (err_cell.get_attribute("class") or "")

    # Opening a trajectory to read it starts no kernel, and changes no file.
    assert lab.api("/api/kernels") == []
    assert sorted(p.name for p in episodes.baseline.iterdir() if p.suffix == ".ipynb") == \
        ["solution.ipynb", "trajectory.ipynb"]

    # Score curves: a panel with one curve per trajectory, one dot per graded submission.
    curves = page.locator(".dojo-nb-curves")
    curves.wait_for(state="visible")
    groups = curves.locator("svg g.dojo-nb-curve")
    assert groups.count() == 2
    for i, cells in enumerate((left_cells, right_cells)):
        graded = [d for d in cells if d.get("action_type") == "submit" and (d.get("grading") or {}).get("valid")]
        assert graded, "the fixture episodes each make valid submissions"
        assert groups.nth(i).locator("circle.dojo-nb-curve-point").count() == len(graded)
        assert groups.nth(i).locator("path.dojo-nb-curve-line").count() == 1
    legend = curves.locator(".dojo-nb-curves-legend").inner_text()
    assert "baseline" in legend and "scripted" in legend, legend
    # The other scale redraws with the task metric.
    curves.locator("select.dojo-nb-curves-scale").select_option("score")
    assert groups.count() == 2
    curves.locator("select.dojo-nb-curves-scale").select_option("position")

    # Synced scroll: scroll the left one with the mouse wheel; the right one follows by step.
    top = lambda sel: page.evaluate(TOP_CELL_JS, sel)  # noqa: E731
    assert top(".dojo-nb-compare-right")["scrollTop"] == 0
    lbox = left.locator(".jp-WindowedPanel-outer").bounding_box()
    page.mouse.move(lbox["x"] + lbox["width"] / 2, lbox["y"] + lbox["height"] / 2)
    seen = []
    for _ in range(20):
        before = top(".dojo-nb-compare-left")["scrollTop"]
        page.mouse.wheel(0, 400)
        assert _wait_until(lambda: top(".dojo-nb-compare-left")["scrollTop"] != before), "the wheel did not scroll"

        def synced():
            lt, rt = top(".dojo-nb-compare-left"), top(".dojo-nb-compare-right")
            ok = lt and rt and pairs[lt["index"]] is not None and rt["index"] == pairs[lt["index"]]
            return (lt, rt) if ok else None

        pair = _wait_until(synced)
        assert pair, f"right did not follow left: left top {top('.dojo-nb-compare-left')}, " \
                     f"right top {top('.dojo-nb-compare-right')}"
        seen.append(pair)
        if pair[0]["step"] >= 4:
            break
    assert seen[-1][0]["step"] >= 4 and seen[-1][1]["step"] >= 1, seen
    assert seen[-1][1]["scrollTop"] > 0, seen

    # And the other way round: scrolling the right one moves the left one.
    rbox = right.locator(".jp-WindowedPanel-outer").bounding_box()
    page.mouse.move(rbox["x"] + rbox["width"] / 2, rbox["y"] + rbox["height"] / 2)
    page.mouse.wheel(0, -10_000)

    def back():
        lt, rt = top(".dojo-nb-compare-left"), top(".dojo-nb-compare-right")
        return lt and rt and rt["scrollTop"] == 0 and lt["scrollTop"] == 0
    assert _wait_until(back), (top(".dojo-nb-compare-left"), top(".dojo-nb-compare-right"))

    # A view worth showing: both scrolled to the first submission of the left one.
    page.mouse.move(lbox["x"] + lbox["width"] / 2, lbox["y"] + lbox["height"] / 2)
    target = left.locator(f'.jp-Cell[data-dojo-step="{max(1, submit["step"] - 2)}"]')
    offset = page.evaluate("""([sel, step]) => {
      const p = document.querySelector(sel); const outer = p.querySelector('.jp-WindowedPanel-outer');
      const c = p.querySelector(`.jp-Cell[data-dojo-step="${step}"]`);
      return c.getBoundingClientRect().top - outer.getBoundingClientRect().top; }""",
                           [".dojo-nb-compare-left", max(1, submit["step"] - 2)])
    page.mouse.wheel(0, offset)
    assert target.count() == 1
    _wait_until(lambda: top(".dojo-nb-compare-right")["scrollTop"] > 0)
    time.sleep(0.5)
    page.screenshot(path=str(img_dir / "lab-compare.png"))

    assert not _extension_errors(page), _extension_errors(page)
    page.close()


def test_compare_command_with_arguments(browser: Browser, lab: Lab, episodes: Episodes) -> None:
    """Executed programmatically with {left, right} (episode folders are accepted too): no dialog."""
    page = _open_lab(browser, lab)
    result = page.evaluate(
        "([l, r]) => window.jupyterapp.commands.execute('%s', {left: l, right: r})" % COMMAND,
        [episodes.scripted.relative_to(episodes.root).as_posix(), episodes.rel(episodes.baseline)])
    assert result and set(result) == {"left", "right", "curves", "rows", "method"}, result
    assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").all_inner_texts()
    for key in ("left", "right", "curves"):
        assert page.locator(f'[id="{result[key]}"]').is_visible(), key
    left = page.locator(f'[id="{result["left"]}"]')
    n = sum(1 for d in _cells(episodes.scripted / "trajectory.ipynb") if d)
    assert _wait_until(lambda: left.locator(".dojo-nb-badge").count() == n), left.locator(".dojo-nb-badge").count()

    # The scripted trajectory has an output with a <script> and an onerror handler: JupyterLab
    # shows the untrusted notebook sanitised, nothing ran.
    assert page.evaluate("() => typeof window.__pwned") == "undefined"

    # A path that does not exist: an error dialog, nothing opened.
    before = page.locator(".jp-NotebookPanel").count()
    page.evaluate("() => { window.jupyterapp.commands.execute('%s', {left: 'nope/trajectory.ipynb', "
                  "right: 'nope2.ipynb'}); }" % COMMAND)
    err = page.locator(".jp-Dialog")
    err.wait_for(state="visible")
    assert "no trajectory.ipynb here" in err.inner_text() or "No such" in err.inner_text(), err.inner_text()
    err.locator(".jp-Dialog-button").last.click()
    assert page.locator(".jp-NotebookPanel").count() == before
    assert not _extension_errors(page), _extension_errors(page)
    page.close()
