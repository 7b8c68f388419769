"""The baseline agent works every MLE-bench and MLE-Dojo fixture: a whole episode, a valid file, a replay.

Each suite is imported into its own cache (the two share competition ids), in a child process,
and its episodes run two at a time with `run_many` (real kernels, the local backend), each
replayed by papermill.
Where the inputs allow a model (CSV, JSON, JSON lines, images in zips or folders, text), the
submission is a model's; where they do not (denoising's pixel ids, question answering's spans),
the agent copies the sample once and stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from dojo_nb.agents import baseline, baseline_cells
from dojo_nb.record.metadata import EpisodeMeta
from dojo_nb.runners.episodes import EpisodeOutcome

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
MLEBENCH = FIXTURES / "mlebench"
MLEDOJO = FIXTURES / "mledojo"
MLEBENCH_IDS = sorted(p.name for p in MLEBENCH.iterdir()
                      if (p / "config.yaml").is_file() and p.name != "tiny-regression")
MLEDOJO_IDS = ["nomad2018-predict-transparent-conductors", "random-acts-of-pizza", "spaceship-titanic"]
#: The fixtures whose inputs the baseline cannot model: it submits the sample for them.
SAMPLE_ONLY = {("mlebench", "denoising-dirty-documents"), ("mlebench", "tensorflow2-question-answering")}
CASES = [("mlebench", cid) for cid in MLEBENCH_IDS] + [("mledojo", cid) for cid in MLEDOJO_IDS]


#: Runs in a child process: the suite's cache is its own and nothing of it stays in the test process
#: (a catalogue seen under another DOJO_NB_CACHE made later builtin-task episodes grade wrongly).
_DRIVER = """
import json, sys
from pathlib import Path
from dojo_nb.runners.episodes import run_many
from dojo_nb.tasks import mlebench_bulk, mledojo_import
suite, fixtures, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ids = json.loads(sys.argv[4])
if suite == "mlebench":
    imported = mlebench_bulk.import_data_dir(fixtures / "mlebench", fixtures / "mlebench", ids)
else:
    imported = mledojo_import.import_data_dir(fixtures / "mledojo" / "data",
                                              fixtures / "mledojo" / "MLE-Dojo" / "mledojo" / "competitions")
bad = [o.message for o in imported if not o.imported]
assert not bad, bad
for o in run_many(ids, "baseline", out_dir=out, parallel=2, replay=True):
    print("OUTCOME " + json.dumps({"task_id": o.task_id, "episode_dir": str(o.episode_dir), "steps": o.steps,
                                   "final": o.final, "replay": o.replay, "error": o.error}, default=str))
"""


@pytest.fixture(scope="module")
def episodes(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, EpisodeOutcome]]:
    """The suite's outcomes, its episodes run (two at a time) the first time it is asked for."""
    done: dict[str, dict[str, EpisodeOutcome]] = {}

    def get(suite: str) -> dict[str, EpisodeOutcome]:
        if suite not in done:
            root = tmp_path_factory.mktemp(suite)
            ids = MLEBENCH_IDS if suite == "mlebench" else MLEDOJO_IDS
            env = {**os.environ, "DOJO_NB_CACHE": str(root / "cache"),
                   "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
            run = subprocess.run([sys.executable, "-c", _DRIVER, suite, str(FIXTURES), str(root / "episodes"),
                                  json.dumps(ids)], capture_output=True, text=True, env=env, timeout=880, check=False)
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
            rows = [json.loads(line[len("OUTCOME "):]) for line in run.stdout.splitlines()
                    if line.startswith("OUTCOME ")]
            done[suite] = {r["task_id"]: EpisodeOutcome(r["task_id"], Path(r["episode_dir"]), steps=r["steps"],
                                                        final=r["final"] or {}, replay=r["replay"], error=r["error"])
                           for r in rows}
        return done[suite]

    return get


def _copied_the_sample(outcome: EpisodeOutcome) -> bool:
    nb = nbformat.read(outcome.episode_dir / "trajectory.ipynb", as_version=4)
    copies = {baseline_cells.SAMPLE_COPY.strip(), baseline._FALLBACK_SUBMISSION.strip()}
    return any(c.cell_type == "code" and c.source.strip() in copies
               and c.metadata.get("dojo", {}).get("status") == "ok" for c in nb.cells)


@pytest.mark.slow  # about 4 minutes in all on a shared 2-core machine (13 episodes and replays, 2 at a time)
@pytest.mark.timeout(900)
@pytest.mark.parametrize("suite,cid", CASES, ids=[f"{s}:{c}" for s, c in CASES])
def test_baseline_episode_submits_and_replays(suite: str, cid: str,
                                              episodes: Callable[[str], dict[str, EpisodeOutcome]]) -> None:
    outcome = episodes(suite)[cid]
    assert outcome.error is None, outcome.error
    assert outcome.valid, outcome.final
    assert outcome.replay and outcome.replay.get("reproduced"), outcome.replay
    assert _copied_the_sample(outcome) == ((suite, cid) in SAMPLE_ONLY)
    # the agent was told of every input, not only train.csv/test.csv
    listing = EpisodeMeta.of(nbformat.read(outcome.episode_dir / "trajectory.ipynb", as_version=4)).input_listing
    public = MLEBENCH / cid / "prepared" / "public" if suite == "mlebench" else MLEDOJO / "data" / cid / "data" / "public"
    assert listing and all(f"/{p.name}" in listing for p in public.iterdir())
    assert outcome.steps <= 20  # each approach tried once: no loop
