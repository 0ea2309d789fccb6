"""Chat completions, embeddings and the raw-response wrappers against the real local server.

Responses are replayed from cassettes recorded from llama.cpp's server with SmolLM2.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from _local import API_KEY, HELLO, MODEL, async_client, sync_client
from _spans import assert_attributes, attributes_of, only
from agentwatch import semconv

pytestmark = pytest.mark.usefixtures("instrumented")

BASE = {
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
}
CHAT_KWARGS: dict[str, Any] = {
    "model": MODEL,
    "messages": HELLO,
    "max_tokens": 16,
    "temperature": 0.0,
    "seed": 7,
}


def response_attributes(response: Any) -> dict[str, Any]:
    usage = response.usage
    return {
        semconv.GEN_AI_REQUEST_MAX_TOKENS: 16,
        semconv.GEN_AI_REQUEST_TEMPERATURE: 0.0,
        semconv.GEN_AI_REQUEST_SEED: 7,
        semconv.GEN_AI_RESPONSE_ID: response.id,
        semconv.GEN_AI_RESPONSE_MODEL: response.model,
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: [response.choices[0].finish_reason],
        semconv.GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
        semconv.LLM_TOKEN_COUNT_PROMPT: usage.prompt_tokens,
        semconv.LLM_TOKEN_COUNT_COMPLETION: usage.completion_tokens,
        semconv.LLM_TOKEN_COUNT_TOTAL: usage.prompt_tokens + usage.completion_tokens,
    }


def test_sync_create(exporter: Any, vcr_cassette: Any) -> None:
    response = sync_client().chat.completions.create(**CHAT_KWARGS)

    assert isinstance(response, openai.types.chat.ChatCompletion)
    span = only(exporter.get_finished_spans())
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None
    assert_attributes(span, {**BASE, **response_attributes(response)})


async def test_async_create(exporter: Any, vcr_cassette: Any) -> None:
    response = await async_client().chat.completions.create(**CHAT_KWARGS)

    span = only(exporter.get_finished_spans())
    assert_attributes(span, {**BASE, **response_attributes(response)})


@pytest.mark.parametrize("capture_content", [True])
def test_capture_records_messages(exporter: Any, vcr_cassette: Any) -> None:
    response = sync_client().chat.completions.create(**CHAT_KWARGS)

    span = only(exporter.get_finished_spans())
    text = response.choices[0].message.content
    assert_attributes(
        span,
        {
            **BASE,
            **response_attributes(response),
            semconv.GEN_AI_INPUT_MESSAGES: json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": HELLO[0]["content"]}]}],
                separators=(",", ":"),
            ),
            semconv.GEN_AI_OUTPUT_MESSAGES: json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": text}],
                        "finish_reason": response.choices[0].finish_reason,
                    }
                ],
                separators=(",", ":"),
                ensure_ascii=False,
            ),
        },
    )


@pytest.mark.parametrize("capture_content", [False, True])
def test_api_key_never_recorded(exporter: Any, replay: Any) -> None:
    with replay("chat"):
        sync_client().chat.completions.create(**CHAT_KWARGS)

    span = only(exporter.get_finished_spans())
    dumped = json.dumps(attributes_of(span)) + json.dumps([dict(e.attributes or {}) for e in span.events])
    assert API_KEY not in dumped
    assert "Bearer" not in dumped


def test_content_off_by_default(exporter: Any, replay: Any) -> None:
    with replay("chat"):
        response = sync_client().chat.completions.create(**CHAT_KWARGS)

    dumped = json.dumps(attributes_of(only(exporter.get_finished_spans())))
    assert HELLO[0]["content"] not in dumped
    assert response.choices[0].message.content not in dumped


def test_with_raw_response(exporter: Any, replay: Any) -> None:
    with replay("chat"):
        raw = sync_client().chat.completions.with_raw_response.create(**CHAT_KWARGS)

    assert raw.headers.get("content-type", "").startswith("application/json")
    response = raw.parse()
    assert isinstance(response, openai.types.chat.ChatCompletion)
    span = only(exporter.get_finished_spans())
    assert_attributes(span, {**BASE, **response_attributes(response)})


async def test_async_with_raw_response(exporter: Any, replay: Any) -> None:
    with replay("chat"):
        raw = await async_client().chat.completions.with_raw_response.create(**CHAT_KWARGS)

    response = raw.parse()
    span = only(exporter.get_finished_spans())
    assert_attributes(span, {**BASE, **response_attributes(response)})


def test_with_streaming_response(exporter: Any, replay: Any) -> None:
    with replay("chat"):
        with sync_client().chat.completions.with_streaming_response.create(**CHAT_KWARGS) as raw:
            assert raw.headers.get("content-type", "").startswith("application/json")
            response = raw.parse()

    span = only(exporter.get_finished_spans())
    assert_attributes(span, {**BASE, **response_attributes(response)})


async def test_async_with_streaming_response(exporter: Any, replay: Any) -> None:
    with replay("chat"):
        async with async_client().chat.completions.with_streaming_response.create(**CHAT_KWARGS) as raw:
            response = await raw.parse()

    span = only(exporter.get_finished_spans())
    assert_attributes(span, {**BASE, **response_attributes(response)})


def test_streaming_response_unparsed_ends_on_close(exporter: Any, replay: Any) -> None:
    with replay("chat"):
        with sync_client().chat.completions.with_streaming_response.create(**CHAT_KWARGS) as raw:
            body = raw.read()

    assert json.loads(body)["object"] == "chat.completion"
    span = only(exporter.get_finished_spans())
    assert attributes_of(span)[semconv.STREAM_END] == "closed"


def test_raw_response_stream(exporter: Any, replay: Any) -> None:
    kwargs = {
        "model": MODEL,
        "messages": HELLO,
        "stream": True,
        "max_tokens": 16,
        "stream_options": {"include_usage": True},
    }
    with replay("chat_stream_usage"):
        raw = sync_client().chat.completions.with_raw_response.create(**kwargs)
        stream = raw.parse()
        assert isinstance(stream, openai.Stream)
        chunks = list(stream)

    attributes = attributes_of(only(exporter.get_finished_spans()))
    assert attributes[semconv.STREAM_END] == "exhausted"
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == chunks[-1].usage.completion_tokens


def test_parse_json_schema(exporter: Any, vcr_cassette: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"greeting": {"type": "string", "enum": ["hello", "hi", "good morning"]}},
        "required": ["greeting"],
        "additionalProperties": False,
    }
    response = sync_client().chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Reply with a JSON object with one key, greeting."}],
        max_tokens=200,
        temperature=0.0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "greeting", "schema": schema, "strict": True},
        },
    )

    assert "greeting" in json.loads(response.choices[0].message.content)
    span = only(exporter.get_finished_spans())
    attributes = attributes_of(span)
    assert attributes[semconv.GEN_AI_OUTPUT_TYPE] == "json"
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == response.usage.completion_tokens


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_embeddings(exporter: Any, vcr_cassette: Any, mode: str) -> None:
    kwargs = {"model": MODEL, "input": "Refunds are available for 30 days."}
    if mode == "sync":
        response = sync_client().embeddings.create(**kwargs)
    else:
        response = await async_client().embeddings.create(**kwargs)

    span = only(exporter.get_finished_spans())
    assert span.name == f"embeddings {MODEL}"
    expected = {
        **BASE,
        semconv.GEN_AI_OPERATION_NAME: "embeddings",
        semconv.OPENAI_API: "embeddings",
        semconv.OPENINFERENCE_SPAN_KIND: "EMBEDDING",
        semconv.GEN_AI_RESPONSE_MODEL: response.model,
        semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: len(response.data[0].embedding),
        semconv.GEN_AI_USAGE_INPUT_TOKENS: response.usage.prompt_tokens,
        semconv.LLM_TOKEN_COUNT_PROMPT: response.usage.prompt_tokens,
    }
    assert_attributes(span, expected)
