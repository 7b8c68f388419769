"""A real chat-completions server on 127.0.0.1 that plays a scripted model.

It is a stdlib ``ThreadingHTTPServer`` in a thread (so a slow reply does not block the
client's retry). Each POST to ``/v1/chat/completions`` takes the next `Reply` from the script;
every request (body and headers) is kept so tests can check what the client sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: a status, a JSON body, headers, and an optional delay before it."""

    status: int = 200
    body: dict[str, Any] | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    echo_auth: bool = False  # put the request's Authorization header in the body (redaction test)


def _completion(message: dict[str, Any], prompt_tokens: int, completion_tokens: int,
                finish: str) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


_counter = iter(range(1, 1_000_000))


def tool(name: str, arguments: dict[str, Any] | str | None = None, *, text: str | None = None,
         prompt_tokens: int = 100, completion_tokens: int = 20) -> Reply:
    """A reply calling one tool; `arguments` as a dict (encoded) or a raw (maybe broken) string."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    call = {"id": f"call_{next(_counter)}", "type": "function", "function": {"name": name, "arguments": args}}
    return Reply(body=_completion({"role": "assistant", "content": text, "tool_calls": [call]},
                                  prompt_tokens, completion_tokens, "tool_calls"))


def say(text: str, prompt_tokens: int = 50, completion_tokens: int = 10) -> Reply:
    """A reply with text only (no tool call)."""
    return Reply(body=_completion({"role": "assistant", "content": text}, prompt_tokens,
                                  completion_tokens, "stop"))


def error(status: int, retry_after: str | None = None, echo_auth: bool = False) -> Reply:
    return Reply(status=status, body={"error": {"message": f"scripted HTTP {status}"}},
                 headers={"Retry-After": retry_after} if retry_after else {}, echo_auth=echo_auth)


def slow(seconds: float) -> Reply:
    """A reply that comes too late (the client should have timed out and retried)."""
    return Reply(delay_s=seconds, body=_completion({"role": "assistant", "content": "too late"}, 1, 1, "stop"))


class ScriptedChatServer:
    """Serves `script` in order; `requests` holds (body, headers, time) of every POST."""

    def __init__(self, script: list[Reply], *, check_request: Any = None) -> None:
        self.script = list(script)
        # check_request(body) -> refusal text or None: a picky server (strict schemas, a small
        # window) answers 400 with that text without using up a scripted reply.
        self.check_request = check_request
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with outer.lock:
                    body_in = json.loads(raw)
                    outer.requests.append({"body": body_in, "headers": dict(self.headers),
                                           "t": time.monotonic(), "path": self.path})
                    refusal = outer.check_request(body_in) if outer.check_request else None
                    if refusal:
                        reply = Reply(status=400, body={"error": {"code": 400, "message": refusal,
                                                                  "type": "invalid_request_error"}})
                    # Past the end of the script: a non-retryable error, so a test fails fast.
                    elif outer.script:
                        reply = outer.script.pop(0)
                        if callable(reply):
                            reply = reply(body_in)
                    else:
                        reply = Reply(status=400, body={"error": {"message": "the script is exhausted"}})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    reply = Reply(status=404, body={"error": {"message": f"no route {self.path}"}})
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.body
                if reply.echo_auth:
                    body = {"error": {"message": f"bad key {self.headers.get('Authorization')}"}}
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="scripted-chat", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ScriptedChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    @property
    def left(self) -> int:
        return len(self.script)
