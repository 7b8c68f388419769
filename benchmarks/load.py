"""Load test: N concurrent episodes of M mixed steps; last line e.g.
`episodes=16 steps=800 lost=0 misrouted=0 leaked=0`.

Usage: python benchmarks/load.py [--episodes 16] [--steps 50] [--backend local|docker]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from dojo_nb.runners.loadtest import run_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--task", default="iris-species")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_load(args.task, episodes=args.episodes, steps=args.steps, backend=args.backend, out_dir=Path(tmp))
    print(f"elapsed_s={report.elapsed_s:.1f}")
    print(f"steps_per_s={report.steps / report.elapsed_s:.2f}")
    print(f"driver_peak_rss_mb={report.peak_rss_mb:.0f}")
    print(f"duplicated={report.duplicated} state_mixed={report.state_mixed} errors={len(report.errors)}")
    for error in report.errors:
        print("error:", error)
    print(report.line())


if __name__ == "__main__":
    main()
