"""Scale on one machine: idle kernel memory per backend, warm pools, and steps/s at 1, 4, 16 episodes.

Idle RSS is the resident memory of a started, idle kernel (local: the kernel's process tree;
docker: the container's memory usage as the engine reports it). Throughput runs the load
test's step mix (no timeouts) with N concurrent episodes and divides steps by wall time.

Warm pools (local, in the same run, `--pool` kernels each): today's pool (cold kernels, no
imports), a pool whose kernels each import the usual stack themselves, and a pool whose kernels
are spawned from a template that imported it once (`dojo_nb.kernel.template`). For each: idle
memory per pooled kernel as PSS (shared pages split between their users, so what a kernel
really costs; for the template pool, plus its share of the template), and the episode's first
cell ``import numpy, pandas, sklearn.ensemble`` (median over the pool's kernels).
Usage: python benchmarks/scale.py [--concurrency 1,4,16] [--steps 20] [--pool 4]
"""

from __future__ import annotations

import argparse
import statistics
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


FIRST_CELL = "import numpy, pandas, sklearn.ensemble"


def _pss_mb(pid: int) -> float:
    """PSS of a process and its descendants, in MB."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_full_info().pss
        except psutil.Error:
            pass
    return total / 1e6


def pool_figures(kind: str, size: int, root: Path) -> dict[str, float]:
    """Idle PSS per pooled kernel and first-cell import time for one kind of pool (see the docstring)."""
    from dojo_nb.kernel.pool import KernelPool
    from dojo_nb.kernel.template import DEFAULT_IMPORTS

    imports = () if kind == "cold" else DEFAULT_IMPORTS
    pool = KernelPool("local", size, staging_dir=root / kind, imports=imports, use_template=kind == "template")
    pool.start()
    try:
        t0 = time.perf_counter()
        if pool.wait_ready(timeout=600) < size:
            raise RuntimeError(f"the {kind} pool did not fill: {pool.stats.last_error}")
        fill_s = time.perf_counter() - t0
        pool.size = 0  # no refill while the first cells are timed: a starting kernel takes a core
        if kind == "template" and pool.template is None:
            raise RuntimeError(f"no template kernel here: {pool.template_note}")
        time.sleep(2.0)  # settled: what an idle pooled kernel holds
        kernels = [_pss_mb(session.session.km.provisioner.process.pid) for session, _ in list(pool._ready)]
        shared = 0.0
        if pool.template is not None and pool.template._process is not None:
            spawned = {s.session.km.provisioner.process.pid for s, _ in pool._ready}
            sandbox = psutil.Process(pool.template._process.pid)
            for proc in [sandbox, *sandbox.children(recursive=True)]:
                if proc.pid not in spawned and not any(p.pid in spawned for p in proc.parents()):
                    shared += _pss_mb(proc.pid) if not proc.children() else proc.memory_full_info().pss / 1e6
        firsts = []
        sessions = []
        for i in range(size):
            session = pool.acquire(root / kind / f"episode-{i}")
            if session is None:
                raise RuntimeError(f"the {kind} pool handed out nothing")
            sessions.append(session)
            t1 = time.perf_counter()
            result = session.execute(FIRST_CELL, timeout=300)
            firsts.append(time.perf_counter() - t1)
            assert result.status == "ok", result.text
        for session in sessions:
            session.close()
    finally:
        pool.close()
    return {"pss_mb": statistics.median(kernels), "template_pss_mb": shared,
            "first_import_s": statistics.median(firsts), "fill_s": fill_s}


def pool_report(size: int, root: Path) -> None:
    """The three pools' figures as name=value lines, and the ratios against today's pool."""
    from dojo_nb.kernel.template import unavailable_reason

    kinds = ["cold", "imported"] + (["template"] if unavailable_reason("local") is None else [])
    figures = {kind: pool_figures(kind, size, root) for kind in kinds}
    for kind, fig in figures.items():
        print(f"pool_kernel_pss_mb_{kind}={fig['pss_mb']:.0f}")
        print(f"pool_first_import_s_{kind}={fig['first_import_s']:.3f}")
        print(f"pool_fill_s_{kind}={fig['fill_s']:.2f}")
    if "template" in figures:
        t = figures["template"]
        per_kernel = t["pss_mb"] + t["template_pss_mb"] / size
        print(f"template_pss_mb={t['template_pss_mb']:.0f}")
        print(f"pool_kernel_pss_mb_template_with_share={per_kernel:.0f}")
        # Memory of a pooled kernel that has the stack loaded: template over each-imports-itself.
        print(f"pool_template_pss_ratio={per_kernel / figures['imported']['pss_mb']:.3f}")
        # First import in an episode: template over today's pool.
        print(f"pool_template_first_import_ratio={t['first_import_s'] / figures['cold']['first_import_s']:.3f}")
    else:
        print(f"# no template pool here: {unavailable_reason('local')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--pool", type=int, default=4, help="kernels per warm pool (0: skip the pools)")
    args = parser.parse_args()
    from dojo_nb.kernel.docker import docker_unavailable_reason

    backends = ["local"] + (["docker"] if docker_unavailable_reason() is None else [])
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            print(f"idle_kernel_rss_mb_{backend}={idle_rss_mb(backend, Path(tmp) / f'idle-{backend}'):.0f}")
        if args.pool:
            pool_report(args.pool, Path(tmp) / "pools")
        for n in (int(x) for x in args.concurrency.split(",")):
            report = run_load("iris-species", episodes=n, steps=args.steps, out_dir=Path(tmp) / f"c{n}",
                              timeout_every=0)
            print(f"steps_per_s_{n}_episodes={report.steps / report.elapsed_s:.2f}")


if __name__ == "__main__":
    main()
