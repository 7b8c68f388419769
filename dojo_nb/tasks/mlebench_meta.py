"""What an MLE-bench competition is, read from its own files rather than guessed.

The id and target columns come from the grader's source (the `id_col=`/`target_column=` it
passes, the constants it defines) and, failing that, from the answers file (the sample's column
whose values are the answers' unique keys). The task type and submission kind follow from the
grader's metric name (config.yaml `grader.name`) and the data.
"""

from __future__ import annotations

import ast
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dojo_nb import python_ast

_ID_NAMES = {"id_col", "id_column", "id_colname"}
_TARGET_NAMES = {"target_col", "target_column", "target_cols", "target_columns", "label_col"}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".dcm"}
_PROBABILITY_WORDS = ("auc", "roc", "log-loss", "logloss", "log loss", "log_loss", "cross-entropy", "crossentropy")
_VALUE_WORDS = ("rmse", "rmsle", "mae", "mse", "squared", "absolute", "error", "r2", "pearson",
                "spearman", "correlation", "smape", "mape")
_LABEL_WORDS = ("accuracy", "f1", "kappa", "map@", "precision", "recall", "iou", "dice", "jaccard",
                "levenshtein", "bleu")


@dataclass(frozen=True)
class CompetitionFacts:
    id_column: str
    target_columns: tuple[str, ...]
    task_type: str
    submission_kind: str
    metric: str


def _strings(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                                                        for e in node.elts):
        return [e.value for e in node.elts]
    return None


def grader_columns(folder: Path) -> tuple[str | None, list[str]]:
    """The id and target column names the competition's Python files pass or define, if any."""
    ident: str | None = None
    targets: list[str] = []
    files = [folder / "grade.py"] + sorted(p for p in folder.glob("*.py") if p.name not in ("grade.py", "prepare.py"))
    for path in files:
        if not path.is_file():
            continue
        try:
            tree = python_ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            pairs: list[tuple[str, ast.AST]] = []
            if isinstance(node, ast.keyword) and node.arg:
                pairs.append((node.arg, node.value))
            elif isinstance(node, ast.Assign):
                pairs += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
            for name, value in pairs:
                found = _strings(value)
                if not found:
                    continue
                if name.lower() in _ID_NAMES and ident is None:
                    ident = found[0]
                elif name.lower() in _TARGET_NAMES:
                    targets += [t for t in found if t not in targets]
    return ident, targets


def _is_key(sample: pd.DataFrame, answers: pd.DataFrame, column: str) -> bool:
    if column not in answers.columns or not answers[column].is_unique:
        return False
    return set(sample[column].astype(str)) == set(answers[column].astype(str))


def data_columns(sample: pd.DataFrame, answers: Any, ident: str | None, targets: list[str]) -> tuple[str, list[str]]:
    """Complete what the grader's source did not say from the sample submission and the answers."""
    columns = [str(c) for c in sample.columns]
    frame = answers if isinstance(answers, pd.DataFrame) else None
    if ident is None or ident not in columns:
        keys = [c for c in columns if frame is not None and _is_key(sample, frame, c)]
        ident = keys[0] if keys else columns[0]
    chosen = [t for t in targets if t in columns and t != ident]
    if not chosen:
        def carried(c: str) -> bool:  # copied unchanged from the answers (e.g. a Date beside the key)
            return frame is not None and c in frame.columns and len(frame) == len(sample) and \
                sorted(sample[c].astype(str)) == sorted(frame[c].astype(str))
        chosen = [c for c in columns if c != ident and not carried(c)] or [c for c in columns if c != ident]
    return ident, chosen


def has_images(public: Path, limit: int = 5000) -> bool:
    """Whether the agent's data holds images (loose files or inside zips)."""
    for i, path in enumerate(public.rglob("*")):
        if i >= limit:
            break
        suffix = path.suffix.lower()
        if suffix in _IMAGE_SUFFIXES:
            return True
        if suffix == ".zip" and path.is_file():
            try:
                with zipfile.ZipFile(path) as zf:
                    names = zf.namelist()[:200]
            except (zipfile.BadZipFile, OSError):
                continue
            if any(Path(n).suffix.lower() in _IMAGE_SUFFIXES for n in names):
                return True
    return False


def kind_of(metric: str, answers: Any, targets: list[str]) -> str:
    name = metric.lower()
    if any(w in name for w in _PROBABILITY_WORDS):
        return "probability"
    if any(w in name for w in _VALUE_WORDS):
        return "value"
    if any(w in name for w in _LABEL_WORDS):
        return "label"
    if isinstance(answers, pd.DataFrame) and targets and targets[0] in answers.columns:
        column = answers[targets[0]]
        if pd.api.types.is_float_dtype(column) and column.nunique() > 20:
            return "value"
    return "label"


def type_of(kind: str, answers: Any, targets: list[str], images: bool) -> str:
    """dojo-nb's task type; "image" means image classification (an image regression stays "regression")."""
    if kind == "value":
        return "regression"
    if images:
        return "image"
    if len(targets) > 1:
        return "multiclass"
    if isinstance(answers, pd.DataFrame) and targets and targets[0] in answers.columns:
        return "binary" if answers[targets[0]].nunique() <= 2 else "multiclass"
    return "multiclass"


def describe(folder: Path, config: dict, sample: pd.DataFrame, answers: Any, public: Path) -> CompetitionFacts:
    """The facts dojo-nb's task config needs, from the competition's folder and prepared data."""
    grader = config.get("grader") or {}
    metric = str(grader.get("name") or "mlebench_grade_py")
    ident, targets = data_columns(sample, answers, *grader_columns(folder))
    kind = kind_of(metric, answers, targets)
    return CompetitionFacts(ident, tuple(targets), type_of(kind, answers, targets, has_images(public)), kind, metric)
