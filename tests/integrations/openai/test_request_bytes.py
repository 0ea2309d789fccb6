"""Instrumentation never changes the request: same body bytes and headers as without it.

The requests are captured by the in-process transport, which sees exactly the bytes the SDK
sends; the canned reply does not matter here.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from _openai_transport import Recorder, chat_completion, chunk, make_clients

CASES = [
    pytest.param({"messages": [{"role": "user", "content": "hi"}]}, False, id="plain"),
    pytest.param(
        {"messages": [{"role": "user", "content": "hi"}], "stream": True}, True, id="stream-no-usage"
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [
                {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}
            ],
            "tool_choice": "auto",
            "temperature": 0.2,
        },
        False,
        id="tools",
    ),
]

# Headers that differ between any two requests, traced or not.
_VOLATILE = {"x-stainless-retry-count", "x-stainless-read-timeout", "content-length"}


def send(kwargs: dict[str, Any], stream: bool) -> Any:
    recorder = Recorder()
    if stream:
        recorder.stream([chunk({"content": "hi"}, finish_reason="stop"), "[DONE]"])
    else:
        recorder.json(chat_completion("hi"))
    sync_client, _ = make_clients(recorder)
    result = sync_client.chat.completions.create(model="smollm2", **kwargs)
    if stream:
        list(result)
    (request,) = recorder.requests
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in _VOLATILE}
    return request.method, str(request.url), request.content, headers


@pytest.mark.parametrize(("kwargs", "stream"), CASES)
def test_request_unchanged(kwargs: dict[str, Any], stream: bool, tracer_provider: TracerProvider) -> None:
    bare = send(kwargs, stream)
    agentwatch.instrument(tracer_provider=tracer_provider, capture_content=True)
    try:
        traced = send(kwargs, stream)
    finally:
        agentwatch.uninstrument()

    assert traced == bare
    assert b"stream_options" not in traced[2]
