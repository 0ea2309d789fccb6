"""Every exit from a streamed chat completion ends its span exactly once.

The streams are replayed from cassettes recorded against the real local llama.cpp server.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from _local import HELLO, MODEL, async_client, sync_client
from _spans import assert_attributes, attributes_of, only
from agentwatch import semconv

pytestmark = pytest.mark.usefixtures("instrumented")

STREAM_BASE = {
    semconv.GEN_AI_OPERATION_NAME: "chat",
    semconv.GEN_AI_PROVIDER_NAME: "openai",
    semconv.LLM_PROVIDER: "openai",
    semconv.OPENAI_API: "chat.completions",
    semconv.GEN_AI_REQUEST_MODEL: MODEL,
    semconv.LLM_MODEL_NAME: MODEL,
    semconv.SERVER_ADDRESS: "127.0.0.1",
    semconv.SERVER_PORT: 8080,
    semconv.OPENINFERENCE_SPAN_KIND: "LLM",
    semconv.TRAJECTORY_STEP: 1,
    semconv.REQUEST_STREAM: True,
}
# Filled in by the server's answer; checked for presence and type.
VARIABLE = (
    semconv.GEN_AI_RESPONSE_ID,
    semconv.GEN_AI_RESPONSE_MODEL,
    semconv.RESPONSE_TIME_TO_FIRST_CHUNK,
)


@pytest.fixture(autouse=True)
def no_double_end(caplog: pytest.LogCaptureFixture) -> Any:
    """The SDK logs a warning when end() is called on an ended span; none may appear."""
    caplog.set_level(logging.WARNING, logger="opentelemetry.sdk.trace")
    yield
    assert not [r for r in caplog.records if "already ended" in r.getMessage() or "end()" in r.getMessage()]


def stream_kwargs(usage: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": HELLO, "stream": True, "max_tokens": 16}
    if usage:
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def ended_stream_span(exporter: Any, how: str) -> dict[str, Any]:
    span = only(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.UNSET
    attributes = attributes_of(span)
    assert attributes[semconv.STREAM_END] == how
    return attributes


def test_exhausted_records_usage(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        stream = sync_client().chat.completions.create(**stream_kwargs(usage=True))
        assert isinstance(stream, openai.Stream)
        chunks = list(stream)

    assert chunks[-1].usage is not None
    span = only(exporter.get_finished_spans())
    assert_attributes(
        span,
        {
            **STREAM_BASE,
            semconv.GEN_AI_REQUEST_MAX_TOKENS: 16,
            semconv.GEN_AI_RESPONSE_FINISH_REASONS: [chunks[-2].choices[0].finish_reason],
            semconv.GEN_AI_USAGE_INPUT_TOKENS: chunks[-1].usage.prompt_tokens,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: chunks[-1].usage.completion_tokens,
            semconv.LLM_TOKEN_COUNT_PROMPT: chunks[-1].usage.prompt_tokens,
            semconv.LLM_TOKEN_COUNT_COMPLETION: chunks[-1].usage.completion_tokens,
            semconv.LLM_TOKEN_COUNT_TOTAL: chunks[-1].usage.total_tokens,
            semconv.STREAM_END: "exhausted",
        },
        ignore=VARIABLE,
    )
    attributes = attributes_of(span)
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == chunks[0].id
    assert attributes[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def test_no_usage_requested_leaves_tokens_absent(exporter: Any, replay: Any) -> None:
    with replay("chat_stream"):
        chunks = list(sync_client().chat.completions.create(**stream_kwargs(usage=False)))

    assert all(chunk.usage is None for chunk in chunks)
    attributes = ended_stream_span(exporter, "exhausted")
    for key in (
        semconv.GEN_AI_USAGE_INPUT_TOKENS,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
        semconv.LLM_TOKEN_COUNT_PROMPT,
    ):
        assert key not in attributes


def test_break_inside_with(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        stream = sync_client().chat.completions.create(**stream_kwargs(usage=True))
        with stream as entered:
            assert entered is stream
            for _ in entered:
                break

    ended_stream_span(exporter, "closed")


def test_close_after_first_chunk(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        stream = sync_client().chat.completions.create(**stream_kwargs(usage=True))
        next(stream)
        stream.close()
        stream.close()

    ended_stream_span(exporter, "closed")


def test_abandoned_stream_ends_on_gc(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        stream = sync_client().chat.completions.create(**stream_kwargs(usage=True))
        next(stream)
        assert exporter.get_finished_spans() == ()
        del stream
        gc.collect()

    ended_stream_span(exporter, "abandoned")


def test_user_exception_propagates_unchanged(exporter: Any, replay: Any) -> None:
    error = ValueError("user bug")
    with replay("chat_stream_usage"), pytest.raises(ValueError) as caught:
        with sync_client().chat.completions.create(**stream_kwargs(usage=True)) as stream:
            for _ in stream:
                raise error

    assert caught.value is error
    ended_stream_span(exporter, "closed")


def test_user_exception_without_with(exporter: Any, replay: Any) -> None:
    def consume() -> None:
        for _ in sync_client().chat.completions.create(**stream_kwargs(usage=True)):
            raise KeyError("user bug")

    with replay("chat_stream_usage"), pytest.raises(KeyError):
        consume()
    gc.collect()

    ended_stream_span(exporter, "abandoned")


async def test_async_exhausted(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        stream = await async_client().chat.completions.create(**stream_kwargs(usage=True))
        assert isinstance(stream, openai.AsyncStream)
        chunks = [chunk async for chunk in stream]

    attributes = ended_stream_span(exporter, "exhausted")
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == chunks[-1].usage.completion_tokens


async def test_async_break_inside_async_with(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        stream = await async_client().chat.completions.create(**stream_kwargs(usage=True))
        async with stream as entered:
            assert entered is stream
            async for _ in entered:
                break

    ended_stream_span(exporter, "closed")


async def test_async_await_close(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        stream = await async_client().chat.completions.create(**stream_kwargs(usage=True))
        await stream.__anext__()
        await stream.close()

    ended_stream_span(exporter, "closed")


async def test_async_abandoned_ends_on_gc(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        stream = await async_client().chat.completions.create(**stream_kwargs(usage=True))
        await stream.__anext__()
        del stream
        gc.collect()

    ended_stream_span(exporter, "abandoned")


async def test_async_user_exception_propagates(exporter: Any, replay: Any) -> None:
    error = RuntimeError("user bug")
    with replay("chat_stream_usage"), pytest.raises(RuntimeError) as caught:
        async with await async_client().chat.completions.create(**stream_kwargs(usage=True)) as stream:
            async for _ in stream:
                raise error

    assert caught.value is error
    ended_stream_span(exporter, "closed")


def test_chat_stream_helper_traced_once(exporter: Any, replay: Any) -> None:
    with replay("chat_stream_usage"):
        with sync_client().chat.completions.stream(
            model=MODEL, messages=HELLO, max_tokens=16, stream_options={"include_usage": True}
        ) as stream:
            final = stream.get_final_completion()

    attributes = ended_stream_span(exporter, "exhausted")
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.completion_tokens
