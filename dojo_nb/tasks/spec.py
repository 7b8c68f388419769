"""A task as its folder describes it: config.yaml + description.md (+ prepare.py, grade.py, leaderboard.csv)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TASK_TYPES = ("binary", "multiclass", "regression", "forecasting", "image")
SUBMISSION_KINDS = ("label", "probability", "value")
SPLITS = ("train", "eval")


class TaskError(ValueError):
    """A task folder is missing something or says something inconsistent."""


@dataclass(frozen=True)
class Task:
    """Everything the environment and the grader need to know about one task."""

    id: str
    name: str
    version: str
    type: str
    metric: str
    lower_is_better: bool
    split: str
    folder: Path
    description: str
    id_column: str = "id"
    target_columns: tuple[str, ...] = ("target",)
    label_column: str | None = None
    submission_kind: str = "value"
    classes: tuple[str, ...] = ()
    tolerance: float = 1e-9
    data_source: str = ""
    public_fraction: float = 0.3
    max_submission_mb: float = 50.0
    source: str = "builtin"
    source_dataset: dict[str, str] = field(default_factory=dict, compare=False)  # config `source:` (package, loader)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # -- derived -------------------------------------------------------------------------
    @property
    def train_target(self) -> str:
        """The target column in train.csv (the label column, or the single submission column)."""
        return self.label_column or self.target_columns[0]

    @property
    def has_custom_grader(self) -> bool:
        return (self.folder / "grade.py").is_file()

    def metadata(self) -> dict[str, Any]:
        """JSON-able facts an agent may know (nothing about the answers)."""
        return {
            "id": self.id, "name": self.name, "version": self.version, "type": self.type,
            "metric": self.metric, "lower_is_better": self.lower_is_better, "split": self.split,
            "id_column": self.id_column, "target_columns": list(self.target_columns),
            "label_column": self.train_target, "submission_kind": self.submission_kind,
            "classes": list(self.classes), "submission_file": "submission.csv",
        }


def load_task_folder(folder: Path, *, source: str = "builtin") -> Task:
    """Read a task folder; raise TaskError with a precise message when it is incomplete."""
    folder = Path(folder)
    config_path = folder / "config.yaml"
    if not config_path.is_file():
        raise TaskError(f"{folder}: no config.yaml")
    try:
        cfg = yaml.safe_load(config_path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise TaskError(f"{config_path}: not valid YAML ({exc})") from exc
    missing = [k for k in ("id", "name", "metric") if k not in cfg]
    if missing:
        raise TaskError(f"{config_path}: missing {', '.join(missing)}")
    description_file = folder / cfg.get("description", "description.md")
    description = description_file.read_text() if description_file.is_file() else ""
    task_type = cfg.get("type", "regression")
    if task_type not in TASK_TYPES:
        raise TaskError(f"{config_path}: type {task_type!r} is not one of {TASK_TYPES}")
    kind = cfg.get("submission_kind", "value")
    if kind not in SUBMISSION_KINDS:
        raise TaskError(f"{config_path}: submission_kind {kind!r} is not one of {SUBMISSION_KINDS}")
    split = cfg.get("split", "train")
    if split not in SPLITS:
        raise TaskError(f"{config_path}: split {split!r} is not one of {SPLITS}")
    targets = cfg.get("target_columns", ["target"])
    if isinstance(targets, str):
        targets = [targets]
    known = {
        "id", "name", "version", "type", "metric", "lower_is_better", "split", "description",
        "id_column", "target_columns", "label_column", "submission_kind", "classes", "tolerance",
        "data_source", "public_fraction", "max_submission_mb", "source",
    }
    return Task(
        id=str(cfg["id"]), name=str(cfg["name"]), version=str(cfg.get("version", "1")),
        type=task_type, metric=str(cfg["metric"]),
        lower_is_better=bool(cfg.get("lower_is_better", False)), split=split, folder=folder,
        description=description, id_column=str(cfg.get("id_column", "id")),
        target_columns=tuple(str(t) for t in targets), label_column=cfg.get("label_column"),
        submission_kind=kind, classes=tuple(str(c) for c in cfg.get("classes", []) or []),
        tolerance=float(cfg.get("tolerance", 1e-9)), data_source=str(cfg.get("data_source", "")),
        public_fraction=float(cfg.get("public_fraction", 0.3)),
        max_submission_mb=float(cfg.get("max_submission_mb", 50.0)), source=source,
        source_dataset={str(k): str(v) for k, v in (cfg.get("source") if isinstance(cfg.get("source"), dict) else {}).items()},
        extra={k: v for k, v in cfg.items() if k not in known},
    )
