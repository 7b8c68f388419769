"""`dojo-nb report` on real episodes: inert HTML, every part present, clean failures."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from dojo_nb.cli import app
from dojo_nb.views.report import ReportError, build_report, load_episode, write_report
from dojo_nb.views.report.html import render_markdown, sanitize_html

from .conftest import JS_SOURCE, MARK, Episodes
from .safety import assert_inert, scan_page

runner = CliRunner()


def _report(episode: Path, tmp_path: Path) -> str:
    out = tmp_path / "page.html"
    res = runner.invoke(app, ["report", str(episode), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith(str(out)), res.output  # the written path is printed
    return out.read_text(encoding="utf-8")


def _summary_cell(text: str, row: str) -> str:
    m = re.search(rf'<tr[^>]*data-row="{re.escape(row)}"><th>[^<]*</th><td>([^<]*)</td>', text)
    assert m, f"no summary row {row!r}"
    return m.group(1)


def test_hostile_outputs_are_inert(episodes: Episodes, tmp_path: Path) -> None:
    nb = nbformat.read(episodes.hostile / "trajectory.ipynb", as_version=4)
    mimes = {m for c in nb.cells if c.cell_type == "code" for o in c.outputs for m in o.get("data", {})}
    # the fixture really recorded the hostile outputs this test is about
    assert {"text/html", "application/javascript", "image/png", "image/svg+xml"} <= mimes, mimes
    text = _report(episodes.hostile, tmp_path)
    scan = assert_inert(text)
    assert not any(t == "script" for t, _ in scan.tags)
    # The payloads are visible to the reader, as text only.
    body = "".join(scan.text)
    assert f"window.{MARK}=1" in body and JS_SOURCE in body
    assert "bold stays" in body and "cell text" in body       # harmless HTML still renders
    assert re.search(r"<b>bold stays</b>", text)
    assert f"<script>window.{MARK}" not in text
    # images: the PNG and the SVG output as data: URIs, the SVG never inline
    srcs = [a["src"] for t, a in scan.tags if t == "img"]
    assert any(s.startswith("data:image/png;base64,iVBOR") for s in srcs), srcs[:3]
    assert any(s.startswith("data:image/svg+xml;base64,") for s in srcs)
    # the agent's markdown: raw HTML escaped, javascript: link and remote image not live
    assert not any(t == "a" and "javascript" in a.get("href", "") for t, a in scan.tags)
    assert "[image: remote]" in body


def test_csp_hash_matches_the_one_stylesheet(episodes: Episodes) -> None:
    text = build_report(load_episode(episodes.baseline))
    scan = scan_page(text)
    css = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in scan.csp  # else the browser drops the styles


def test_all_parts_present(episodes: Episodes, tmp_path: Path) -> None:
    text = _report(episodes.baseline, tmp_path)
    assert_inert(text)
    summary = json.loads((episodes.baseline / "summary.json").read_text())
    replay = json.loads((episodes.baseline / "replay.json").read_text())
    nb = nbformat.read(episodes.baseline / "trajectory.ipynb", as_version=4)
    assert _summary_cell(text, "steps") == str(summary["steps"])
    valid = [s for s in summary["submissions"] if s["valid"]]
    assert valid, "the baseline agent submits"
    # the report shows the public score as the agent saw it (Kaggle's 5 decimals); summary.json keeps it whole
    assert _summary_cell(text, "best public score") == format(round(max(s["public_score"] for s in valid), 5), ".6g")
    assert _summary_cell(text, "final private score") == format(summary["final"]["private_score"], ".6g")
    assert _summary_cell(text, "medal") == (summary["final"]["medal"] or "none")
    assert _summary_cell(text, "reproduced").startswith("yes" if replay["reproduced"] else "no")
    assert _summary_cell(text, "time") == f"{summary['elapsed_s']:.1f} s"
    # chart: one point per valid submission, in an inline SVG
    svg = re.search(r'<svg class="chart".*?</svg>', text, re.S).group(0)
    assert svg.count("<circle") == sum(1 for s in valid if s["public_position_score"] is not None)
    # every cell is there with its status badge; steps, times and rewards shown
    assert text.count('<article id="cell-') == len(nb.cells)
    for cell in nb.cells:
        d = cell.metadata.get("dojo", {})
        if d.get("step", 0) > 0:
            assert f"<strong>step {d['step']}</strong>" in text
    rewards = [c.metadata["dojo"]["reward"] for c in nb.cells if "reward" in c.metadata.get("dojo", {})]
    assert text.count('class="badge reward"') == len(rewards) > 0


def test_statuses_and_errors_counted(episodes: Episodes, tmp_path: Path) -> None:
    text = _report(episodes.hostile, tmp_path)
    nb = nbformat.read(episodes.hostile / "trajectory.ipynb", as_version=4)
    failed = [c for c in nb.cells if c.metadata.get("dojo", {}).get("status") in ("error", "invalid_action")]
    assert len(failed) == 2  # the KeyError cell and the submit without a file
    assert text.count('class="badge status error"') == len(failed)
    assert _summary_cell(text, "errors") == "2"
    assert _summary_cell(text, "submissions") == "2 valid of 3"
    assert "KeyError" in text
    assert _summary_cell(text, "reproduced").startswith("not replayed")
    svg = re.search(r'<svg class="chart".*?</svg>', text, re.S).group(0)
    assert "invalid submission" in svg and svg.count("<circle") == 2


def test_crashed_episode_without_submissions(episodes: Episodes, tmp_path: Path) -> None:
    assert not (episodes.crashed / "summary.json").exists()
    text = _report(episodes.crashed, tmp_path)
    assert_inert(text)
    assert "did not finish" in text
    assert _summary_cell(text, "end").startswith("not finished")
    assert _summary_cell(text, "submissions") == "0 valid of 0"
    assert _summary_cell(text, "best public score") == "—"
    assert "no submissions</text>" in text


def test_default_output_next_to_the_episode(episodes: Episodes, tmp_path: Path) -> None:
    ep = tmp_path / "copy"
    shutil.copytree(episodes.baseline, ep, ignore=shutil.ignore_patterns("sandbox"))
    path = write_report(ep)
    assert path == ep / "report.html" and path.stat().st_size > 1000


def _corrupt_cases(src: Path, tmp_path: Path) -> dict[str, Path]:
    cases = {}
    full = (src / "trajectory.ipynb").read_text()
    for name, content in {"truncated": full[: len(full) // 2], "not-json": "hello, not a notebook",
                          "empty": ""}.items():
        d = tmp_path / name
        d.mkdir(parents=True)
        (d / "trajectory.ipynb").write_text(content)
        cases[name] = d
    plain = tmp_path / "plain"
    plain.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), plain / "trajectory.ipynb")
    cases["not-dojo"] = plain
    cases["missing"] = tmp_path / "no-such-episode"
    return cases


def test_corrupt_input_fails_cleanly(episodes: Episodes, tmp_path: Path) -> None:
    for name, folder in _corrupt_cases(episodes.baseline, tmp_path / "cases").items():
        out = tmp_path / f"{name}.html"
        res = runner.invoke(app, ["report", str(folder), "--out", str(out)])
        assert res.exit_code == 2, (name, res.output)
        assert "cannot write the report" in res.output, (name, res.output)
        assert "Traceback" not in res.output
        assert not out.exists(), name
        with pytest.raises(ReportError):
            load_episode(folder)


def test_corrupt_summary_and_replay_are_reported_not_fatal(episodes: Episodes, tmp_path: Path) -> None:
    ep = tmp_path / "ep"
    shutil.copytree(episodes.baseline, ep, ignore=shutil.ignore_patterns("sandbox"))
    (ep / "summary.json").write_text("{ broken")
    (ep / "replay.json").write_text("[1, 2]")
    text = _report(ep, tmp_path)
    assert "summary.json is unreadable" in text and "replay.json is not a JSON object" in text
    # the numbers come from the notebook's own metadata then
    nb = nbformat.read(ep / "trajectory.ipynb", as_version=4)
    assert _summary_cell(text, "final private score") == format(nb.metadata.dojo.final.private_score, ".6g")


@pytest.mark.parametrize("markup, kept, gone", [
    ('<script>alert(1)</script><p>x</p>', "<p>x</p>", "alert"),
    ('<img src=x onerror=alert(1)>', "", "onerror"),
    ('<a href=" java\tscript:alert(1)">a</a>', "<a>a</a>", "script:"),
    ('<A HREF="https://example.org" ONCLICK="x()">ok</A>', 'href="https://example.org"', "onclick"),
    ('<table><tr><td style="x" colspan="2">1</td></tr></table>', '<td colspan="2">1</td>', "style"),
    ('<svg onload=alert(1)><circle/></svg>after', "after", "svg"),
    ('<div><p>unclosed', "<div><p>unclosed</p></div>", "<script"),
    ('</div></body><b>x', "<b>x</b>", "</div>"),
    ('<img src="data:image/png;base64,iVBORw0KGgo=" alt="a">', 'src="data:image/png;base64,iVBORw0KGgo="', "onerror"),
    ('<img src="data:text/html;base64,PHNjcmlwdD4=">', "", "data:text"),
])
def test_sanitizer(markup: str, kept: str, gone: str) -> None:
    safe, _ = sanitize_html(markup)
    assert kept in safe, safe
    assert gone not in safe, safe


def test_markdown_is_rendered_and_sanitized() -> None:
    out = render_markdown("# Title\n\n**b** `c` <script>x()</script> [l](javascript:x()) [ok](https://a.b)")
    assert "<h1>Title</h1>" in out and "<strong>b</strong>" in out
    assert "<script" not in out and 'href="javascript' not in out
    assert 'href="https://a.b"' in out
