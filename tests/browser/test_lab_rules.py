"""Lab Compare keeps the CLI's rules, in a real browser: it refuses what is not a trajectory,
asks before comparing two tasks ("Compare anyway"), pairs the cells exactly as the static
`dojo-nb compare` page does, scrolls to a submission when its chart point is clicked, is in
the file browser's context menu, and logs no console error while doing so.
Writes docs/img/lab-compare-tasks.png."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from dojo_nb.views.report.compare import write_compare

from .conftest import Browser, Episodes, Lab, Page
from .test_lab_compare import COMMAND, _open_lab, _wait_until

pytestmark = pytest.mark.browser


def _compare(page: Page, left: str, right: str, **extra: Any) -> None:
    """Start the command without waiting for it (it may be waiting on a dialog)."""
    page.evaluate("([l, r, x]) => { window.__cmp = window.jupyterapp.commands.execute('%s', "
                  "Object.assign({left: l, right: r}, x)); }" % COMMAND, [left, right, extra])


def _result(page: Page) -> Any:
    return page.evaluate("() => window.__cmp")


def _all_errors(page: Page) -> list[str]:
    """Every console error and uncaught exception, but the 404 of the scripted episode's
    hostile output (conftest.XSS_HTML: an <img src=x>, shown sanitised; the browser still asks for x)."""
    return [e for e in page.console_errors() + page.errors if "/files/scripted/x?" not in e]


def _panels(page: Page) -> int:
    return page.locator(".jp-NotebookPanel").count()


def test_refuses_a_notebook_that_is_not_a_trajectory(browser: Browser, lab: Lab, episodes: Episodes) -> None:
    page = _open_lab(browser, lab)
    before = _panels(page)
    _compare(page, episodes.plain.name, episodes.rel(episodes.baseline))
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert "plain.ipynb" in text and "not a dojo-nb trajectory" in text, text
    dialog.locator(".jp-Dialog-button").last.click()
    assert _result(page) is None
    assert _panels(page) == before, "something was opened"
    assert not _all_errors(page), "\n".join(_all_errors(page))
    page.close()


def test_different_tasks_need_compare_anyway(browser: Browser, lab: Lab, episodes: Episodes, img_dir) -> None:
    page = _open_lab(browser, lab)
    left, right = episodes.rel(episodes.baseline), episodes.rel(episodes.other_task)
    before = _panels(page)
    # Cancel: nothing opens.
    _compare(page, left, right)
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert "Different tasks" in text and "iris-species" in text and "wine-cultivar" in text, text
    dialog.locator(".jp-Dialog-button", has_text="Cancel").click()
    assert _wait_until(lambda: page.locator(".jp-Dialog").count() == 0)
    assert _result(page) is None and _panels(page) == before
    # Compare anyway: both open, and the chart says the tasks differ.
    _compare(page, left, right)
    dialog.wait_for(state="visible")
    page.wait_for_timeout(300)
    page.screenshot(path=str(img_dir / "lab-compare-tasks.png"))
    dialog.locator(".jp-Dialog-button", has_text="Compare anyway").click()
    page.locator(".dojo-nb-compare-right .dojo-nb-badge").first.wait_for(state="visible")
    result = _result(page)
    assert result and result["left"] and result["right"], result
    assert page.locator(".dojo-nb-curves-different-tasks").count() == 1
    # No shared metric axis for two tasks: only the position score is offered.
    options = page.locator(".dojo-nb-curves-different-tasks select.dojo-nb-curves-scale option")
    assert options.all_inner_texts() == ["public position score (0–1)"]
    tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").all_inner_texts()
    assert any("(different tasks)" in t for t in tabs), tabs
    # Opening to compare started no kernel, renamed nothing (a tab title is a file name in
    # Lab), and nothing complained (no widget-manager TypeError).
    assert lab.api("/api/kernels") == []
    page.wait_for_timeout(1000)
    for ep in (episodes.baseline, episodes.other_task):
        assert (ep / "trajectory.ipynb").is_file() and not [p for p in ep.iterdir() if "·" in p.name or ":" in p.name]
    page.wait_for_timeout(1000)
    assert not _all_errors(page), "\n".join(_all_errors(page))
    page.close()


def _static_rows(html: str) -> list[list[Any]]:
    """The rows of the static compare page: the cell index on each side, and the row's kind."""
    rows = []
    for chunk in html.split('<div class="pair ')[1:]:
        kind = chunk.split('"', 1)[0]
        a = re.search(r'id="a-cell-(\d+)"', chunk)
        b = re.search(r'id="b-cell-(\d+)"', chunk)
        rows.append([int(a.group(1)) if a else None, int(b.group(1)) if b else None, kind])
    return rows


def test_static_and_lab_pair_the_same_cells(browser: Browser, lab: Lab, episodes: Episodes,
                                            tmp_path: Path) -> None:
    static = write_compare(episodes.baseline, episodes.scripted, tmp_path / "compare.html")
    expected = _static_rows(static.read_text())
    assert expected and any(k != "same" for _a, _b, k in expected), expected

    page = _open_lab(browser, lab)
    result = page.evaluate("([l, r]) => window.jupyterapp.commands.execute('%s', {left: l, right: r})" % COMMAND,
                           [episodes.rel(episodes.baseline), episodes.rel(episodes.scripted)])
    assert result["rows"] == expected
    assert result["method"] == "content (nbdime)"

    # A chart point scrolls its notebook to that submission.
    right = page.locator(f'[id="{result["right"]}"]')
    right.locator(".dojo-nb-badge").first.wait_for(state="visible")
    point = page.locator('.dojo-nb-curves g.dojo-nb-curve[data-series="1"] circle.dojo-nb-curve-point').last
    step = int(point.get_attribute("data-step"))
    point.click()
    cell = right.locator(f'.jp-Cell[data-dojo-step="{step}"].dojo-nb-scrolled-to')
    assert _wait_until(lambda: cell.count() == 1), f"no cell of step {step} marked"
    box, view = cell.bounding_box(), right.locator(".jp-WindowedPanel-outer").bounding_box()
    assert box and view and view["y"] - 2 <= box["y"] < view["y"] + view["height"], (box, view)
    assert not _all_errors(page), "\n".join(_all_errors(page))
    page.close()


def test_compare_with_in_the_file_browser(browser: Browser, lab: Lab, episodes: Episodes) -> None:
    page = _open_lab(browser, lab)
    folder = episodes.baseline.relative_to(episodes.root).as_posix()
    page.evaluate("(p) => window.jupyterapp.commands.execute('filebrowser:go-to-path', {path: p})", folder)
    item = page.locator(".jp-DirListing-item", has=page.locator(".jp-DirListing-itemText", has_text="trajectory.ipynb"))
    item.first.wait_for(state="visible")
    assert item.first.get_attribute("data-file-type") == "dojo-trajectory"
    item.first.click(button="right")
    entry = page.locator(".lm-Menu-item", has_text="Compare with…")
    entry.wait_for(state="visible")
    entry.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(state="visible")
    assert page.locator(".dojo-nb-compare-left-path").input_value() == episodes.rel(episodes.baseline)
    page.fill(".dojo-nb-compare-right-path", episodes.rel(episodes.scripted))
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    page.locator(".dojo-nb-compare-right .dojo-nb-badge").first.wait_for(state="visible")
    assert not _all_errors(page), "\n".join(_all_errors(page))
    page.close()


def test_edit_turns_saving_back_on(browser: Browser, lab: Lab, episodes: Episodes) -> None:
    """Read-only is the default, not a prison: after Edit, Ctrl+S saves (on a copy of a
    trajectory, so the other tests' files stay as they were)."""
    copy = episodes.root / "edit-me" / "trajectory.ipynb"
    copy.parent.mkdir()
    shutil.copy(episodes.baseline / "trajectory.ipynb", copy)
    mtime = copy.stat().st_mtime_ns
    page = _open_lab(browser, lab)
    page.evaluate("(p) => window.jupyterapp.commands.execute('docmanager:open', {path: p})", "edit-me/trajectory.ipynb")
    viewer = page.locator(".dojo-nb-trajectory-viewer")
    viewer.locator(".dojo-nb-badge").first.wait_for(state="visible")
    # Locked first: Ctrl+S writes nothing.
    viewer.locator(".jp-Cell").first.click()
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)
    assert copy.stat().st_mtime_ns == mtime
    viewer.locator(".dojo-nb-edit-trajectory").click()
    assert viewer.locator(".dojo-nb-read-only-note").count() == 0
    viewer.locator(".jp-Cell").first.click()
    page.keyboard.press("Control+s")
    assert _wait_until(lambda: copy.stat().st_mtime_ns != mtime, timeout=10), "Ctrl+S did not save after Edit"
    assert lab.api("/api/kernels") == []
    assert not _all_errors(page), "\n".join(_all_errors(page))
    page.close()
