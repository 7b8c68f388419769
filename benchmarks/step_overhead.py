"""Round-trip of a trivial cell: through dojo-nb's KernelSession (and env.step) vs raw jupyter_client.

Both run in this process, on kernels of the same backend and sandbox, interleaved call by
call so machine noise (which drifts over seconds here) hits both alike. The raw baseline is
jupyter_client's `execute_interactive` on a kernel started by the same provisioner. Prints
medians and ratios as name=value lines; the last line is `step_overhead_ratio=X` (session
over raw; target <= 1.15). `env_step_overhead_ratio` is env.step over jupyter_client's
blocking `execute_interactive` (the client most people call raw),
`env_step_vs_async_raw_ratio` over the async one run on the env's own event-loop thread
(faster than the blocking one here, so the stricter comparison).

Usage: python benchmarks/step_overhead.py [--iterations N] [--backend local]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import dojo_nb
from dojo_nb.kernel import KernelSession, SandboxSpec, make_kernel_manager


async def _measure(backend: str, n: int, root: Path) -> tuple[list[float], list[float]]:
    raw_spec = SandboxSpec(root=root / "raw")
    km = make_kernel_manager(raw_spec, backend)
    await km.start_kernel()
    kc = km.client()
    kc.start_channels(stdin=False)
    await kc.wait_for_ready(timeout=60)
    session = KernelSession(SandboxSpec(root=root / "session"), backend)
    await session.start()
    raw, ours = [], []
    try:
        for _ in range(5):  # warm both
            await kc.execute_interactive("1", output_hook=lambda m: None, timeout=30)
            await session.execute("1", timeout=30)
        calls = [(lambda c: kc.execute_interactive(c, output_hook=lambda m: None, timeout=30), raw),
                 (lambda c: session.execute(c, timeout=30), ours)]
        for i in range(n):  # alternate call by call, the first of the pair alternating too
            for call, times in calls[i % 2:] + calls[:i % 2]:
                t0 = time.perf_counter()
                await call(f"x = {i}")
                times.append(time.perf_counter() - t0)
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        await session.close()
    return raw, ours


def _env_vs_raw(task_id: str, backend: str, n: int, root: Path) -> tuple[list[float], list[float], list[float]]:
    """env.step against blocking raw `execute_interactive`, interleaved call by call.

    The raw client talks to its own kernel, started by the same provisioner (same sandbox).
    """
    from jupyter_client import BlockingKernelClient

    from dojo_nb.kernel import SyncKernelSession

    raw_session = SyncKernelSession(SandboxSpec(root=root / "raw-env"), backend).start()
    kc = BlockingKernelClient()
    kc.load_connection_info(raw_session.session.km.get_connection_info())
    kc.start_channels(stdin=False)
    kc.wait_for_ready(timeout=60)
    env = dojo_nb.make(task_id, backend=backend, out_dir=root / "env", max_steps=n + 20)
    raw, steps, araw = [], [], []

    def async_raw(code: str) -> None:  # raw async execute_interactive on the env's own kernel and loop
        kc_env = env.session.session.kc
        coro = kc_env.execute_interactive(code, output_hook=lambda m: None, timeout=30)
        asyncio.run_coroutine_threadsafe(coro, env.session._loop).result()

    try:
        env.reset()
        for i in range(5):  # warm both
            kc.execute_interactive("1", output_hook=lambda m: None, timeout=30)
            env.step({"type": "execute_code", "code": "1"})
        calls = [(lambda c: kc.execute_interactive(c, output_hook=lambda m: None, timeout=30), raw),
                 (lambda c: env.step({"type": "execute_code", "code": c}), steps),
                 (async_raw, araw)]
        for i in range(n):  # one of each per iteration, in a rotating order: drift hits all three alike
            for call, times in calls[i % 3:] + calls[:i % 3]:
                t0 = time.perf_counter()
                call(f"x = {i}")
                times.append(time.perf_counter() - t0)
    finally:
        env.close()
        kc.stop_channels()
        raw_session.close()
    return raw, steps, araw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--task", default="iris-species")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw, ours = asyncio.run(_measure(args.backend, args.iterations, Path(tmp)))
        env_raw, steps, env_araw = _env_vs_raw(args.task, args.backend, args.iterations, Path(tmp))
    raw_ms, ours_ms = statistics.median(raw) * 1e3, statistics.median(ours) * 1e3
    print(f"backend={args.backend}")
    print(f"iterations={args.iterations}")
    print(f"raw_execute_interactive_median_ms={raw_ms:.3f}")
    print(f"kernel_session_median_ms={ours_ms:.3f}")
    if steps:
        step_ms, env_raw_ms = statistics.median(steps) * 1e3, statistics.median(env_raw) * 1e3
        print(f"raw_blocking_execute_interactive_median_ms={env_raw_ms:.3f}")
        print(f"env_step_median_ms={step_ms:.3f}")
        araw_ms = statistics.median(env_araw) * 1e3
        print(f"raw_async_execute_interactive_same_loop_median_ms={araw_ms:.3f}")
        print(f"env_step_vs_async_raw_ratio={step_ms / araw_ms:.3f}")
        print(f"env_step_overhead_ratio={step_ms / env_raw_ms:.3f}")
    print(f"step_overhead_ratio={ours_ms / raw_ms:.3f}")


if __name__ == "__main__":
    main()
