"""What an MLE-Dojo competition is, from MLE-Dojo's own files.

Its metric class says the direction (`higher_is_better`) and, in its docstring ("... using
AUC-ROC"), the metric; `prepare/mle.json` and `prepare/dsbench.json` give Kaggle's title, tags
and link; `mledojo/competitions/competition.json` lists the groups (MLE-Lite, Tabular, NLP, CV,
Training, by source) a competition belongs to, which become `mledojo-<group>` splits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_TYPE_TAGS = (("binary classification", "binary"), ("multiclass classification", "multiclass"),
              ("multiclass", "multiclass"), ("multilabel", "multiclass"), ("regression", "regression"),
              ("time series", "forecasting"), ("forecasting", "forecasting"))


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _repo_root(competitions_dir: Path) -> Path:
    """MLE-Dojo's clone: `<root>/mledojo/competitions`."""
    return Path(competitions_dir).resolve().parent.parent


def groups(competitions_dir: Path, cid: str) -> list[str]:
    """Slugs of every list in competition.json (at any depth) that names `cid`."""
    found: list[str] = []

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list) and cid in node and slug(key) not in found:
            found.append(slug(key))

    walk(_json(Path(competitions_dir) / "competition.json"), "")
    return found


def kaggle_facts(competitions_dir: Path, cid: str) -> dict[str, Any]:
    """Title, tags and link of `cid` from MLE-Dojo's prepare/*.json, when listed there."""
    for path in sorted((_repo_root(competitions_dir) / "prepare").glob("*.json")):
        data = _json(path)
        if isinstance(data, dict) and isinstance(data.get(cid), dict):
            entry = data[cid]
            return {"title": entry.get("title"), "tags": list(entry.get("tags") or []), "href": entry.get("href"),
                    "source_list": path.name}
    return {}


def metric_name(metric_class: type, tags: list[str]) -> str:
    """The metric as the class docstring says it ("... using RMSLE"), else Kaggle's metric tag."""
    doc = (metric_class.__doc__ or "").strip()
    said = re.search(r"\busing\s+(.+?)\s*$", doc.splitlines()[0] if doc else "")
    if said:
        return said.group(1).rstrip(".")
    return tags[-1] if tags else metric_class.__name__


def type_from_tags(tags: list[str]) -> str | None:
    lowered = [t.lower() for t in tags]
    for word, kind in _TYPE_TAGS:
        if any(word in t for t in lowered):
            return kind
    return None
