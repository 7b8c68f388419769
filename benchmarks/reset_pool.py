"""reset() from a warm pool against a cold kernel start, same backend, same run.

Each measured reset ends the previous episode too (as in an RL loop); between resets the
pool is given time to refill, as it has while an agent works an episode.
Prints medians as name=value lines; the last line is `reset_pool_ratio=X` (pool over cold).

Usage: python benchmarks/reset_pool.py [--iterations N] [--backend local] [--task iris-species]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import dojo_nb


def _resets(task: str, backend: str, n: int, root: Path, pool: int) -> list[float]:
    env = dojo_nb.make(task, backend=backend, out_dir=root / f"pool{pool}", pool=pool or None,
                       max_steps=5)
    times = []
    try:
        for _ in range(n):
            if env.pool is not None:
                env.pool.wait_ready(timeout=180)
            t0 = time.perf_counter()
            env.reset()
            times.append(time.perf_counter() - t0)
            env.step({"type": "execute_code", "code": "x = 1"})
    finally:
        env.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--task", default="iris-species")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cold = _resets(args.task, args.backend, args.iterations, Path(tmp), 0)
        warm = _resets(args.task, args.backend, args.iterations, Path(tmp), 2)
    cold_ms, warm_ms = statistics.median(cold) * 1e3, statistics.median(warm) * 1e3
    print(f"reset_backend={args.backend}")
    print(f"reset_cold_median_ms={cold_ms:.1f}")
    print(f"reset_pool_median_ms={warm_ms:.1f}")
    print(f"reset_pool_ratio={warm_ms / cold_ms:.3f}")


if __name__ == "__main__":
    main()
