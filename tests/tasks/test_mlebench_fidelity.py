"""Imported MLE-bench competitions grade as MLE-bench grades them.

For each fixture competition (tests/tasks/fixtures/mlebench/<id>: our own data in MLE-bench's
prepared shapes, graders of our own with the real ones' import structure) we build six files —
the sample submission, a valid imperfect one, a perfect one, the valid one with shuffled rows,
one missing a column and one with wrong ids — and compare dojo-nb's score with the metric
computed here directly with scikit-learn (or by hand) on the fixture's answers, or check that
dojo-nb refuses the file with the grader's own words.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score, root_mean_squared_error

from dojo_nb.tasks import load_task
from dojo_nb.tasks.mlebench_import import import_mlebench
from dojo_nb.tasks.grading import grade_submission, validate_submission

FIXTURES = Path(__file__).parent / "fixtures" / "mlebench"
RNG_SEED = 11


def _private(cid: str, name: str = "test.csv") -> Path:
    return FIXTURES / cid / "prepared" / "private" / name


def _public(cid: str, name: str) -> Path:
    return FIXTURES / cid / "prepared" / "public" / name


@dataclass
class Case:
    """How to build one competition's files and score them independently of its grader."""

    cid: str
    sample: str
    id_col: str
    drop: str  # the column the missing-column file lacks
    answers: Callable[[], object]
    perfect: Callable[[object], pd.DataFrame]
    valid: Callable[[object, np.random.Generator], pd.DataFrame]
    metric: Callable[[pd.DataFrame, object], float]  # the expected score of a submission
    positional: bool = False  # the grader pairs rows by position (ids ignored), as nomad2018's does


def _aligned(sub: pd.DataFrame, ans: pd.DataFrame, key: str) -> pd.DataFrame:
    return ans[[key]].merge(sub, on=key, how="left", validate="one_to_one")


def _auc(key: str, target: str) -> Callable[[pd.DataFrame, pd.DataFrame], float]:
    return lambda sub, ans: roc_auc_score(ans[target], _aligned(sub, ans, key)[target])


def _map5(sub: pd.DataFrame, ans: pd.DataFrame) -> float:
    got = _aligned(sub, ans, "Image")["Id"]
    total = 0.0
    for truth, guess in zip(ans["Id"], got):
        guesses = str(guess).split(" ")[:5]
        first = next((i for i, g in enumerate(guesses) if g == truth), None)  # one true id per image
        total += 0.0 if first is None else 1.0 / (first + 1)
    return total / len(ans)


def _tf2qa_truth(records: list[dict]) -> dict[str, list]:
    out = {}
    for r in records:
        a = r["annotations"][0]
        long = a["long_answer"]
        out[f"{r['example_id']}_long"] = [] if long["start_token"] < 0 else [f"{long['start_token']}:{long['end_token']}"]
        short = [f"{s['start_token']}:{s['end_token']}" for s in a["short_answers"]]
        out[f"{r['example_id']}_short"] = short + ([a["yes_no_answer"]] if a["yes_no_answer"] != "NONE" else [])
    return out


def _tf2qa_score(sub: pd.DataFrame, records: list[dict]) -> float:
    """Micro F1 over two classes is accuracy: a row is right when its answer is valid, or blank with none."""
    truth = _tf2qa_truth(records)
    right = 0
    for key, pred in zip(sub["example_id"], sub["PredictionString"].fillna("")):
        pred = str(pred).strip()
        right += (pred in truth[key]) if pred else (not truth[key])
    return right / len(sub)


def _tf2qa_valid(records: list[dict], rng: np.random.Generator) -> pd.DataFrame:
    truth = _tf2qa_truth(records)
    rows = []
    for key, valid in truth.items():
        pred = valid[0] if valid and rng.random() < 0.6 else ("" if rng.random() < 0.5 else "1:2")
        rows.append({"example_id": key, "PredictionString": pred})
    return pd.DataFrame(rows)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _probs(frame: pd.DataFrame, cols: list[str], rng: np.random.Generator) -> pd.DataFrame:
    noisy = frame[cols].to_numpy(float) * 2 + rng.uniform(0.05, 1.0, size=(len(frame), len(cols)))
    out = frame.copy()
    out[cols] = noisy / noisy.sum(axis=1, keepdims=True)
    return out


SPOOKY = ["EAP", "HPL", "MWS"]
JIGSAW = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
NOMAD = ["formation_energy_ev_natom", "bandgap_energy_ev"]


def _jigsaw_auc(sub: pd.DataFrame, ans: pd.DataFrame) -> float:
    scored = ans[ans[JIGSAW].min(axis=1) >= 0]
    got = _aligned(sub, scored, "id")
    return float(np.mean([roc_auc_score(scored[c], got[c]) for c in JIGSAW]))


def _flip_some(values: pd.Series, rng: np.random.Generator, share: float) -> pd.Series:
    flip = rng.random(len(values)) < share
    return values.where(~flip, ~values.astype(bool))


CASES = [
    Case("spaceship-titanic", "sample_submission.csv", "PassengerId", "Transported",
         lambda: _read(_private("spaceship-titanic")),
         lambda a: a[["PassengerId", "Transported"]],
         lambda a, rng: a[["PassengerId"]].assign(Transported=_flip_some(a["Transported"], rng, 0.15)),
         lambda s, a: accuracy_score(a["Transported"], _aligned(s, a, "PassengerId")["Transported"])),
    Case("spooky-author-identification", "sample_submission.csv", "id", "MWS",
         lambda: _read(_private("spooky-author-identification")),
         lambda a: a,
         lambda a, rng: _probs(a, SPOOKY, rng),
         lambda s, a: log_loss(a[SPOOKY].to_numpy(), _aligned(s, a, "id")[SPOOKY].to_numpy())),
    Case("random-acts-of-pizza", "sampleSubmission.csv", "request_id", "requester_received_pizza",
         lambda: _read(_private("random-acts-of-pizza")),
         lambda a: a,
         lambda a, rng: a.assign(requester_received_pizza=np.clip(a["requester_received_pizza"] * 0.4
                                                                  + rng.uniform(0, 0.6, len(a)), 0, 1)),
         _auc("request_id", "requester_received_pizza")),
    Case("detecting-insults-in-social-commentary", "sample_submission_null.csv", "Comment", "Insult",
         lambda: _read(_private("detecting-insults-in-social-commentary")),
         lambda a: a[["Insult", "Date", "Comment"]],
         lambda a, rng: a[["Insult", "Date", "Comment"]].assign(Insult=np.clip(a["Insult"] * 0.3 + rng.uniform(0, 0.7, len(a)), 0, 1)),
         _auc("Comment", "Insult")),
    Case("aerial-cactus-identification", "sample_submission.csv", "id", "has_cactus",
         lambda: _read(_private("aerial-cactus-identification")),
         lambda a: a,
         lambda a, rng: a.assign(has_cactus=np.clip(a["has_cactus"] * 0.5 + rng.uniform(0, 0.5, len(a)), 0, 1)),
         _auc("id", "has_cactus")),
    Case("nomad2018-predict-transparent-conductors", "sample_submission.csv", "id", "bandgap_energy_ev",
         lambda: _read(_private("nomad2018-predict-transparent-conductors")),
         lambda a: a[["id", *NOMAD]],
         lambda a, rng: a[["id", *NOMAD]].assign(**{c: a[c] * rng.uniform(0.7, 1.3, len(a)) for c in NOMAD}),
         lambda s, a: float(np.mean([np.sqrt(np.mean((np.log1p(s[c].to_numpy()) - np.log1p(a[c].to_numpy())) ** 2))
                                     for c in NOMAD])),
         positional=True),
    Case("denoising-dirty-documents", "sampleSubmission.csv", "id", "value",
         lambda: _read(_private("denoising-dirty-documents", "answers.csv")),
         lambda a: a,
         lambda a, rng: a.assign(value=np.clip(a["value"] + rng.normal(0, 0.1, len(a)), 0, 1)),
         lambda s, a: root_mean_squared_error(a["value"], _aligned(s, a, "id")["value"])),
    Case("jigsaw-toxic-comment-classification-challenge", "sample_submission.csv", "id", "threat",
         lambda: _read(_private("jigsaw-toxic-comment-classification-challenge")),
         lambda a: a.assign(**{c: a[c].clip(lower=0) for c in JIGSAW}),
         lambda a, rng: a.assign(**{c: np.clip(a[c].clip(lower=0) * 0.4 + rng.uniform(0, 0.6, len(a)), 0, 1) for c in JIGSAW}),
         _jigsaw_auc),
    Case("whale-categorization-playground", "sample_submission.csv", "Image", "Id",
         lambda: _read(_private("whale-categorization-playground")),
         lambda a: a,
         lambda a, rng: a.assign(Id=[" ".join(rng.permutation([t, "new_whale", "w_x1", "w_x2"])[:3]) for t in a["Id"]]),
         _map5),
    Case("tensorflow2-question-answering", "sample_submission.csv", "example_id", "PredictionString",
         lambda: _jsonl(_private("tensorflow2-question-answering", "test.jsonl")),
         lambda a: pd.DataFrame([{"example_id": k, "PredictionString": (v[0] if v else "")}
                                 for k, v in _tf2qa_truth(a).items()]),
         _tf2qa_valid,
         _tf2qa_score),
]
IDS = [c.cid for c in CASES]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory):
    """Every fixture competition imported once into a private cache."""
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("DOJO_NB_CACHE")
    os.environ["DOJO_NB_CACHE"] = str(cache)
    try:
        yield {c.cid: load_task(import_mlebench(FIXTURES / c.cid, FIXTURES / c.cid / "prepared").name) for c in CASES}
    finally:
        if old is None:
            os.environ.pop("DOJO_NB_CACHE", None)
        else:
            os.environ["DOJO_NB_CACHE"] = old


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def _files(case: Case, tmp: Path) -> dict[str, tuple[Path, pd.DataFrame]]:
    """The six submissions (path and the frame written there)."""
    rng = np.random.default_rng(RNG_SEED)
    answers = case.answers()
    sample = pd.read_csv(_public(case.cid, case.sample))
    valid = case.valid(answers, rng).reset_index(drop=True)
    if isinstance(answers, pd.DataFrame):
        valid = valid[[c for c in sample.columns]]
    shuffled = valid.sample(frac=1.0, random_state=3).reset_index(drop=True)
    wrong = valid.copy()
    wrong[case.id_col] = wrong[case.id_col].astype(str)
    wrong.loc[:4, case.id_col] = [f"not-an-id-{i}" for i in range(5)]
    frames = {"sample": sample, "valid": valid, "perfect": case.perfect(answers)[list(sample.columns)],
              "shuffled": shuffled, "missing": valid.drop(columns=[case.drop]), "wrong_ids": wrong}
    return {name: (_write(f, tmp / f"{name}.csv"), f) for name, f in frames.items()}


@pytest.mark.parametrize("cid", IDS)
def test_scores_match_independent_metric(cid: str, tasks, tmp_path: Path) -> None:
    case = CASES[IDS.index(cid)]
    task = tasks[cid]
    answers = case.answers()
    files = _files(case, tmp_path)
    for name in ("sample", "valid", "perfect", "shuffled"):
        path, frame = files[name]
        report = grade_submission(task, path)
        assert report.valid, f"{cid} {name}: {report.message}"
        expected = case.metric(pd.read_csv(path), answers)
        assert report.private_score == pytest.approx(expected, abs=1e-9), f"{cid} {name}"
        assert validate_submission(task, path).ok
    perfect = grade_submission(tasks[cid], files["perfect"][0]).private_score
    assert perfect == pytest.approx(0.0 if task.lower_is_better else 1.0, abs=1e-6)
    if not case.positional:  # rows are matched by id: order does not matter
        assert grade_submission(task, files["shuffled"][0]).private_score == pytest.approx(grade_submission(task, files["valid"][0]).private_score)


@pytest.mark.parametrize("cid", IDS)
def test_bad_files_get_the_graders_reason(cid: str, tasks, tmp_path: Path) -> None:
    case = CASES[IDS.index(cid)]
    task = tasks[cid]
    files = _files(case, tmp_path)
    missing = grade_submission(task, files["missing"][0])
    assert not missing.valid and missing.message
    assert not validate_submission(task, files["missing"][0]).ok
    wrong = grade_submission(task, files["wrong_ids"][0])
    if case.positional:  # MLE-bench's grader never looks at the ids: the file is scored row by row
        assert wrong.valid, wrong.message
        assert wrong.private_score == pytest.approx(case.metric(pd.read_csv(files["wrong_ids"][0]), case.answers()))
    else:
        assert not wrong.valid and wrong.message
        assert not validate_submission(task, files["wrong_ids"][0]).ok


def test_graders_own_words(tasks, tmp_path: Path) -> None:
    spooky = tasks["spooky-author-identification"]
    answers = _read(_private("spooky-author-identification"))
    path = _write(answers.drop(columns=["MWS"]), tmp_path / "s.csv")
    assert grade_submission(spooky, path).message == "invalid submission: expected shape (30, 4), got (30, 3)"
    unsummed = answers.assign(EAP=0.5, HPL=0.5, MWS=0.5)
    assert "sum to 1" in validate_submission(spooky, _write(unsummed, tmp_path / "u.csv")).message
    # An assertion in the grader (not an InvalidSubmissionError) is a refusal too, with its text.
    jigsaw = tasks["jigsaw-toxic-comment-classification-challenge"]
    short = _write(pd.read_csv(_public(jigsaw.id, "sample_submission.csv")).iloc[:-1], tmp_path / "j.csv")
    message = grade_submission(jigsaw, short).message
    assert "AssertionError" in message and "differ in length" in message


def test_spaceship_types_reach_the_grader(tasks, tmp_path: Path) -> None:
    """True/False are booleans in both files (the all-string read gave 'Mix of label input types')."""
    task = tasks["spaceship-titanic"]
    sample = grade_submission(task, _public("spaceship-titanic", "sample_submission.csv"))
    assert sample.valid and sample.private_score == pytest.approx(18 / 40)
    answers = _read(_private("spaceship-titanic"))
    wrong6 = answers[["PassengerId", "Transported"]].copy()
    wrong6.loc[:5, "Transported"] = ~wrong6.loc[:5, "Transported"]
    report = grade_submission(task, _write(wrong6, tmp_path / "w.csv"))
    assert report.private_score == pytest.approx(34 / 40) and report.medal == "silver"


def test_insults_key_is_the_comment_and_public_part_is_scored(tasks, tmp_path: Path) -> None:
    task = tasks["detecting-insults-in-social-commentary"]
    assert task.id_column == "Comment" and task.target_columns == ("Insult",)
    answers = _read(_private(task.id))
    files = _files(CASES[IDS.index(task.id)], tmp_path)
    report = grade_submission(task, files["valid"][0])
    sub = pd.read_csv(files["valid"][0])
    public = answers[answers["Usage"] == "PublicTest"]
    assert report.private_score == pytest.approx(_auc("Comment", "Insult")(sub, answers))
    assert report.public_score == pytest.approx(_auc("Comment", "Insult")(sub[sub["Comment"].isin(public["Comment"])], public))
    assert "public part" in report.message


def test_nomad_unknown_ids_are_scored_like_mlebench(tasks, tmp_path: Path) -> None:
    """A 30-row file with 5 unknown ids: MLE-bench scores all 30 rows in order; so do we."""
    task = tasks["nomad2018-predict-transparent-conductors"]
    answers = _read(_private(task.id))
    sub = answers[["id", *NOMAD]].copy()
    sub.loc[:4, "id"] = range(901, 906)
    report = grade_submission(task, _write(sub, tmp_path / "n.csv"))
    assert report.valid, report.message
    assert report.private_score == pytest.approx(0.0)
