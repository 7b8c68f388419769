"""Lab never changes a trajectory it opens: five minutes open (past Lab's 120 s autosave),
once in the default viewer (double-click in the file browser) and once as an ordinary
notebook with its kernel (the shipped, sandboxed dojo-local), the files' bytes are the same.
Writes docs/img/lab-readonly.png."""

from __future__ import annotations

import hashlib
import os
import time
import urllib.request

import pytest

from .conftest import Browser, Episodes, Lab
from .test_lab_compare import _open_lab, _wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

#: How long both stay open; $DOJO_LAB_OPEN_S shortens it while working on the test itself.
OPEN_FOR_S = float(os.environ.get("DOJO_LAB_OPEN_S", 5 * 60 + 10))


def _digest(path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _listing(folder) -> list[str]:
    """The folder's names, but Lab's own hidden checkpoint folder (it copies a notebook there
    when it opens it: a copy beside the record, never the record)."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".ipynb_checkpoints")


def _shutdown_kernels(lab: Lab) -> None:
    for k in lab.api("/api/kernels"):
        req = urllib.request.Request(f"{lab.url}/api/kernels/{k['id']}", method="DELETE",
                                     headers={"Authorization": f"token {lab.token}"})
        urllib.request.urlopen(req, timeout=30).close()


def test_trajectory_bytes_unchanged_after_five_minutes(browser: Browser, lab: Lab, episodes: Episodes,
                                                      img_dir) -> None:
    viewer_nb = episodes.baseline / "trajectory.ipynb"
    notebook_nb = episodes.scripted / "trajectory.ipynb"
    before = {p: _digest(p) for p in (viewer_nb, notebook_nb)}
    listing = {ep: _listing(ep) for ep in (episodes.baseline, episodes.scripted)}
    page = _open_lab(browser, lab)
    try:
        # As a person does: the file browser, a double-click (the default viewer).
        folder = episodes.baseline.relative_to(episodes.root).as_posix()
        page.evaluate("(p) => window.jupyterapp.commands.execute('filebrowser:go-to-path', {path: p})", folder)
        item = page.locator(".jp-DirListing-item",
                            has=page.locator(".jp-DirListing-itemText", has_text="trajectory.ipynb")).first
        item.wait_for(state="visible")
        item.dblclick()
        viewer = page.locator(".dojo-nb-trajectory-viewer")
        viewer.locator(".dojo-nb-badge").first.wait_for(state="visible")
        assert viewer.locator(".dojo-nb-read-only-note").is_visible()
        # The other as an ordinary notebook (Open With > Notebook): Lab starts the kernel it names.
        page.evaluate("(p) => window.jupyterapp.commands.execute('docmanager:open', {path: p, factory: 'Notebook'})",
                      episodes.rel(episodes.scripted))
        nb = page.locator(".jp-NotebookPanel.dojo-nb-read-only:not(.dojo-nb-trajectory-viewer)")
        nb.locator(".dojo-nb-badge").first.wait_for(state="visible")
        # Whatever kernel Lab started is the sandboxed one the trajectory names, never python3.
        assert _wait_until(lambda: lab.api("/api/kernels"), timeout=60), "Lab started no kernel for the notebook"
        assert {k["name"] for k in lab.api("/api/kernels")} == {"dojo-local"}
        # Neither shows as changed (Lab's dirty dot), though the kernel rewrote the one's kernelspec in memory.
        page.wait_for_timeout(3000)
        assert page.locator(".lm-TabBar-tab.jp-mod-dirty").count() == 0, \
            page.locator(".lm-TabBar-tab.jp-mod-dirty").all_inner_texts()
        page.locator(".lm-TabBar-tab", has_text=episodes.baseline.name).first.click()
        viewer.locator(".dojo-nb-badge").nth(2).wait_for(state="visible")
        box = viewer.locator(".jp-WindowedPanel-outer").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(0, 900)  # past the task description, to the steps and their badges
        page.wait_for_timeout(800)
        page.screenshot(path=str(img_dir / "lab-readonly.png"))

        deadline = time.monotonic() + OPEN_FOR_S
        while time.monotonic() < deadline:  # keep the page busy as a reader would: scroll
            page.mouse.wheel(0, 300)
            page.wait_for_timeout(15_000)
        after = {p: _digest(p) for p in before}
        assert after == before, "a trajectory's bytes or mtime changed while open in Lab"
        assert {ep: _listing(ep) for ep in listing} == listing
        # Ctrl+S saves neither (Lab says the document is read-only).
        for tab, panel in ((episodes.baseline.name, viewer), ("trajectory.ipynb", nb)):
            page.locator(".lm-TabBar-tab", has_text=tab).first.click()
            panel.locator(".jp-Cell").first.click()
            page.keyboard.press("Escape")
            page.keyboard.press("Control+s")
            page.wait_for_timeout(2000)
        assert {p: _digest(p) for p in before} == before, "Ctrl+S wrote a trajectory"
    finally:
        _shutdown_kernels(lab)
        page.close()
    assert lab.api("/api/kernels") == []
