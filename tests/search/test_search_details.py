"""Search details: the debug prompt carries the traceback's frames; a node must write its own
submission (a parent's file left in place does not make it good)."""

from __future__ import annotations

from pathlib import Path

from dojo_nb.agents.search import Node, ScriptedPolicy, run_search
from dojo_nb.agents.search_policies import Proposal, build_prompt
from tests.search.cells import DRAFT_GOOD, IMPROVE_NO_FILE


def test_the_debug_prompt_keeps_the_traceback_frames() -> None:
    tb = ["\x1b[0;31mKeyError\x1b[0m Traceback (most recent call last)",
          "Cell In[3], line 7\n----> 7 X = train[NUM + ['no_such_column']]",
          "File pandas/core/frame.py:4108, in DataFrame.__getitem__(self, key)",
          "KeyError: \"['no_such_column'] not in index\""]
    parent = Node("001-draft", None, "draft", "X = train[NUM + ['no_such_column']]", status="buggy",
                  output="loaded 300 rows\n", message="KeyError: ...",
                  error={"ename": "KeyError", "evalue": "['no_such_column'] not in index", "traceback": tb})
    prompt = build_prompt(Proposal("debug", {"metric": "log_loss"}, "task", parent, [parent]))
    assert "Cell In[3], line 7" in prompt and "----> 7 X = train" in prompt
    assert "frame.py:4108" in prompt and "\x1b[" not in prompt
    assert "loaded 300 rows" in prompt  # the output before the error is kept too


def test_a_node_that_writes_no_submission_is_not_good(tmp_path: Path) -> None:
    policy = ScriptedPolicy(drafts=[DRAFT_GOOD], improves=[IMPROVE_NO_FILE])
    result = run_search("penguins-species", tmp_path, policy, max_nodes=2, num_drafts=1, debug_prob=0.0,
                        time_budget_s=300, cell_timeout_s=120, final=False)
    draft, improve = result.nodes
    assert draft.status == "good"
    assert improve.status == "buggy" and "no submission of its own" in improve.message, improve.message
    assert improve.score is not None  # it printed a score; that alone does not make it good
    assert result.best is draft
