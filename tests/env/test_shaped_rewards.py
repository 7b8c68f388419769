"""Partial credit and durations on real episodes: a notebook failing at import, one failing after
fitting, one succeeding. Under ``shaped`` their returns strictly increase and the final private
position dominates; under ``position`` the return is the best public position reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dojo_nb
from dojo_nb.env.progress import restore_progress
from dojo_nb.env.state import EpisodeState
from dojo_nb.export import load_episode, rl_transitions
from dojo_nb.tasks.gap import board_size

LOAD = ("import pandas as pd\ntrain = pd.read_csv(INPUT_DIR + '/train.csv')\n"
        "test = pd.read_csv(INPUT_DIR + '/test.csv')")
FIT = ("from sklearn.tree import DecisionTreeClassifier\n"
       "feats = [c for c in test.columns if c != 'id']\n"
       "model = DecisionTreeClassifier(random_state=0).fit(train[feats], train['species'])")
SCORE = ("from sklearn.model_selection import cross_val_score\n"
         "print('VALIDATION_SCORE:', cross_val_score(model, train[feats], train['species'], cv=3).mean())")
WRITE = "pd.DataFrame({'id': test['id'], 'species': model.predict(test[feats])}).to_csv(SUBMISSION_PATH, index=False)"

NOTEBOOKS = {
    "fails_at_import": [{"type": "execute_code", "code": "import a_package_that_is_not_there"}],
    "fails_after_fit": [{"type": "execute_code", "code": LOAD}, {"type": "execute_code", "code": FIT},
                        {"type": "execute_code", "code": "model.predict(test[['no_such_column']])"}],
    "succeeds": [{"type": "execute_code", "code": LOAD}, {"type": "execute_code", "code": FIT},
                 {"type": "execute_code", "code": SCORE}, {"type": "execute_code", "code": WRITE},
                 {"type": "validate"}, {"type": "submit"}],
}


def _episode(tmp_path: Path, name: str, reward: str) -> tuple[float, list[dict], dict, Path]:
    env = dojo_nb.make("iris-species", out_dir=tmp_path / f"{name}-{reward}", max_steps=12, reward=reward)
    total, infos = 0.0, []
    try:
        env.reset()
        for action in NOTEBOOKS[name] + [{"type": "submit", "final": True}]:
            _, r, terminated, truncated, info = env.step(action)
            total += r
            infos.append(info)
        assert terminated
    finally:
        env.close()
    return total, infos, info, env.episode_dir


def test_shaped_returns_rise_with_progress_and_the_private_position_dominates(tmp_path: Path) -> None:
    runs = {name: _episode(tmp_path, name, "shaped") for name in NOTEBOOKS}
    totals = [runs[name][0] for name in NOTEBOOKS]
    assert totals[0] < totals[1] < totals[2], totals
    cap = 0.5 / board_size(dojo_nb.make("iris-species").task)
    for name, (total, infos, last, _) in runs.items():
        final = last["final"]
        bonuses = total - float(final.get("private_position_score") or 0.0)
        # The guarantee: return = final private position + bonuses, 0 <= bonuses <= cap < one board step.
        assert -1e-9 <= bonuses <= cap + 1e-9, (name, bonuses)
        assert last["reward_sum"] == pytest.approx(total)
    reached = {name: set().union(*(i["reward_components"]["new"] for i in infos)) for name, (_, infos, _, _) in runs.items()}
    assert reached["fails_at_import"] == set()
    assert reached["fails_after_fit"] == {"data_loaded", "model_fitted"}
    assert reached["succeeds"] >= {"data_loaded", "model_fitted", "validation_score", "submission_written",
                                   "valid_submission"}
    # A better private position beats any bonuses: the bonuses of the failing notebooks are below one step.
    assert runs["succeeds"][2]["final"]["private_position_score"] >= 1 / board_size(dojo_nb.make("iris-species").task)


def test_position_return_is_the_best_public_position_and_durations_are_recorded(tmp_path: Path) -> None:
    total, infos, last, root = _episode(tmp_path, "succeeds", "position")
    assert total == pytest.approx(last["best_public_position_score"]) and total > 0
    for info in infos:
        d = info["durations"]
        assert d["wall_s"] > 0 and d["kernel_cpu_s"] >= 0
        assert d["budget_share"] == pytest.approx(d["wall_s"] / 3600.0, abs=1e-6)
    fit = infos[1]["durations"]  # the model fit runs in the kernel: it costs kernel CPU
    assert fit["kernel_cpu_s"] > 0
    ep = load_episode(root)
    transitions = rl_transitions(ep)
    # What a resume reads back: the milestones already paid (so no bonus is paid twice).
    state = EpisodeState()
    restore_progress(state, ep.steps)
    assert state.progress.reached == json.loads((root / "summary.json").read_text())["milestones"]
    assert [t["durations"]["wall_s"] for t in transitions] == [i["durations"]["wall_s"] for i in infos]
    assert sum(t["reward"] for t in transitions) == pytest.approx(total)
    assert last["final"]["gap_closed"] is not None and last["final"]["gap_closed"] > 0
