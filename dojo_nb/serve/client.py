"""`DojoNbClient`: OpenEnv's `EnvClient` for a `dojo-nb serve` server, with typed results.

OpenEnv clients take a URL and no headers, so the token travels as the password of the
URL (``ws://dojo:TOKEN@host:port``), which the WebSocket handshake sends as HTTP basic auth;
OpenEnv's `GenericEnvClient` works the same way with such a URL.
"""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient

from dojo_nb.serve.models import DojoAction, DojoObservation, DojoState


def with_token(base_url: str, token: str | None) -> str:
    """`base_url` carrying `token` as its password (any user name and password already there go)."""
    if not token:
        return base_url
    parts = urlsplit(base_url if "://" in base_url else f"ws://{base_url}")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"dojo:{quote(token, safe='')}@{host}"))


class DojoNbClient(EnvClient):  # type: ignore[type-arg]
    """An episode on a dojo-nb server: ``reset()``, then ``step(DojoAction(...))`` until done.

    Cells may run for minutes, so a reply is awaited for up to an hour by default.
    """

    def __init__(self, base_url: str, token: str | None = None, *,
                 message_timeout_s: float = 3600.0, **kwargs: Any) -> None:
        super().__init__(with_token(base_url, token), message_timeout_s=message_timeout_s, **kwargs)

    async def connect(self) -> "DojoNbClient":
        """Connect; a refusal's message names the likely cause and never shows the token."""
        try:
            await super().connect()
        except ConnectionError as exc:
            message = re.sub(r"//[^/@]*@", "//", str(exc))
            if "HTTP 403" in message:
                message += " (the server refused the token)"
            body = getattr(getattr(exc.__cause__, "response", None), "body", b"") or b""
            if body:  # the server's reason, e.g. the bound on sessions
                message += ": " + body.decode("utf-8", "replace").strip()
            raise ConnectionError(message) from None
        return self

    def _step_payload(self, action: Any) -> dict[str, Any]:
        if isinstance(action, Mapping):
            action = DojoAction.model_validate(dict(action))
        return action.to_contract()

    def _parse_result(self, payload: dict[str, Any]) -> StepResult:
        obs = DojoObservation(**payload.get("observation", {}), reward=payload.get("reward"),
                              done=bool(payload.get("done", False)))
        return StepResult(observation=obs, reward=payload.get("reward"), done=bool(payload.get("done", False)))

    def _parse_state(self, payload: dict[str, Any]) -> DojoState:
        return DojoState(**payload)


__all__ = ["DojoNbClient", "with_token"]
