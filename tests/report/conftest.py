"""Real episodes for the report, compare and widget tests, run once per session.

- ``baseline``: the baseline agent on iris-species, replayed (replay.json present);
- ``hostile``: a scripted run whose cells output ``<script>``, ``<img onerror>``,
  ``javascript:`` links, an ``application/javascript`` output, markdown with raw HTML,
  a PNG and an SVG image, an error, an invalid and two valid submissions;
- ``inserted``: the same script with one extra code cell after step 3 (for alignment);
- ``crashed``: the first five hostile actions, the folder copied before close(): what a
  driver killed mid-run leaves (a trajectory, no summary.json, no end reason, no submission).

Every env is closed in ``finally`` so no kernel outlives a failing fixture.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TASK = "iris-species"
MARK = "__dojo_pwned"

XSS_HTML = (f"<script>window.{MARK}=1</script><img src=x onerror=\"window.{MARK}=2\">"
            f"<a href=\"javascript:window.{MARK}=3\">click me</a>"
            f"<div onmouseover=\"window.{MARK}=4\">hover</div><b>bold stays</b>"
            f"<iframe srcdoc=\"<script>window.{MARK}=5</script>\"></iframe>"
            f"<svg><script>window.{MARK}=6</script></svg><table><tr><td>cell text</td></tr></table>")
JS_SOURCE = f"window.{MARK} = 7; document.title = 'owned'"
MARKDOWN = (f"Plan: **constant guess**, then kNN. <script>window.{MARK}=8</script> "
            f"[bad link](javascript:window.{MARK}=9) <img src=x onerror=\"window.{MARK}=10\"> "
            "![remote](https://example.com/x.png)")

_LOAD = ("import os\nimport pandas as pd\n"
         "train = pd.read_csv(os.path.join(INPUT_DIR, 'train.csv'))\n"
         "test = pd.read_csv(os.path.join(INPUT_DIR, 'test.csv'))\n"
         "sample = pd.read_csv(os.path.join(INPUT_DIR, 'sample_submission.csv'))\n"
         "print(train.shape, test.shape)")
_PLOT = ("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
         "from IPython.display import Image, SVG, display\nimport io\n"
         "fig, ax = plt.subplots(figsize=(3, 2)); ax.plot([1, 3, 2])\n"
         "buf = io.BytesIO(); fig.savefig(buf, format='png'); display(Image(data=buf.getvalue()))\n"
         "buf = io.BytesIO(); fig.savefig(buf, format='svg'); display(SVG(data=buf.getvalue()))")
_KNN = ("from sklearn.neighbors import KNeighborsClassifier\n"
        "features = [c for c in test.columns if c != 'id']\n"
        "fill = train[features].median()  # the playground data has missing cells\n"
        "model = KNeighborsClassifier(5).fit(train[features].fillna(fill), train['species'])\n"
        "pd.DataFrame({'id': test['id'], 'species': model.predict(test[features].fillna(fill))})"
        ".to_csv(SUBMISSION_PATH, index=False)")
INSERTED_CODE = "print('an extra look at the data:', train['species'].value_counts().to_dict())"

HOSTILE_ACTIONS: list[dict[str, Any]] = [
    {"type": "add_markdown", "text": MARKDOWN},
    {"type": "execute_code", "code": _LOAD},
    {"type": "execute_code", "code": "train['no_such_column'].mean()"},
    {"type": "execute_code", "code": ("from IPython.display import HTML, Javascript, display\n"
                                      f"display(HTML({XSS_HTML!r}))\ndisplay(Javascript({JS_SOURCE!r}))")},
    {"type": "execute_code", "code": _PLOT},
    {"type": "submit"},  # nothing at SUBMISSION_PATH yet: an invalid submission
    {"type": "execute_code", "code": ("guess = sample.copy()\nguess['species'] = train['species'].mode()[0]\n"
                                      "guess.to_csv(SUBMISSION_PATH, index=False)")},
    {"type": "submit"},
    {"type": "execute_code", "code": _KNN},
    {"type": "submit", "final": True},
]


@dataclass
class Episodes:
    baseline: Path
    hostile: Path
    inserted: Path
    crashed: Path


def run_script(out_dir: Path, actions: list[dict[str, Any]], agent: str, *,
               copy_before_close: Path | None = None) -> Path:
    """Run `actions` in a real env; optionally copy the folder before close() (a 'crash')."""
    import dojo_nb

    env = dojo_nb.make(TASK, backend="local", out_dir=out_dir, agent_name=agent, max_steps=40)
    try:
        _obs, info = env.reset()
        episode = Path(info["episode_dir"])
        for action in actions:
            _obs, _r, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        if copy_before_close is not None:
            shutil.copytree(episode, copy_before_close, ignore=shutil.ignore_patterns("sandbox"))
        return episode
    finally:
        env.close()


@pytest.fixture(scope="session")
def episodes(tmp_path_factory: pytest.TempPathFactory) -> Episodes:
    from dojo_nb.runners.episodes import run_episode

    root = tmp_path_factory.mktemp("report-episodes")
    outcome = run_episode(TASK, "baseline", out_dir=root / "baseline", replay=True, max_steps=40)
    assert outcome.error is None, outcome.error
    hostile = run_script(root / "hostile", HOSTILE_ACTIONS, "scripted")
    # killed before any submit: no summary.json, no replay.json, no submissions
    run_script(root / "crash-run", HOSTILE_ACTIONS[:5], "scripted", copy_before_close=root / "crashed")
    with_insert = HOSTILE_ACTIONS[:3] + [{"type": "execute_code", "code": INSERTED_CODE}] + HOSTILE_ACTIONS[3:]
    inserted = run_script(root / "inserted", with_insert, "scripted")
    return Episodes(baseline=Path(outcome.episode_dir), hostile=hostile, inserted=inserted,
                    crashed=root / "crashed")
