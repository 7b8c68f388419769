"""The chat client against a real HTTP server on loopback: retries, backoff, errors, tokens, the key."""

from __future__ import annotations

import email.utils
import time

import pytest

from dojo_nb.agents.chat_client import ChatClient, ChatError, _retry_after
from tests.llm.server import ScriptedChatServer, error, say, slow, tool

KEY = "sk-test-client-0123456789abcdef"


@pytest.fixture()
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DOJO_NB_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return KEY


def test_retries_429_500_and_timeout_then_answers(key_env: str) -> None:
    script = [error(429, retry_after="1"), error(500), slow(2.5), tool("validate", {}, prompt_tokens=7,
                                                                       completion_tokens=3)]
    with ScriptedChatServer(script) as server:
        client = ChatClient(server.base_url, "m", timeout_s=0.8, max_retries=4, backoff_s=0.05)
        t0 = time.monotonic()
        r = client.complete([{"role": "user", "content": "hi"}], tools=[{"type": "function"}])
        elapsed = time.monotonic() - t0
        reqs = server.requests
    assert r.message["tool_calls"][0]["function"]["name"] == "validate"
    assert r.attempts == 4 and r.usage.prompt_tokens == 7 and r.usage.completion_tokens == 3
    # Retry-After: 1 was honoured (the 2nd request came >= 1 s after the 1st); backoff after the 500 is short.
    assert reqs[1]["t"] - reqs[0]["t"] >= 0.95
    assert reqs[2]["t"] - reqs[1]["t"] < 0.5
    assert reqs[3]["t"] - reqs[2]["t"] >= 0.75  # the slow reply was abandoned at the 0.8 s timeout
    assert elapsed < 4.0
    assert all(q["headers"]["Authorization"] == f"Bearer {KEY}" for q in reqs)
    assert reqs[0]["body"]["model"] == "m" and reqs[0]["body"]["tools"] == [{"type": "function"}]
    s = client.stats()
    assert (s["calls"], s["attempts"], s["retries"], s["prompt_tokens"], s["completion_tokens"]) == (1, 4, 3, 7, 3)
    assert KEY not in repr(s) and KEY not in repr(client)


def test_clear_error_after_n_tries_and_key_redacted(key_env: str) -> None:
    with ScriptedChatServer([error(503, echo_auth=True)] * 3) as server:
        client = ChatClient(server.base_url, "m", max_retries=2, backoff_s=0.01)
        with pytest.raises(ChatError) as info:
            client.complete([{"role": "user", "content": "hi"}])
    msg = str(info.value)
    assert "after 3 tries" in msg and "HTTP 503" in msg and info.value.attempts == 3
    assert KEY not in msg and "Bearer ***" in msg  # the server echoed the key; the error does not
    assert client.stats()["failed_calls"] == 1 and client.stats()["calls"] == 0


def test_non_retryable_status_fails_at_once(key_env: str) -> None:
    with ScriptedChatServer([error(401), say("never reached")]) as server:
        client = ChatClient(server.base_url, "m", max_retries=5, backoff_s=0.01)
        with pytest.raises(ChatError, match="HTTP 401") as info:
            client.complete([{"role": "user", "content": "hi"}])
        assert len(server.requests) == 1 and info.value.attempts == 1


def test_key_from_custom_env_then_openai_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOJO_NB_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback-xyz")
    monkeypatch.setenv("MY_KEY", "sk-custom-abc")
    with ScriptedChatServer([say("a"), say("b"), say("c")]) as server:
        ChatClient(server.base_url, "m").complete([{"role": "user", "content": "x"}])
        ChatClient(server.base_url, "m", api_key_env="MY_KEY").complete([{"role": "user", "content": "x"}])
        monkeypatch.delenv("OPENAI_API_KEY")
        ChatClient(server.base_url, "m").complete([{"role": "user", "content": "x"}])
        auth = [q["headers"].get("Authorization") for q in server.requests]
    assert auth == ["Bearer sk-fallback-xyz", "Bearer sk-custom-abc", None]


def test_retry_after_forms() -> None:
    assert _retry_after("3") == 3.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (_retry_after(later) or 0) <= 31
