"""An in-process OpenAI-compatible transport for shapes a real server cannot produce on demand.

Faults (HTTP errors, a broken stream), parallel tool calls and interleaved streamed tool-call
deltas come from here. Ordinary responses in the tests come from cassettes recorded against the
real local llama.cpp server instead.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import openai

# openai 3.x talks through httpx2, openai 2.x through httpx; the transport must match.
httpx: Any = importlib.import_module(openai.DefaultHttpxClient.__mro__[0].__module__.split(".")[0])
if not hasattr(httpx, "MockTransport"):
    httpx = importlib.import_module("httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx")

OPENAI_MAJOR = int(openai.__version__.split(".")[0])

Handler = Callable[[Any], Any]


def sse(events: list[dict[str, Any] | str]) -> bytes:
    lines = []
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        lines.append(f"data: {data}\n\n")
    return "".join(lines).encode()


def chat_completion(
    content: str | None = "Hello there.",
    *,
    model: str = "smollm2",
    tool_calls: list[dict[str, Any]] | None = None,
    usage: dict[str, int] | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": content, "tool_calls": tool_calls},
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chunk(
    delta: dict[str, Any], *, index: int = 0, finish_reason: str | None = None, model: str = "smollm2"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
    }


class Recorder:
    """Route requests to per-path handlers and keep every request body for byte comparison."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.handler: Handler = lambda request: httpx.Response(500, json={"error": {"message": "no handler"}})

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        return self.handler(request)

    def json(self, body: dict[str, Any], status: int = 200) -> None:
        self.handler = lambda request: httpx.Response(status, json=body)

    def stream(self, events: list[dict[str, Any] | str]) -> None:
        payload = sse(events)
        self.handler = lambda request: httpx.Response(
            200, content=payload, headers={"content-type": "text/event-stream"}
        )

    def broken_stream(self, events: list[dict[str, Any] | str]) -> None:
        """Send some events, then fail the connection mid-stream."""
        payload = sse(events)

        class Broken(httpx.SyncByteStream if hasattr(httpx, "SyncByteStream") else object):  # type: ignore[misc]
            def __iter__(self) -> Iterator[bytes]:
                yield payload
                raise httpx.ReadError("connection reset by peer")

            def close(self) -> None:
                pass

        class AsyncBroken(httpx.AsyncByteStream if hasattr(httpx, "AsyncByteStream") else object):  # type: ignore[misc]
            async def __aiter__(self) -> Any:
                yield payload
                raise httpx.ReadError("connection reset by peer")

            async def aclose(self) -> None:
                pass

        def handler(request: Any) -> Any:
            return httpx.Response(
                200,
                stream=Broken() if not self._async else AsyncBroken(),
                headers={"content-type": "text/event-stream"},
            )

        self.handler = handler

    _async = False


def make_clients(
    recorder: Recorder, base_url: str = "http://127.0.0.1:8080/v1"
) -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
    sync_client = openai.OpenAI(
        api_key="sk-test-secret-key",
        base_url=base_url,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(recorder)),
    )

    async def async_handler(request: Any) -> Any:
        return recorder(request)

    async_client = openai.AsyncOpenAI(
        api_key="sk-test-secret-key",
        base_url=base_url,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(transport=httpx.MockTransport(async_handler)),
    )
    return sync_client, async_client
