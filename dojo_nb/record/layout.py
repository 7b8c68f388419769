"""Every name in an episode folder, in one place.

::

    EPISODE/
      sandbox/{input,working,submission}/   the only folder the kernel sees
      submissions/                          copies of graded submission files
      trajectory.ipynb  solution.ipynb  summary.json
      model_calls.jsonl                     what an LLM agent sent its model, call by call
      replay.json  replay.ipynb  report.html   (written later, by replay and report)
      search/{journal.jsonl,search.json,nodes/<id>/}   a search agent's tree (search-tree.html)
      search/model_calls.jsonl              what its LLM policy sent its model, one line per call

    OUT/                                    `run_search`'s folder
      search/  final/                       the tree (as above) and the chosen node re-run and submitted

    RUN/                                    a folder of episodes (`dojo-nb run --split`, ...)
      index.html  index.json  index.csv  compare/   written by `dojo-nb report RUN`

No other module of dojo_nb spells one of these names: they import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRAJECTORY = "trajectory.ipynb"
SOLUTION = "solution.ipynb"
SUMMARY = "summary.json"
REPLAY_JSON = "replay.json"
REPLAY_NOTEBOOK = "replay.ipynb"
REPLAY_SANDBOX = "replay-sandbox"
REPORT = "report.html"
#: The LLM agent's requests and replies, one JSON line per model call (`dojo_nb.record.model_calls`).
MODEL_CALLS = "model_calls.jsonl"
#: The search agent's tree, beside the episode's own files (`dojo_nb.agents.search`).
SEARCH = "search"
SEARCH_JOURNAL = "journal.jsonl"
SEARCH_SUMMARY = "search.json"
SEARCH_NODES = "nodes"
#: The search's LLM policy's requests and replies, in the search folder: the LLM agent's format
#: (`dojo_nb.record.model_calls`) and name, each call line naming the node it was for.
SEARCH_MODEL_CALLS = MODEL_CALLS
#: Beside ``search/`` in `run_search`'s output folder: the chosen node's cells re-run and submitted.
SEARCH_FINAL = "final"
#: The search-tree page `dojo-nb report` writes next to report.html for a search episode.
SEARCH_PAGE = "search-tree.html"
#: What `dojo-nb report RUN_DIR` writes at the top of a folder of episodes.
RUN_INDEX = "index.html"
RUN_INDEX_JSON = "index.json"
RUN_INDEX_CSV = "index.csv"
RUN_COMPARE_DIR = "compare"

SANDBOX = "sandbox"
SUBMISSIONS = "submissions"
#: The folders of a sandbox (input is read-only to the kernel).
SANDBOX_PARTS = ("input", "working", "submission")
#: The file the agent writes, in the sandbox's submission/ folder.
SUBMISSION_FILENAME = "submission.csv"
#: The file a replay's submission is kept as, under submissions/.
REPLAY_SUBMISSION = f"{SUBMISSIONS}/replay.csv"
#: The temporary copy `validate` grades, under submissions/.
VALIDATE_TMP = ".validate.tmp"

#: The episode folder's own files: a link at one of these names is never followed.
EPISODE_FILES = frozenset({TRAJECTORY, SOLUTION, SUMMARY, REPLAY_JSON, REPLAY_NOTEBOOK, REPLAY_SANDBOX,
                           REPORT, MODEL_CALLS, SEARCH_PAGE})
#: What a run leaves on disk when it went well (the order `EpisodeOutcome.written` lists them).
RUN_FILES = (TRAJECTORY, SOLUTION, SUMMARY, REPLAY_JSON)
#: The folders a resume writes to (and bind-mounts), relative to the episode folder.
RESUME_FOLDERS = (SANDBOX, *(f"{SANDBOX}/{p}" for p in SANDBOX_PARTS), SUBMISSIONS)


def kept_submission_name(step: int, suffix: str) -> str:
    """Where the file graded at `step` is kept, relative to the episode folder."""
    return f"{SUBMISSIONS}/step-{step:04d}{suffix}"


def final_submission_name(suffix: str) -> str:
    """Where the file left at SUBMISSION_PATH is kept when it is graded at the end."""
    return f"{SUBMISSIONS}/final{suffix}"


@dataclass(frozen=True)
class EpisodeLayout:
    """The paths of one episode folder."""

    root: Path

    @property
    def trajectory(self) -> Path:
        return self.root / TRAJECTORY

    @property
    def solution(self) -> Path:
        return self.root / SOLUTION

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY

    @property
    def replay_json(self) -> Path:
        return self.root / REPLAY_JSON

    @property
    def replay_notebook(self) -> Path:
        return self.root / REPLAY_NOTEBOOK

    @property
    def report(self) -> Path:
        return self.root / REPORT

    @property
    def model_calls(self) -> Path:
        return self.root / MODEL_CALLS

    @property
    def sandbox(self) -> Path:
        return self.root / SANDBOX

    @property
    def input_dir(self) -> Path:
        return self.sandbox / "input"

    @property
    def working_dir(self) -> Path:
        return self.sandbox / "working"

    @property
    def submission_dir(self) -> Path:
        return self.sandbox / "submission"

    @property
    def submission_file(self) -> Path:
        """The agent's submission file as the host sees it."""
        return self.submission_dir / SUBMISSION_FILENAME

    @property
    def submissions(self) -> Path:
        return self.root / SUBMISSIONS

    def is_submission(self, rel: object) -> bool:
        """Whether a (possibly crafted) relative name lies under submissions/."""
        return isinstance(rel, str) and rel.startswith(f"{SUBMISSIONS}/")
