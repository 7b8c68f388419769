"""Serving episodes over the network with OpenEnv (`dojo-nb serve`).

RL trainers for LLMs (TRL and others) drive environments through OpenEnv's WebSocket
protocol, not a Python API; this package puts one sandboxed `DojoEnv` episode behind each
OpenEnv session. `openenv-core` is an optional extra (``pip install 'dojo-nb[serve]'``): it
brings a large tree (fastapi, gradio, fastmcp, openai...) the base install does without, so
nothing here imports it at module level except the modules that need it.
"""

from __future__ import annotations

INSTALL_HINT = ("dojo-nb serve needs the optional 'serve' extra (openenv-core): "
                "pip install 'dojo-nb[serve]'   (or: pip install openenv-core)")


class ServeUnavailable(ImportError):
    """openenv-core is not installed; the message says what to install."""


def require_openenv() -> None:
    """Raise `ServeUnavailable` with the install command when openenv-core cannot be imported."""
    try:
        import openenv.core.env_server  # noqa: F401
    except ImportError as exc:
        raise ServeUnavailable(f"{INSTALL_HINT}\n(import failed: {exc})") from exc


__all__ = ["INSTALL_HINT", "ServeUnavailable", "require_openenv"]
