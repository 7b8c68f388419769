"""Loading an MLE-Dojo competition's metric class from its `utils/metric.py`.

MLE-Dojo loads that file as a module of its own and takes the `CompetitionMetrics` subclass in it.
We do the same under a name keyed by the file's content (an overwritten import never runs stale
code), with `mledojo.metrics.base` served by the real MLE-Dojo when installed, else by our
stand-in package (dojo_nb.tasks.mledojo_stub).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

_STUB = "dojo_nb.tasks.mledojo_stub"
_STUB_MODULES = ("", ".metrics", ".metrics.base")


def ensure_mledojo() -> str:
    """Make `from mledojo.metrics.base import ...` work; say whether "installed" or "stand-in"."""
    present = sys.modules.get("mledojo")
    if present is not None:
        return "stand-in" if present.__name__ == _STUB else "installed"
    try:
        found = importlib.util.find_spec("mledojo.metrics.base") is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return "installed"
    for suffix in _STUB_MODULES:
        sys.modules.setdefault("mledojo" + suffix, importlib.import_module(_STUB + suffix))
    return "stand-in"


def load_metric_class(metric_py: Path) -> type:
    """The metric class defined in `metric_py` (a subclass of CompetitionMetrics)."""
    metric_py = Path(metric_py).resolve()
    ensure_mledojo()
    base = importlib.import_module("mledojo.metrics.base").CompetitionMetrics
    digest = hashlib.sha256(str(metric_py).encode() + metric_py.read_bytes()).hexdigest()[:16]
    name = f"_dojo_nb_mledojo_metric_{digest}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, metric_py)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    classes = [obj for _, obj in inspect.getmembers(module, inspect.isclass)
               if issubclass(obj, base) and obj is not base]
    own = [c for c in classes if c.__module__ == name]
    if not (own or classes):
        raise AttributeError(f"{metric_py} defines no CompetitionMetrics subclass")
    return (own or classes)[0]
