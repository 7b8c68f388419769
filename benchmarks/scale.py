"""Scale on one machine: idle kernel memory per backend, and aggregate steps/s at 1, 4, 16 episodes.

Idle RSS is the resident memory of a started, idle kernel (local: the kernel's process tree;
docker: the container's memory usage as the engine reports it). Throughput runs the load
test's step mix (no timeouts) with N concurrent episodes and divides steps by wall time.
Usage: python benchmarks/scale.py [--concurrency 1,4,16] [--steps 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil

from dojo_nb.kernel import SandboxSpec, SyncKernelSession
from dojo_nb.runners.loadtest import run_load


def idle_rss_mb(backend: str, root: Path) -> float:
    session = SyncKernelSession(SandboxSpec(root=root), backend=backend).start()
    try:
        session.execute("import pandas, numpy, sklearn", timeout=120)  # what every episode loads first
        time.sleep(1.0)
        if backend == "docker":
            container = session.session.km.provisioner.container
            stats = container.stats(stream=False)
            return stats["memory_stats"].get("usage", 0) / 1e6
        proc = psutil.Process(session.session.km.provisioner.process.pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 1e6
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    from dojo_nb.kernel.docker import docker_unavailable_reason

    backends = ["local"] + (["docker"] if docker_unavailable_reason() is None else [])
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            print(f"idle_kernel_rss_mb_{backend}={idle_rss_mb(backend, Path(tmp) / f'idle-{backend}'):.0f}")
        for n in (int(x) for x in args.concurrency.split(",")):
            report = run_load("iris-species", episodes=n, steps=args.steps, out_dir=Path(tmp) / f"c{n}",
                              timeout_every=0)
            print(f"steps_per_s_{n}_episodes={report.steps / report.elapsed_s:.2f}")


if __name__ == "__main__":
    main()
