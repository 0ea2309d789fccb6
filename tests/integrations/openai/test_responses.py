"""The Responses API against the real local server (llama.cpp's /v1/responses), from cassettes."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from _local import MODEL, async_client, sync_client
from _spans import assert_attributes, attributes_of, only
from agentwatch import semconv

pytestmark = pytest.mark.usefixtures("instrumented")

BASE = {
    semconv.GEN_AI_OPERATION_NAME: "chat",
    semconv.GEN_AI_PROVIDER_NAME: "openai",
    semconv.LLM_PROVIDER: "openai",
    semconv.OPENAI_API: "responses",
    semconv.GEN_AI_REQUEST_MODEL: MODEL,
    semconv.LLM_MODEL_NAME: MODEL,
    semconv.SERVER_ADDRESS: "127.0.0.1",
    semconv.SERVER_PORT: 8080,
    semconv.OPENINFERENCE_SPAN_KIND: "LLM",
    semconv.TRAJECTORY_STEP: 1,
}
KWARGS: dict[str, Any] = {
    "model": MODEL,
    "input": "Say hello in five words.",
    "max_output_tokens": 16,
    "temperature": 0.0,
}


def expected_for(response: Any) -> dict[str, Any]:
    usage = response.usage
    return {
        **BASE,
        semconv.GEN_AI_REQUEST_MAX_TOKENS: 16,
        semconv.GEN_AI_REQUEST_TEMPERATURE: 0.0,
        semconv.GEN_AI_RESPONSE_ID: response.id,
        semconv.GEN_AI_RESPONSE_MODEL: response.model,
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: [
            (response.incomplete_details.reason if response.incomplete_details else None) or response.status
        ],
        semconv.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
        semconv.LLM_TOKEN_COUNT_PROMPT: usage.input_tokens,
        semconv.LLM_TOKEN_COUNT_COMPLETION: usage.output_tokens,
        semconv.LLM_TOKEN_COUNT_TOTAL: usage.input_tokens + usage.output_tokens,
    }


def test_create(exporter: Any, vcr_cassette: Any) -> None:
    response = sync_client().responses.create(**KWARGS)

    span = only(exporter.get_finished_spans())
    assert span.name == f"chat {MODEL}"
    assert_attributes(span, expected_for(response))


async def test_async_create(exporter: Any, vcr_cassette: Any) -> None:
    response = await async_client().responses.create(**KWARGS)

    assert_attributes(only(exporter.get_finished_spans()), expected_for(response))


def test_stream_usage_from_completed_event(exporter: Any, vcr_cassette: Any) -> None:
    stream = sync_client().responses.create(**KWARGS, stream=True)
    assert isinstance(stream, openai.Stream)
    events = list(stream)

    completed = [event for event in events if event.type in ("response.completed", "response.incomplete")][-1]
    span = only(exporter.get_finished_spans())
    assert_attributes(
        span,
        {**expected_for(completed.response), semconv.REQUEST_STREAM: True, semconv.STREAM_END: "exhausted"},
        ignore=(semconv.RESPONSE_TIME_TO_FIRST_CHUNK,),
    )
    assert attributes_of(span)[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] > 0


async def test_async_stream_break(exporter: Any, vcr_cassette: Any) -> None:
    # responses.stream() itself cannot read llama.cpp's events (they carry no content_index), so
    # the async path is checked on create(stream=True), which stream() calls underneath.
    stream = await async_client().responses.create(**KWARGS, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    async with stream:
        async for event in stream:
            if event.type == "response.output_text.delta":
                break

    span = only(exporter.get_finished_spans())
    attributes = attributes_of(span)
    assert attributes[semconv.STREAM_END] == "closed"
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in attributes
