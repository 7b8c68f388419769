"""The episode record: one owner of the folder's names and metadata keys, an old trajectory
still loads, and export renders the very reset text the agent read."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from dojo_nb.record import layout
from dojo_nb.record.load import EpisodeRecordError, load_episode
from dojo_nb.record.metadata import CellMeta, EpisodeMeta

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dojo_nb"
FIXTURE = ROOT / "tests" / "fixtures" / "episode-layout-v1"

#: File names of an episode folder, as string literals (quoted) in code.
_NAMES = sorted(layout.EPISODE_FILES | {layout.SUBMISSION_FILENAME, layout.SEARCH_JOURNAL, layout.SEARCH_SUMMARY})
#: Folder names too common as plain words ("search", "nodes", "final"): caught as path joins.
_JOINED = re.compile("/ *[\"'](%s)[\"']" % "|".join(map(re.escape, (layout.SEARCH, layout.SEARCH_NODES,
                                                                      layout.SEARCH_FINAL))))
#: Raw reads of metadata.dojo: the typed `EpisodeMeta`/`CellMeta` are the way in.
_RAW_META = re.compile(r"""\[\s*["']dojo["']\s*\]|\.get\(\s*["']dojo["']|["']dojo["']\s*:|"""
                       r"""nbk\.cell_dojo\(|nbk\.episode_metadata\(|\.dojo\.get\(|\.dojo\[""")
#: Modules that may still spell them: the compatibility shim of the old notebook module.
_ALLOWED = {"notebook.py"}


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Lines outside docstrings and comments (a simple scan: triple-quoted blocks are skipped)."""
    out, in_doc = [], False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        quotes = stripped.count('"""') + stripped.count("'''")
        if in_doc:
            in_doc = quotes % 2 == 0
            continue
        if quotes % 2 == 1:  # a triple-quoted block opens here (a docstring, or a string assigned)
            in_doc = True
            line = re.split(r'"""|\'\'\'', line, maxsplit=1)[0]  # the code before it still counts
        if stripped.startswith(('"""', "'''")):
            continue
        code = line.split("#", 1)[0] if "#" in line and '"' not in line.split("#", 1)[0][-1:] else line
        out.append((n, code))
    return out


def _offenders() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("record/") or rel in _ALLOWED or rel.startswith(("kernel/", "tasks/")):
            continue  # kernel/ and tasks/ know nothing of episode folders
        for n, line in _code_lines(path):
            for name in _NAMES:
                if f'"{name}"' in line or f"'{name}'" in line or f'"{layout.SUBMISSIONS}/' in line:
                    found.append(f"{rel}:{n}: {line.strip()}")
            if _RAW_META.search(line) or _JOINED.search(line):
                found.append(f"{rel}:{n}: {line.strip()}")
    return found


def test_episode_file_names_and_metadata_keys_live_only_in_record() -> None:
    assert _offenders() == []


def test_a_trajectory_written_before_the_record_package_still_loads() -> None:
    rec = load_episode(FIXTURE)
    raw = json.loads((FIXTURE / layout.TRAJECTORY).read_text())["metadata"]["dojo"]
    meta = rec.meta
    assert meta.layout_version == 1 and meta.task["id"] == "iris-species" and meta.agent == "fixture"
    assert meta.to_dict() == raw  # no key renamed or lost
    assert rec.final["valid"] and rec.end_reason == "closed" and rec.finished
    kinds = [s.action_type for s in rec.steps]
    assert kinds == ["add_markdown", "execute_code", "execute_code", "request_info", "validate",
                     "invalid_action", "submit"]
    submit = rec.steps[-1].meta
    assert submit.grade["valid"] and submit.submission_file.startswith(layout.SUBMISSIONS + "/")
    for cell in rec.nb.cells:
        assert CellMeta.of(cell).to_dict() == cell["metadata"]["dojo"]


def test_an_unversioned_notebook_reads_as_version_0() -> None:
    meta = EpisodeMeta.of({"metadata": {"dojo": {"task": {"id": "x"}, "odd_key": 1}}})
    assert meta.layout_version == 0 and meta.task_name == "x" and meta.to_dict() == {"task": {"id": "x"},
                                                                                      "odd_key": 1}


def test_the_fixture_exports_and_reports(tmp_path: Path) -> None:
    from dojo_nb.export import load_episode as export_load, sft_record
    from dojo_nb.views.report.episode import load_episode as report_load

    ep = tmp_path / "ep"
    shutil.copytree(FIXTURE, ep)
    rec = sft_record(export_load(ep))
    # The reset text as the env rendered it, then what the LLM agent adds (facts, budget left).
    assert rec["messages"][1]["content"].startswith((FIXTURE / "reset-observation.txt").read_text() + "\n\nTask facts: ")
    assert report_load(ep).final_private_score is not None


def test_one_error_type_for_every_reader(tmp_path: Path) -> None:
    from dojo_nb.env import ResumeError
    from dojo_nb.export import ExportError
    from dojo_nb.replay import ReplayError
    from dojo_nb.views.report import ReportError

    for err in (ResumeError, ExportError, ReplayError, ReportError):
        assert issubclass(err, EpisodeRecordError)
    with pytest.raises(EpisodeRecordError, match="no trajectory.ipynb"):
        load_episode(tmp_path)


def test_one_truncate_middle() -> None:
    from dojo_nb.agents import llm
    from dojo_nb.kernel import render
    from dojo_nb.record import view

    assert llm.truncate_middle is view.truncate_middle is render.truncate_middle


def test_no_module_of_the_package_is_over_500_lines() -> None:
    long = {p.relative_to(PACKAGE).as_posix(): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}


def test_every_action_type_and_info_topic_has_its_handler() -> None:
    from dojo_nb.actions import ACTION_TYPES, INFO_TOPICS
    from dojo_nb.env.handlers import HANDLERS
    from dojo_nb.env.info import TOPICS

    assert set(HANDLERS) == set(ACTION_TYPES) and set(TOPICS) == set(INFO_TOPICS)
    assert all(callable(h) and h.__module__.startswith("dojo_nb.env.") for h in HANDLERS.values())
