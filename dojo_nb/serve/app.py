"""The `dojo-nb serve` application: OpenEnv's server, a token gate and a bound on sessions.

Only OpenEnv's *production* routes are registered (``/ws`` sessions, ``/health``,
``/schema``, ``/metadata``): its stateless HTTP ``/reset`` and ``/step`` build a fresh
environment per request, which here would start a kernel per call, outside the bound on
sessions. Every request but ``/health`` needs the token, as ``Authorization: Bearer TOKEN``
or as the password of HTTP basic auth (what a ``ws://user:TOKEN@host`` URL sends, so
OpenEnv's own clients work unchanged).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import functools
import hmac
import ipaddress
import secrets
import threading
from typing import Any, Awaitable, Callable

from dojo_nb.serve import require_openenv
from dojo_nb.serve.environment import ServeConfig, ServedEpisode

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

TOKEN_ENV = "DOJO_NB_SERVE_TOKEN"
OPEN_PATHS = frozenset({"/health"})  # readiness probes carry no token and learn nothing
_GONE = ("WebSocketDisconnect", "WebSocketDisconnected", "ClientDisconnected")  # the client left first
REFUSED = b"dojo-nb serve: missing or wrong token (send Authorization: Bearer TOKEN)\n"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _presented_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() != b"authorization":
            continue
        kind, _, cred = value.decode("latin-1").partition(" ")
        if kind.lower() == "bearer":
            return cred.strip()
        if kind.lower() == "basic":
            try:
                return base64.b64decode(cred.strip(), validate=True).decode("utf-8").partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                return None
    return None


class TokenGate:
    """ASGI middleware: refuses (HTTP 401, or 403 at the WebSocket handshake) without the token."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str) -> None:
        if not token:
            raise ValueError("the server token must not be empty")
        self.app, self._token = app, token.encode("utf-8")

    def _allowed(self, scope: Scope) -> bool:
        presented = _presented_token(scope)
        return presented is not None and hmac.compare_digest(presented.encode("utf-8"), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in OPEN_PATHS or self._allowed(scope):
            try:
                await self.app(scope, receive, send)
            except Exception as exc:  # openenv closes a socket its client already closed: not an error
                if kind != "websocket" or type(exc).__name__ not in _GONE:
                    raise
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"www-authenticate", b'Bearer realm="dojo-nb"')]
        if kind == "http":
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": REFUSED})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})  # before accept: an HTTP 403


class CapacityGate:
    """ASGI middleware: at the bound, a new WebSocket is refused at the handshake (HTTP 503 with
    the reason) instead of being accepted and then closed, which a client can see as a bare
    "connection closed" when its first message crosses the server's error."""

    def __init__(self, app: Callable[..., Awaitable[None]], server: Any) -> None:
        self.app, self.server = app, server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        n = self.server.max_concurrent_envs
        if scope["type"] == "websocket" and self.server.active_sessions >= n:
            await receive()  # websocket.connect
            body = capacity_message(self.server.active_sessions, n).encode("utf-8") + b"\n"
            if "websocket.http.response" in scope.get("extensions", {}):
                await send({"type": "websocket.http.response.start", "status": 503,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "websocket.http.response.body", "body": body})
            else:
                await send({"type": "websocket.close", "code": 1013})
            return
        await self.app(scope, receive, send)


def capacity_message(active: int, bound: int) -> str:
    return (f"dojo-nb serve refused a new session: {active} of at most {bound} concurrent sessions "
            f"are active (--max-concurrent {bound}); close one or restart the server with a larger "
            "--max-concurrent")


#: The session environment of the WebSocket being served in this task (set by `_create_session`).
_CONNECTION: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("dojo_nb_serve_conn", default=None)


class DisconnectWatch:
    """ASGI middleware: notices a client that goes away *during* a step and interrupts the cell.

    OpenEnv reads the socket only between steps, so without this a killed client's kernel would
    run on until its cell ended (up to the cell timeout). Messages pass through a small queue
    read by a side task; a disconnect there interrupts the session's kernel, the step returns,
    and OpenEnv closes the session as usual.
    """

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=8)
        holder: dict[str, Any] = {"env": None, "gone": None}

        async def pump() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    holder["gone"] = message
                    env = holder["env"]
                    if env is not None and env.stepping:  # fire and forget: never wait on a kernel here
                        threading.Thread(target=env.interrupt, name="dojo-nb-serve-interrupt", daemon=True).start()
                await queue.put(message)
                if holder["gone"] is not None:
                    return

        async def relayed() -> dict[str, Any]:
            if holder["gone"] is not None and queue.empty():
                return holder["gone"]
            return await queue.get()

        reset = _CONNECTION.set(holder)
        task = asyncio.create_task(pump())
        try:
            await self.app(scope, relayed, send)
        finally:
            task.cancel()
            _CONNECTION.reset(reset)


def _bounded_server_class() -> type:
    """OpenEnv's server with a refusal that says which bound was hit and how to raise it."""
    from openenv.core.env_server.exceptions import SessionCapacityError
    from openenv.core.env_server.http_server import HTTPEnvServer

    class BoundedServer(HTTPEnvServer):
        async def _create_session(self) -> tuple[str, Any]:
            try:
                session_id, env = await super()._create_session()
            except SessionCapacityError as exc:
                raise SessionCapacityError(exc.active_sessions, exc.max_sessions,
                                           capacity_message(exc.active_sessions, exc.max_sessions)) from None
            holder = _CONNECTION.get()
            if holder is not None:  # this WebSocket's DisconnectWatch can now interrupt its cells
                holder["env"] = env
            return session_id, env

        def close_all(self) -> None:
            """Close what is left at shutdown (sessions whose connection never ended cleanly)."""
            for env in list(self._sessions.values()):
                if env is not None:
                    try:
                        env.close()
                    except Exception:  # noqa: BLE001 - shutting down: close the others anyway
                        pass
            self._sessions.clear()

    return BoundedServer


def build_app(config: ServeConfig, token: str) -> Any:
    """The ASGI app serving `config`'s episodes; every session is a `ServedEpisode`."""
    require_openenv()
    from fastapi import FastAPI
    from openenv.core.env_server.types import ConcurrencyConfig, ServerMode

    from dojo_nb.serve.models import DojoAction, DojoObservation

    if config.max_concurrent < 1:
        raise ValueError(f"max_concurrent must be >= 1, got {config.max_concurrent}")
    if config.idle_timeout_s is not None and config.idle_timeout_s <= config.cell_timeout_s:
        # OpenEnv counts only finished messages as activity: a running cell would look idle.
        raise ValueError(f"the idle timeout ({config.idle_timeout_s:g} s) must be longer than the cell "
                         f"timeout ({config.cell_timeout_s:g} s), or a long cell's session is reaped")
    server = _bounded_server_class()(
        functools.partial(ServedEpisode, config), DojoAction, DojoObservation,
        concurrency_config=ConcurrencyConfig(max_concurrent_envs=config.max_concurrent,
                                             session_timeout=config.idle_timeout_s))
    app = FastAPI(title=f"dojo-nb serve: {config.task}", docs_url=None, redoc_url=None)
    server.register_routes(app, mode=ServerMode.PRODUCTION)
    app.router.on_shutdown.append(_async(server.close_all))
    app.state.openenv_server = server
    return TokenGate(CapacityGate(DisconnectWatch(app), server), token)


def _async(fn: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        fn()
    return run


def serve(config: ServeConfig, token: str, host: str = "127.0.0.1", port: int = 8000,
          log_level: str = "warning") -> None:
    """Run the server until interrupted; every session's kernel is stopped on the way out."""
    import uvicorn

    app = build_app(config, token)
    # Pings find clients that vanished without closing (a killed host, a cut cable) within ~40 s.
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws_ping_interval=20.0,
                ws_ping_timeout=20.0, timeout_graceful_shutdown=30)
    app.app.state.openenv_server.close_all()


__all__ = ["TOKEN_ENV", "CapacityGate", "TokenGate", "capacity_message", "build_app", "is_loopback", "new_token", "serve"]
