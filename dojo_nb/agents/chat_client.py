"""A small OpenAI chat-completions client (httpx), shared by the LLM agent and the search agent.

Why its own client: dojo-nb must talk to any compatible server (OpenAI, vLLM, Ollama,
llama.cpp, LiteLLM...) with one dependency it already has, retry the way long agent runs need
(429 and 5xx and timeouts are routine there), and keep the API key out of everything it
writes. Interface::

    client = ChatClient("http://localhost:8000/v1", "my-model")   # key from $DOJO_NB_API_KEY
    r = client.complete([{"role": "user", "content": "hi"}], tools=[...])
    r.message          # the assistant message dict (content, tool_calls, ...)
    r.usage            # Usage(prompt_tokens, completion_tokens, total_tokens)
    client.stats()     # calls, retries, tokens so far (never the key)

The key is read from the environment variable `api_key_env` (default ``DOJO_NB_API_KEY``,
falling back to ``OPENAI_API_KEY``); it is sent only in the Authorization header, never
stored in `stats`, `repr` or error messages (any echo of it is redacted).

Retries: on HTTP 408/409/425/429/5xx, timeouts, connection errors and 200s that carry no usable
reply (an empty ``choices`` list, an empty message), up to `max_retries` retries. The wait is the server's ``Retry-After`` (seconds or an HTTP date, capped at
`max_retry_after_s`) when it sends one, else ``min(max_backoff_s, backoff_s * 2**n)`` times a
random factor in [0.5, 1.5) (jitter, so parallel episodes do not retry in lockstep). After
the last try, `ChatError` says what happened on each try.
"""

from __future__ import annotations

import email.utils
import os
import re
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import httpx

DEFAULT_API_KEY_ENV = "DOJO_NB_API_KEY"
FALLBACK_API_KEY_ENV = "OPENAI_API_KEY"
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

# How servers word "the prompt is longer than the window" (OpenAI, vLLM, llama.cpp, Ollama, TGI).
_OVERFLOW = re.compile(r"context[ _-]?(length|window|size)|maximum context|too many tokens|"
                       r"exceeds? the (available )?context|prompt is too long|n_ctx|max_model_len|"
                       r"input is too long|tokens? limit|reduce the length", re.I)
_LIMIT = re.compile(r"(?:maximum context length is|context (?:size|window|length)(?: is| of)?|n_ctx\D{0,4}|"
                    r"max_model_len\D{0,4})\s*\(?(\d{3,7})", re.I)


def context_overflow(status: int | None, text: str) -> tuple[bool, int | None]:
    """Whether an error says the prompt overflowed the window, and the window if it says so."""
    if status not in (400, 413, 422) or not _OVERFLOW.search(text or ""):
        return False, None
    found = _LIMIT.search(text)
    return True, int(found.group(1)) if found else None


class _EmptyReply(Exception):
    """A 200 whose body holds no usable choice: retried like a 5xx (servers do this under load)."""


class ChatError(RuntimeError):
    """The server could not give a usable answer (after retries, or a non-retryable error)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.context_overflow, self.context_limit = context_overflow(status, message)


@dataclass
class Usage:
    """Tokens of one call as the server reported them (0 when it did not)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reported: bool = False


@dataclass
class ChatResponse:
    """One completion: the assistant message and what it cost."""

    message: dict[str, Any]
    usage: Usage
    finish_reason: str | None = None
    attempts: int = 1
    elapsed_s: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class ChatClient:
    """OpenAI-compatible ``POST {base_url}/chat/completions`` with retries and token counts."""

    def __init__(self, base_url: str = "http://localhost:8000/v1", model: str = "default", *,
                 api_key_env: str = DEFAULT_API_KEY_ENV, timeout_s: float = 120.0,
                 max_retries: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 30.0,
                 max_retry_after_s: float = 120.0, temperature: float | None = None,
                 max_tokens: int | None = None, extra_body: dict[str, Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra_body = dict(extra_body or {})
        self._sleep = sleep
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._stats = {"calls": 0, "attempts": 0, "retries": 0, "failed_calls": 0,
                       "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                       "calls_without_usage": 0, "empty_replies": 0, "seconds": 0.0}

    # --- the key: read when needed, never kept in anything that is printed or saved --------
    def _api_key(self) -> str | None:
        key = os.environ.get(self.api_key_env)
        if not key and self.api_key_env == DEFAULT_API_KEY_ENV:
            key = os.environ.get(FALLBACK_API_KEY_ENV)
        return key or None

    def _redact(self, text: str) -> str:
        key = self._api_key()
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def __repr__(self) -> str:
        return (f"ChatClient(base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r})")

    # --- calls ----------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=httpx.Timeout(self.timeout_s))
        return self._http

    def close(self) -> None:
        """Close the HTTP connection pool (the client can still be used; it reopens)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, retry: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2 ** retry) * random.uniform(0.5, 1.5)

    def complete(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None,
                 **params: Any) -> ChatResponse:
        """One chat completion; `params` (e.g. tool_choice, temperature) go into the request body."""
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), **self.extra_body}
        if tools:
            body["tools"] = list(tools)
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        body.update(params)
        headers = {"Content-Type": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{self.base_url}/chat/completions"
        t0 = time.monotonic()
        problems: list[str] = []
        status: int | None = None
        for attempt in range(self.max_retries + 1):
            wait: float | None = None
            with self._lock:
                self._stats["attempts"] += 1
            try:
                resp = self._client().post(url, json=body, headers=headers)
            except httpx.TimeoutException as exc:
                problems.append(f"try {attempt + 1}: timed out after {self.timeout_s:g} s "
                                f"({type(exc).__name__})")
            except httpx.TransportError as exc:
                problems.append(f"try {attempt + 1}: {type(exc).__name__}: {self._redact(str(exc))}")
            else:
                status = resp.status_code
                if status == 200:
                    try:
                        return self._finish(resp, attempt + 1, t0, problems)
                    except _EmptyReply as exc:
                        with self._lock:
                            self._stats["empty_replies"] += 1
                        problems.append(f"try {attempt + 1}: {exc}")
                        if attempt == self.max_retries:
                            break
                        with self._lock:
                            self._stats["retries"] += 1
                        self._sleep(self._backoff(attempt))
                        continue
                snippet = self._redact(resp.text[:300])
                problems.append(f"try {attempt + 1}: HTTP {status}: {snippet}")
                if status not in RETRY_STATUSES and status < 500:
                    self._failed(t0)
                    raise ChatError(f"{url} refused the request (HTTP {status}): {snippet}",
                                    status=status, attempts=attempt + 1)
                after = _retry_after(resp.headers.get("retry-after"))
                if after is not None:
                    wait = min(after, self.max_retry_after_s)
            if attempt == self.max_retries:
                break
            with self._lock:
                self._stats["retries"] += 1
            self._sleep(self._backoff(attempt) if wait is None else wait)
        self._failed(t0)
        raise ChatError(f"{url}: no answer after {self.max_retries + 1} tries:\n  " + "\n  ".join(problems),
                        status=status, attempts=self.max_retries + 1)

    def _failed(self, t0: float) -> None:
        with self._lock:
            self._stats["failed_calls"] += 1
            self._stats["seconds"] += time.monotonic() - t0

    def _finish(self, resp: httpx.Response, attempts: int, t0: float, problems: list[str]) -> ChatResponse:
        try:
            data = resp.json()
            choice = data["choices"][0]
            message = dict(choice["message"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _EmptyReply(f"the answer is not a usable chat completion ({type(exc).__name__}: "
                              f"{self._redact(resp.text[:200])})") from None
        if not (message.get("content") or message.get("tool_calls") or message.get("reasoning_content")
                or message.get("reasoning")):
            raise _EmptyReply(f"an empty reply (finish_reason {choice.get('finish_reason')!r})")
        raw_usage = data.get("usage") or {}
        usage = Usage(int(raw_usage.get("prompt_tokens") or 0), int(raw_usage.get("completion_tokens") or 0),
                      int(raw_usage.get("total_tokens") or 0), reported=bool(raw_usage))
        if usage.reported and not usage.total_tokens:
            usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        elapsed = time.monotonic() - t0
        with self._lock:
            s = self._stats
            s["calls"] += 1
            s["prompt_tokens"] += usage.prompt_tokens
            s["completion_tokens"] += usage.completion_tokens
            s["total_tokens"] += usage.total_tokens
            s["calls_without_usage"] += 0 if usage.reported else 1
            s["seconds"] += elapsed
        return ChatResponse(message=message, usage=usage, finish_reason=choice.get("finish_reason"),
                            attempts=attempts, elapsed_s=elapsed, raw=data)

    def stats(self) -> dict[str, Any]:
        """Counters since construction (or `reset_stats`); JSON-able; never holds the key."""
        with self._lock:
            out = dict(self._stats)
        out["seconds"] = round(out["seconds"], 3)
        out.update(model=self.model, base_url=self.base_url, api_key_env=self.api_key_env)
        return out

    def reset_stats(self) -> None:
        with self._lock:
            for k in self._stats:
                self._stats[k] = 0.0 if k == "seconds" else 0


__all__ = ["ChatClient", "ChatResponse", "ChatError", "Usage", "DEFAULT_API_KEY_ENV", "context_overflow",
           "FALLBACK_API_KEY_ENV", "RETRY_STATUSES"]
