"""Loading a competition's grader as MLE-bench does: `grade.py` as a module of its folder's package.

MLE-bench imports `mlebench.competitions.<id>.grade`, so graders may import siblings
(`from .classes import CLASSES`) and helpers from `mlebench.*`. We import the task folder as a
package of its own (named by a digest of its Python files, so an overwritten import never runs
stale code) and, when no real `mlebench` is installed, register dojo-nb's stand-in under that name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path

_STUB = "dojo_nb.tasks.mlebench_stub"
_STUB_MODULES = ("", ".grade_helpers", ".utils", ".metrics", ".competitions", ".competitions.utils")


def ensure_mlebench() -> str:
    """Make `import mlebench.…` work; say whether it is the "installed" package or our "stand-in"."""
    present = sys.modules.get("mlebench")
    if present is not None:
        return "stand-in" if present.__name__ == _STUB else "installed"
    if importlib.util.find_spec("mlebench") is not None:
        return "installed"
    for suffix in _STUB_MODULES:
        sys.modules.setdefault("mlebench" + suffix, importlib.import_module(_STUB + suffix))
    return "stand-in"


def _digest(folder: Path) -> str:
    """The Python files a grader can import, by name and content."""
    h = hashlib.sha256(str(folder).encode())
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def package_name(folder: Path) -> str:
    folder = Path(folder).resolve()
    return f"_dojo_nb_mlebench_{re.sub(r'[^0-9a-zA-Z_]', '_', folder.name)}_{_digest(folder)}"


def _forget(package: str) -> None:
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def load_grade_fn(folder: Path, entry: str = "grade:grade") -> Callable:
    """The grading function `entry` ("module:function", module relative to the folder) of a task folder."""
    folder = Path(folder).resolve()
    module_name, _, function = entry.partition(":")
    ensure_mlebench()
    package = package_name(folder)
    if package not in sys.modules:
        spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        sys.modules[package] = importlib.util.module_from_spec(spec)
    try:
        module = importlib.import_module(f"{package}.{module_name}")
    except BaseException:
        _forget(package)  # a failed import must not leave half-initialised modules behind
        raise
    fn = getattr(module, function or "grade", None)
    if not callable(fn):
        raise AttributeError(f"{module_name}.py defines no function {function or 'grade'}()")
    return fn


def grade_entry(grade_fn: str | None) -> str:
    """MLE-bench's "mlebench.competitions.<id>.grade:grade" as "grade:grade" (relative to the folder)."""
    if not grade_fn or ":" not in grade_fn:
        return "grade:grade"
    dotted, _, function = grade_fn.partition(":")
    parts = dotted.split(".")
    relative = ".".join(parts[3:]) if dotted.startswith("mlebench.competitions.") and len(parts) > 3 else parts[-1]
    return f"{relative or 'grade'}:{function or 'grade'}"
