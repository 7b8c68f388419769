"""File readers and a logger, behaving as MLE-bench's helpers of the same names."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd


def get_logger(name: str, level: int = logging.INFO, filename: Path | None = None) -> logging.Logger:
    """A named logger; graders only use it for warnings."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    if filename is not None:
        logger.addHandler(logging.FileHandler(filename))
    return logger


def read_csv(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """pandas.read_csv with exact float parsing; an empty file gives an empty frame."""
    kwargs.setdefault("float_precision", "round_trip")
    try:
        return pd.read_csv(*args, **kwargs)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def read_jsonl(file_path: str | Path, skip_commented_out_lines: bool = False) -> list[dict]:
    """One JSON value per line; optionally skip blank lines and lines starting with # or //."""
    records: list[dict] = []
    with open(file_path, encoding="utf-8") as fh:
        for line in fh:
            if skip_commented_out_lines:
                text = line.strip()
                if not text or text.startswith(("#", "//")):
                    continue
            records.append(json.loads(line))
    return records


def load_answers(path_to_answers: str | Path) -> Any:
    """Answers as graders receive them: a frame for .csv, a list of records for .jsonl."""
    path = Path(path_to_answers)
    if path.suffix == ".csv":
        return read_csv(path)
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    raise ValueError(f"answers in an unsupported format: {path}")
