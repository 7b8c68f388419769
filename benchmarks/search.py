"""Per-node cost of a tree search: forking the parent's live kernel, today's re-run, AIDE's Interpreter.

One run, one task, the same node programs. The search is scripted: a draft whose shared
prefix (CPU work standing in for data loading and feature work, ``--prefix-s`` seconds) fits
a model, then ``--nodes``-1 improve nodes that each add one small cell to the best node so far.

- ``fork``: `TreeSearch(fork=True)`: each node forks its parent's live kernel
  (`dojo_nb.agents.search_fork`): the node's cost is its own new cell plus the fork;
- ``rerun``: `TreeSearch(fork=False)`: each node is a fresh episode that re-runs its parent's
  solution cells (the prefix every time), then its own cell;
- ``aide``: AIDE's own ``Interpreter`` (the ``aideml`` package, in a venv of its own made on
  first use with ``--no-deps``, plus ``humanize``, ``dataclasses_json`` and ``shutup``) runs a
  node's whole script (the same cells, one after the other) in a fresh process, as AIDE does
  at every step; ``--aide-nodes`` of the improve nodes are run (their mean is the per-node cost),
  with one BLAS/OpenMP thread as the sandboxed kernels have (``cpus=1``).

Prints ``name=value`` lines and a table; the last line is ``search_fork_speedup=X``: the
re-run search's wall time over the fork search's, same nodes.

Usage: python benchmarks/search.py [--nodes 16] [--prefix-s 10] [--aide-nodes 4] [--task penguins-species]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from dojo_nb.agents.search import ScriptedPolicy, TreeSearch

AIDE_VENV = Path(os.environ.get("DOJO_NB_AIDE_VENV", Path.home() / ".cache" / "dojo-nb" / "bench-aide-venv"))

PREFIX = """\
import os, time
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
train = pd.read_csv(os.path.join(INPUT_DIR, "train.csv"))
test = pd.read_csv(os.path.join(INPUT_DIR, "test.csv"))
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
NUM = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
X = train[NUM].fillna(train[NUM].median())
X_test = test[NUM].fillna(train[NUM].median())
y = train["species"]
X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, random_state=SEED, stratify=y)
# The heavy shared prefix: CPU work standing in for loading and feature work, ~PREFIX_S seconds.
rng, t0, spectra = np.random.default_rng(SEED), time.perf_counter(), []
while time.perf_counter() - t0 < {prefix_s}:
    spectra.append(np.linalg.eigvalsh(np.cov(rng.standard_normal((400, 200)), rowvar=False))[-1])
def fit_and_submit(C):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(X_tr, y_tr)
    print(f"VALIDATION_SCORE: {{log_loss(y_va, model.predict_proba(X_va), labels=model.classes_):.5f}}")
    model.fit(X, y)
    sub = pd.DataFrame(model.predict_proba(X_test), columns=model.classes_)[CLASSES]
    sub.insert(0, "id", test["id"])
    sub.to_csv(SUBMISSION_PATH, index=False)
fit_and_submit(1.0)
"""

NODE = "fit_and_submit({c!r})\n"

AIDE_DRIVER = """\
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("aide_interpreter", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
scripts = json.load(open(sys.argv[2]))
interp = mod.Interpreter(sys.argv[3], timeout=600)
out = []
for code in scripts:
    t0 = time.perf_counter()
    res = interp.run(code, reset_session=True)
    out.append({"seconds": time.perf_counter() - t0, "exc": res.exc_type,
                "score": "VALIDATION_SCORE" in "".join(res.term_out)})
interp.cleanup_session()
print(json.dumps(out))
"""


def aide_python() -> Path:
    """The venv's Python with aideml (no deps: it pins old numpy/pandas and pulls torch) and the
    three modules its interpreter imports; made on first use, seeing the system's packages."""
    python = AIDE_VENV / "bin" / "python"
    probe = "import aide, humanize, dataclasses_json, shutup"
    if python.exists() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(AIDE_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["--no-deps", "aideml"], check=True)
    subprocess.run(pip + ["humanize", "dataclasses-json", "shutup"], check=True)
    return python


def run_search(task: str, root: Path, nodes: int, prefix_s: float, fork: bool) -> tuple[float, list, tuple[int, int]]:
    policy = ScriptedPolicy(drafts=[PREFIX.format(prefix_s=prefix_s)],
                            improves=[NODE.format(c=round(0.05 * (i + 1), 3)) for i in range(nodes - 1)])
    search = TreeSearch(task, root, policy, max_nodes=nodes, num_drafts=1, debug_prob=0.0,
                        time_budget_s=3600, cell_timeout_s=600, fork=fork)
    t0 = time.perf_counter()
    result = search.run()
    kernels = search.kernels
    return time.perf_counter() - t0, result.nodes, (kernels.forks, kernels.fallbacks) if kernels else (0, 0)


def run_aide(task: str, scripts: list[str], work: Path) -> list[dict]:
    from dojo_nb.tasks import load_task
    from dojo_nb.tasks.cache import prepare_task

    python = aide_python()
    interp = next((AIDE_VENV / "lib").glob("python3*/site-packages/aide/interpreter.py"))
    public = prepare_task(load_task(task)).public_dir
    (work / "working").mkdir(parents=True, exist_ok=True)
    header = (f"INPUT_DIR = {str(public)!r}\nWORKING_DIR = {str(work / 'working')!r}\n"
              f"SUBMISSION_PATH = {str(work / 'submission.csv')!r}\nSEED = 0\n")
    todo = work / "scripts.json"
    todo.write_text(json.dumps([header + s for s in scripts]))
    one_thread = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    res = subprocess.run([str(python), "-c", AIDE_DRIVER, str(interp), str(todo), str(work / "working")],
                         capture_output=True, text=True, timeout=3600, env={**os.environ, **one_thread})
    if res.returncode != 0:
        raise RuntimeError(f"AIDE's interpreter failed: {res.stderr.strip()[-500:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--prefix-s", type=float, default=10.0)
    parser.add_argument("--aide-nodes", type=int, default=4)
    parser.add_argument("--task", default="penguins-species")
    args = parser.parse_args()
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
        step = progress.add_task("fork search, re-run search, AIDE", total=3)
        fork_s, fork_nodes, (forks, fallbacks) = run_search(args.task, Path(tmp) / "fork", args.nodes, args.prefix_s, True)
        progress.advance(step)
        rerun_s, rerun_nodes, _ = run_search(args.task, Path(tmp) / "rerun", args.nodes, args.prefix_s, False)
        progress.advance(step)
        sample = [n for n in fork_nodes[1:] if n.status == "good"][-args.aide_nodes:] if args.aide_nodes else []
        aide = run_aide(args.task, ["\n".join(n.cells) for n in sample], Path(tmp) / "aide") if sample else []
        progress.advance(step)
    bad = [n.id for n in fork_nodes + rerun_nodes if n.status != "good"] + [a for a in aide if a["exc"]]
    fork_node = statistics.mean(n.elapsed_s for n in fork_nodes[1:])
    rerun_node = statistics.mean(n.elapsed_s for n in rerun_nodes[1:])
    aide_node = statistics.mean(a["seconds"] for a in aide) if aide else float("nan")
    table = Table(title=f"{args.nodes}-node search, {args.prefix_s:g} s shared prefix ({args.task})")
    for col in ("how a node gets its state", "per node (s)", "search (s)"):
        table.add_column(col)
    table.add_row("fork of the parent's live kernel", f"{fork_node:.2f}", f"{fork_s:.1f}")
    table.add_row("re-run the parent's cells (fresh episode)", f"{rerun_node:.2f}", f"{rerun_s:.1f}")
    table.add_row(f"AIDE Interpreter, whole script ({len(aide)} nodes)", f"{aide_node:.2f}",
                  f"~{aide_node * args.nodes:.0f} (estimated)")
    console.print(table)
    print(f"search_nodes={args.nodes}")
    print(f"search_prefix_s={args.prefix_s:g}")
    print(f"search_root_node_s={fork_nodes[0].elapsed_s:.3f}")
    print(f"search_fork_node_s={fork_node:.3f}")
    print(f"search_rerun_node_s={rerun_node:.3f}")
    print(f"search_aide_node_s={aide_node:.3f}")
    print(f"search_aide_nodes_run={len(aide)}")
    print(f"search_fork_total_s={fork_s:.2f}")
    print(f"search_rerun_total_s={rerun_s:.2f}")
    print(f"search_nodes_not_good={len(bad)}")
    print(f"search_forks={forks}")
    print(f"search_fork_fallbacks={fallbacks}")  # forks that re-ran cells (the fork entry says why)
    print(f"search_fork_speedup={rerun_s / fork_s:.2f}")


if __name__ == "__main__":
    main()
