"""Error and fault paths of the OpenAI integration.

The responses here come from the in-process transport because a real server does not produce them
on demand: HTTP errors, a connection that breaks mid-stream, parallel tool calls and streamed
tool-call deltas that interleave.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

import agentwatch
from _openai_transport import OPENAI_MAJOR, Recorder, chat_completion, chunk, httpx, make_clients
from _spans import assert_attributes, attributes_of, only
from agentwatch import _guard, semconv

pytestmark = pytest.mark.usefixtures("instrumented")

BASE = {
    semconv.GEN_AI_OPERATION_NAME: "chat",
    semconv.GEN_AI_PROVIDER_NAME: "openai",
    semconv.LLM_PROVIDER: "openai",
    semconv.OPENAI_API: "chat.completions",
    semconv.GEN_AI_REQUEST_MODEL: "smollm2",
    semconv.LLM_MODEL_NAME: "smollm2",
    semconv.SERVER_ADDRESS: "127.0.0.1",
    semconv.SERVER_PORT: 8080,
    semconv.OPENINFERENCE_SPAN_KIND: "LLM",
    semconv.TRAJECTORY_STEP: 1,
}
MESSAGES = [{"role": "user", "content": "Where is order 42?"}]

PARALLEL_CALLS = [
    {
        "id": "call_a",
        "type": "function",
        "function": {"name": "lookup_order", "arguments": '{"order_id": "42"}'},
    },
    {
        "id": "call_b",
        "type": "function",
        "function": {"name": "search_policy", "arguments": '{"query": "refund"}'},
    },
]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def break_chat_endpoint() -> Iterator[Callable[[str], None]]:
    """Replace one extractor of the chat endpoint with one that raises, and restore it after."""
    from agentwatch.integrations.openai import CHAT

    saved = {name: getattr(CHAT, name) for name in ("request", "response")}

    def broken(*args: Any) -> Any:
        raise RuntimeError("extractor bug")

    def apply(name: str) -> None:
        object.__setattr__(CHAT, name, broken)  # Endpoint is a frozen dataclass

    yield apply
    for name, value in saved.items():
        object.__setattr__(CHAT, name, value)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def create(recorder: Recorder, mode: str, **kwargs: Any) -> Any:
    sync_client, async_client = make_clients(recorder)
    recorder._async = mode == "async"
    if mode == "sync":
        return sync_client.chat.completions.create(**kwargs)
    return await async_client.chat.completions.create(**kwargs)


async def drain(stream: Any, mode: str) -> list[Any]:
    if mode == "sync":
        return list(stream)
    return [item async for item in stream]


async def test_http_error_same_exception(recorder: Recorder, mode: str, exporter: Any) -> None:
    recorder.json({"error": {"message": "model overloaded", "type": "server_error"}}, status=503)

    with pytest.raises(openai.InternalServerError) as caught:
        await create(recorder, mode, model="smollm2", messages=MESSAGES)

    assert caught.value.status_code == 503
    span = only(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.ERROR
    assert_attributes(span, {**BASE, semconv.ERROR_TYPE: "InternalServerError"})
    events = [event for event in span.events if event.name == "exception"]
    assert len(events) == 1
    assert events[0].attributes["exception.type"].endswith("InternalServerError")


async def test_parallel_tool_calls_recorded(recorder: Recorder, mode: str, exporter: Any) -> None:
    recorder.json(chat_completion(None, tool_calls=PARALLEL_CALLS, finish_reason="tool_calls"))

    response = await create(recorder, mode, model="smollm2", messages=MESSAGES)

    assert [call.id for call in response.choices[0].message.tool_calls] == ["call_a", "call_b"]
    span = only(exporter.get_finished_spans())
    assert_attributes(
        span,
        {
            **BASE,
            semconv.GEN_AI_RESPONSE_ID: "chatcmpl-test",
            semconv.GEN_AI_RESPONSE_MODEL: "smollm2",
            semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["tool_calls"],
            semconv.RESPONSE_TOOL_CALL_NAMES: ["lookup_order", "search_policy"],
            semconv.RESPONSE_TOOL_CALL_IDS: ["call_a", "call_b"],
        },
    )


def interleaved_tool_chunks() -> list[Any]:
    """Two tool calls whose argument deltas alternate, as parallel streaming servers send them."""

    def call_delta(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    return [
        chunk(
            {
                "role": "assistant",
                **call_delta(
                    0, id="call_a", type="function", function={"name": "lookup_order", "arguments": ""}
                ),
            }
        ),
        chunk(
            call_delta(1, id="call_b", type="function", function={"name": "search_policy", "arguments": ""})
        ),
        chunk(call_delta(0, function={"arguments": '{"order_'})),
        chunk(call_delta(1, function={"arguments": '{"query": '})),
        chunk(call_delta(0, function={"arguments": 'id": "42"}'})),
        chunk(call_delta(1, function={"arguments": '"refund"}'}), finish_reason="tool_calls"),
        "[DONE]",
    ]


@pytest.mark.parametrize("capture_content", [True])
async def test_interleaved_stream_tool_calls(recorder: Recorder, mode: str, exporter: Any) -> None:
    recorder.stream(interleaved_tool_chunks())

    stream = await create(recorder, mode, model="smollm2", messages=MESSAGES, stream=True)
    await drain(stream, mode)

    span = only(exporter.get_finished_spans())
    attributes = attributes_of(span)
    assert attributes[semconv.RESPONSE_TOOL_CALL_NAMES] == ["lookup_order", "search_policy"]
    assert attributes[semconv.RESPONSE_TOOL_CALL_IDS] == ["call_a", "call_b"]
    output = json.loads(attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert output == [
        {
            "role": "assistant",
            "finish_reason": "tool_calls",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_a",
                    "name": "lookup_order",
                    "arguments": {"order_id": "42"},
                },
                {
                    "type": "tool_call",
                    "id": "call_b",
                    "name": "search_policy",
                    "arguments": {"query": "refund"},
                },
            ],
        }
    ]


async def test_stream_tool_arguments_hidden_by_default(recorder: Recorder, mode: str, exporter: Any) -> None:
    recorder.stream(interleaved_tool_chunks())

    stream = await create(recorder, mode, model="smollm2", messages=MESSAGES, stream=True)
    await drain(stream, mode)

    attributes = attributes_of(only(exporter.get_finished_spans()))
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in attributes
    assert semconv.GEN_AI_INPUT_MESSAGES not in attributes
    assert "order_id" not in json.dumps(attributes)
    assert attributes[semconv.RESPONSE_TOOL_CALL_NAMES] == ["lookup_order", "search_policy"]


async def test_error_mid_stream(recorder: Recorder, mode: str, exporter: Any) -> None:
    recorder.broken_stream([chunk({"role": "assistant", "content": "Hel"})])

    # openai 3.x wraps a broken stream in APIConnectionError; 2.x lets the transport error through.
    expected = openai.APIConnectionError if OPENAI_MAJOR >= 3 else httpx.ReadError

    stream = await create(recorder, mode, model="smollm2", messages=MESSAGES, stream=True)
    with pytest.raises(expected):
        await drain(stream, mode)

    span = only(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.ERROR
    attributes = attributes_of(span)
    assert attributes[semconv.ERROR_TYPE] == expected.__qualname__
    assert attributes[semconv.STREAM_END] == "error"
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stream"
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attributes


async def test_extractor_fault_keeps_user_call(
    recorder: Recorder,
    mode: str,
    exporter: Any,
    break_chat_endpoint: Callable[[str], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    break_chat_endpoint("response")
    _guard.reset_warnings()
    recorder.json(chat_completion("Fine."))

    with _guard.raise_in_tests(False):
        response = await create(recorder, mode, model="smollm2", messages=MESSAGES)

    assert response.choices[0].message.content == "Fine."
    span = only(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.UNSET
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "openai.response" in warnings[0].getMessage()


async def test_extractor_fault_raises_under_pytest(
    recorder: Recorder, mode: str, break_chat_endpoint: Callable[[str], None]
) -> None:
    break_chat_endpoint("request")

    with pytest.raises(RuntimeError, match="extractor bug"):
        await create(recorder, mode, model="smollm2", messages=MESSAGES)

    assert recorder.requests == []


async def test_request_fault_calls_untraced(
    recorder: Recorder, mode: str, exporter: Any, break_chat_endpoint: Callable[[str], None]
) -> None:
    break_chat_endpoint("request")
    recorder.json(chat_completion("Still here."))

    with _guard.raise_in_tests(False):
        response = await create(recorder, mode, model="smollm2", messages=MESSAGES)

    assert response.choices[0].message.content == "Still here."
    assert len(recorder.requests) == 1
    assert exporter.get_finished_spans() == ()


def test_abandoned_broken_stream_single_end(recorder: Recorder, exporter: Any) -> None:
    recorder.broken_stream([chunk({"role": "assistant", "content": "Hel"})])
    sync_client, _ = make_clients(recorder)

    stream = sync_client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)
    next(iter(stream))
    del stream
    gc.collect()

    span = only(exporter.get_finished_spans())
    assert attributes_of(span)[semconv.STREAM_END] == "abandoned"
    assert agentwatch.current_run() is None
