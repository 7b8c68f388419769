"""Sandboxed live Jupyter kernels: start one per episode, run cells, get structured results.

Knows nothing about tasks or rewards. See docs/interfaces.md for the seam.
"""

from dojo_nb.kernel.backends import BackendUnavailable, make_kernel_manager
from dojo_nb.kernel.pool import KernelPool
from dojo_nb.kernel.render import render_text
from dojo_nb.kernel.result import ExecutionResult
from dojo_nb.kernel.session import KernelSession, KernelSessionError, SyncKernelSession
from dojo_nb.kernel.spec import SandboxPaths, SandboxSpec

__all__ = [
    "BackendUnavailable", "ExecutionResult", "KernelPool", "KernelSession", "KernelSessionError", "SandboxPaths",
    "SandboxSpec", "SyncKernelSession", "make_kernel_manager", "render_text",
]
