"""Kaggle's public-leaderboard rules on real episodes: the one-row probing attack is bounded by
the submission budget, public scores are rounded, feedback modes hide what they say they hide."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import dojo_nb
from dojo_nb.env.rules import DEFAULT_MAX_SUBMISSIONS
from dojo_nb.tasks.cache import prepare_task

FIT = """\
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
train = pd.read_csv(INPUT_DIR + '/train.csv'); test = pd.read_csv(INPUT_DIR + '/test.csv')
target = [c for c in train.columns if c not in test.columns][0]
feats = [c for c in test.columns if c != 'id' and pd.api.types.is_numeric_dtype(test[c])]
model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(train[feats], train[target])
pred = pd.DataFrame({'id': test['id'], target: model.predict(test[feats])})
pred.to_csv(SUBMISSION_PATH, index=False)
"""
FLIP = """\
row = {row}
labels = sorted(train[target].unique())
pred.loc[row, target] = labels[1 - labels.index(pred.loc[row, target])]
pred.to_csv(SUBMISSION_PATH, index=False)
"""


def test_one_row_probing_attack_is_bounded_by_the_budget(tmp_path: Path) -> None:
    """Flip one row per submit, keep the flip if the shown public score went up (the attack that
    took anes96-vote's public accuracy to 1.0): with the default budget only the first
    submits are graded, so the public gain is at most (budget - 1) rows."""
    env = dojo_nb.make("anes96-vote", out_dir=tmp_path / "ep", max_steps=40)
    attempts = 12
    shown: list[float] = []
    refused = 0
    try:
        env.reset()
        assert env.step({"type": "execute_code", "code": FIT})[0]["status"] == "ok"
        obs, *_ = env.step({"type": "submit"})
        shown.append(obs["grading"]["public_score"])
        best = shown[0]
        for row in range(attempts):
            assert env.step({"type": "execute_code", "code": FLIP.format(row=row)})[0]["status"] == "ok"
            obs, reward, *_ = env.step({"type": "submit"})
            text = json.dumps(obs)
            assert "private_score" not in text and "medal" not in text
            if obs["grading"].get("refused"):
                refused += 1
                assert reward == 0.0 and "budget used up" in obs["text"]
                continue
            score = obs["grading"]["public_score"]
            shown.append(score)
            assert score == round(score, 5)
            if score > best:
                best = score
            else:  # undo a flip that did not help
                env.step({"type": "execute_code", "code": FLIP.format(row=row)})
        obs, reward, terminated, _, info = env.step({"type": "submit", "final": True})
        assert terminated and obs["grading"].get("refused")
    finally:
        env.close()
    assert len(shown) == DEFAULT_MAX_SUBMISSIONS and refused == attempts + 1 - DEFAULT_MAX_SUBMISSIONS
    answers = pd.read_csv(prepare_task(env.task).answers_path)
    n_public = int((answers["Usage"] == "Public").sum())
    # Each flip moves the public accuracy by one public row at most: the budget bounds the gain.
    assert max(shown) - shown[0] <= (DEFAULT_MAX_SUBMISSIONS - 1) / n_public + 1e-9
    summary = json.loads((env.episode_dir / "summary.json").read_text())
    assert summary["rules"]["max_submissions"] == DEFAULT_MAX_SUBMISSIONS
    assert len(summary["submissions"]) == DEFAULT_MAX_SUBMISSIONS
    # Under "position", the rewards sum to the best public position score reached.
    assert info["reward_sum"] == pytest.approx(summary["best_public_position_score"])


COPY_SAMPLE = "import shutil; shutil.copy(INPUT_DIR + '/sample_submission.csv', SUBMISSION_PATH)"


@pytest.mark.parametrize("feedback", ["validity", "none"])
def test_feedback_modes_show_no_score(tmp_path: Path, feedback: str) -> None:
    env = dojo_nb.make("iris-species", out_dir=tmp_path / "ep", max_steps=8, feedback=feedback,
                       max_submissions=2)
    rewards = []
    try:
        obs, info = env.reset()
        assert ("only whether the file is valid" if feedback == "validity" else "shows nothing") in obs["text"]
        assert env.step({"type": "execute_code", "code": FIT})[0]["status"] == "ok"
        for final in (False, True):
            obs, reward, terminated, _, info = env.step({"type": "submit", "final": final})
            rewards.append(reward)
            if not final:
                g = obs["grading"]
                assert "public_score" not in g and "reward" not in g and "public_position_score" not in g
                assert g["submissions_left"] == 1
                assert ("valid" in g) == (feedback == "validity")
                assert info["best_public_position_score"] is None and info["reward_sum"] is None
                assert reward == 0.0
                hist = env.step({"type": "request_info", "what": "history"})[0]["text"]
                assert "public_score" not in hist and "position" not in hist
    finally:
        env.close()
    # The position rewards come at the end, all at once: the sum is still the best public position.
    best = info["final"]["public_position_score"]
    assert best > 0 and rewards[-1] == pytest.approx(best) and sum(rewards) == pytest.approx(best)
    assert info["reward_sum"] == pytest.approx(best)


def test_rules_are_checked_at_make() -> None:
    with pytest.raises(ValueError, match="feedback"):
        dojo_nb.make("iris-species", feedback="everything")
    with pytest.raises(ValueError, match="max_submissions"):
        dojo_nb.make("iris-species", max_submissions=0)
    with pytest.raises(ValueError, match="unknown reward components"):
        dojo_nb.make("iris-species", reward="shaped", reward_weights={"vibes": 1.0})
