"""A realistic 12-step trajectory: a live dojo-nb episode vs re-running the script in a fresh process.

MLE-Dojo and AIDE run each step's code in a fresh Python process with no state carried over,
so step k must re-run steps 1..k. Here the same 12 cells (load, inspect, features, fit,
cross-validate, predict, write the submission, refine) run (a) cell by cell in one
dojo-nb episode and (b) that way, as `python3 script.py` per step. Both in this run; prints
the totals and `workload_speedup=X` (fresh-process total over dojo-nb total).

Usage: python benchmarks/workload.py [--task penguins-species]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dojo_nb
from dojo_nb.tasks import load_task, prepare_task

CELLS = [
    "import os\nimport numpy as np\nimport pandas as pd\nprint(sorted(os.listdir(INPUT_DIR)))",
    "train = pd.read_csv(os.path.join(INPUT_DIR, 'train.csv'))\ntest = pd.read_csv(os.path.join(INPUT_DIR, 'test.csv'))\nprint(train.shape, test.shape)",
    "print(train.describe(include='all').T.head(10))\nprint(train['species'].value_counts())",
    "features = [c for c in test.columns if c != 'id']\n"
    "both = pd.get_dummies(pd.concat([train[features], test[features]], keys=['tr', 'te']), dtype=float)\n"
    "both = both.fillna(both.loc['tr'].median())\nX, X_test = both.loc['tr'], both.loc['te']\ny = train['species']\nprint(X.shape)",
    "from sklearn.linear_model import LogisticRegression\nfrom sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import StandardScaler\nmodel = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))",
    "from sklearn.model_selection import cross_val_score, StratifiedKFold\ncv = StratifiedKFold(5, shuffle=True, random_state=SEED)\n"
    "print('logreg', cross_val_score(model, X, y, cv=cv, scoring='neg_log_loss').mean())",
    "model.fit(X, y)\nprobs = model.predict_proba(X_test)\nprint(probs[:3].round(3))",
    "sub = pd.DataFrame(probs, columns=model.classes_)\nsub.insert(0, 'id', test['id'])\nsub.to_csv(SUBMISSION_PATH, index=False)\nprint(sub.shape)",
    "from sklearn.ensemble import HistGradientBoostingClassifier\nstrong = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=SEED)",
    "print('gbm', cross_val_score(strong, X, y, cv=cv, scoring='neg_log_loss').mean())",
    "from sklearn.ensemble import RandomForestClassifier\nforest = RandomForestClassifier(300, random_state=SEED)\n"
    "print('forest', cross_val_score(forest, X, y, cv=cv, scoring='neg_log_loss').mean())",
    "best = max([model, strong, forest], key=lambda m: cross_val_score(m, X, y, cv=cv, scoring='neg_log_loss').mean())\n"
    "best.fit(X, y)\nsub = pd.DataFrame(best.predict_proba(X_test), columns=best.classes_)\nsub.insert(0, 'id', test['id'])\n"
    "sub.to_csv(SUBMISSION_PATH, index=False)\nprint(type(best).__name__)",
]


def run_dojo(task_id: str, root: Path) -> float:
    env = dojo_nb.make(task_id, out_dir=root / "dojo", max_steps=50, cell_timeout_s=600)
    t0 = time.perf_counter()
    try:
        env.reset()
        for cell in CELLS:
            obs, *_ = env.step({"type": "execute_code", "code": cell})
            if obs["status"] != "ok":
                raise RuntimeError(f"cell failed in dojo-nb: {obs['text'][-500:]}")
    finally:
        env.close()
    return time.perf_counter() - t0


def run_fresh(task_id: str, root: Path) -> float:
    data = prepare_task(load_task(task_id))
    work = root / "fresh"
    (work / "submission").mkdir(parents=True)
    header = (f"INPUT_DIR = {str(data.public_dir)!r}\nWORKING_DIR = {str(work)!r}\n"
              f"SUBMISSION_PATH = {str(work / 'submission' / 'submission.csv')!r}\nSEED = 0\n")
    t0 = time.perf_counter()
    for k in range(1, len(CELLS) + 1):
        script = work / f"step{k:02d}.py"
        script.write_text(header + "\n".join(CELLS[:k]) + "\n")
        res = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"step {k} failed in a fresh process: {res.stderr[-500:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="penguins-species")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = run_fresh(args.task, Path(tmp))
        dojo = run_dojo(args.task, Path(tmp))
    print(f"workload_steps={len(CELLS)}")
    print(f"workload_dojo_nb_s={dojo:.2f}")
    print(f"workload_fresh_process_s={fresh:.2f}")
    print(f"workload_speedup={fresh / dojo:.2f}")


if __name__ == "__main__":
    main()
