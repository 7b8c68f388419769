"""Run every benchmark and print each figure as one `name=value` line.

Usage: python benchmarks/run_all.py [--quick]   (--quick: few iterations, the CI smoke run)
Docker figures are printed when a Docker engine and the kernel image are available.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> None:
    res = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True)
    for line in res.stdout.splitlines():
        if "=" in line and " " not in line.split("=", 1)[0]:
            print(line, flush=True)
    if res.returncode != 0:
        print(f"{Path(script).stem}_failed=1  # {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    q = args.quick
    run("step_overhead.py", "--iterations", "30" if q else "300")
    run("reset_pool.py", "--iterations", "3" if q else "15")
    run("replay_overhead.py", "--cells", "10" if q else "50", "--rounds", "1" if q else "3")
    from dojo_nb.kernel.docker import docker_unavailable_reason

    if docker_unavailable_reason() is None:
        run("step_overhead.py", "--iterations", "30" if q else "300", "--backend", "docker")
        run("docker_start.py", "--iterations", "2" if q else "8")
        run("reset_pool.py", "--iterations", "2" if q else "10", "--backend", "docker")
    if not q:
        run("workload.py")
    run("load.py", "--episodes", "2" if q else "16", "--steps", "10" if q else "50")
    run("scale.py", "--concurrency", "1,2" if q else "1,4,16", "--steps", "6" if q else "20", "--pool", "2" if q else "4")
    # AIDE's interpreter needs its own venv (made on first use, from PyPI): not in the smoke run.
    run("search.py", "--nodes", "3" if q else "16", "--prefix-s", "1" if q else "10", "--aide-nodes", "0" if q else "4")


if __name__ == "__main__":
    main()
