"""ChatOpenAI calls against the real local server: one chat span per model call.

Responses are replayed from cassettes recorded from llama.cpp's server with SmolLM2. The OpenAI
integration is on as well, so every test also proves the SDK call underneath adds no second span.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from _langchain_models import QUESTION, text_model
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from opentelemetry.trace import SpanKind, StatusCode

from _local import API_KEY, HELLO, MODEL, sync_client
from _spans import assert_attributes, attributes_of, only
from agentwatch import semconv
from agentwatch._call import framework_call

pytestmark = pytest.mark.usefixtures("instrumented")

REQUEST = {
    semconv.GEN_AI_OPERATION_NAME: "chat",
    semconv.GEN_AI_PROVIDER_NAME: "openai",
    semconv.LLM_PROVIDER: "openai",
    semconv.GEN_AI_REQUEST_MODEL: MODEL,
    semconv.LLM_MODEL_NAME: MODEL,
    semconv.GEN_AI_REQUEST_TEMPERATURE: 0.0,
    semconv.GEN_AI_REQUEST_MAX_TOKENS: 16,
    semconv.GEN_AI_REQUEST_SEED: 7,
    semconv.SERVER_ADDRESS: "127.0.0.1",
    semconv.SERVER_PORT: 8080,
    semconv.OPENINFERENCE_SPAN_KIND: "LLM",
    semconv.TRAJECTORY_STEP: 1,
}


def response_attributes(message: Any) -> dict[str, Any]:
    usage = message.usage_metadata
    metadata = message.response_metadata
    expected = {
        semconv.GEN_AI_RESPONSE_MODEL: metadata["model_name"],
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: [metadata["finish_reason"]],
        semconv.GEN_AI_USAGE_INPUT_TOKENS: usage["input_tokens"],
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: usage["output_tokens"],
        semconv.LLM_TOKEN_COUNT_PROMPT: usage["input_tokens"],
        semconv.LLM_TOKEN_COUNT_COMPLETION: usage["output_tokens"],
        semconv.LLM_TOKEN_COUNT_TOTAL: usage["input_tokens"] + usage["output_tokens"],
    }
    if metadata.get("id"):
        expected[semconv.GEN_AI_RESPONSE_ID] = metadata["id"]
    return expected


def test_invoke(exporter: Any, vcr_cassette: Any) -> None:
    message = text_model().invoke(QUESTION)

    assert isinstance(message, AIMessage)
    span = only(exporter.get_finished_spans())
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None
    assert_attributes(span, {**REQUEST, **response_attributes(message)})


async def test_ainvoke(exporter: Any, vcr_cassette: Any) -> None:
    message = await text_model().ainvoke(QUESTION)

    span = only(exporter.get_finished_spans())
    assert_attributes(span, {**REQUEST, **response_attributes(message)})


def test_stream_usage(exporter: Any, vcr_cassette: Any) -> None:
    chunks = list(text_model(stream_usage=True).stream(QUESTION))

    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    span = only(exporter.get_finished_spans())
    attributes = attributes_of(span)
    ttft = attributes.pop(semconv.RESPONSE_TIME_TO_FIRST_CHUNK)
    assert ttft > 0
    assert attributes.pop(semconv.REQUEST_STREAM) is True
    expected = {**REQUEST, **response_attributes(merged)}
    expected.pop(semconv.GEN_AI_RESPONSE_ID, None)
    assert attributes == expected


async def test_astream_without_usage(exporter: Any, vcr_cassette: Any) -> None:
    chunks = [chunk async for chunk in text_model(stream_usage=False).astream(QUESTION)]

    reasons = [
        chunk.response_metadata["finish_reason"]
        for chunk in chunks
        if chunk.response_metadata.get("finish_reason")
    ]
    assert "".join(str(chunk.content) for chunk in chunks)
    attributes = attributes_of(only(exporter.get_finished_spans()))
    # The server reported no usage, so the counts are absent rather than 0.
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attributes
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in attributes
    assert semconv.LLM_TOKEN_COUNT_TOTAL not in attributes
    assert attributes[semconv.SERVER_PORT] == 8080
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == reasons


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_batch(exporter: Any, vcr_cassette: Any, mode: str) -> None:
    prompts = ["Say hello in five words.", "Name a colour."]
    model = text_model()
    messages = model.batch(prompts) if mode == "sync" else asyncio.run(model.abatch(prompts))

    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [f"chat {MODEL}", f"chat {MODEL}"]
    ids = sorted(attributes_of(span)[semconv.GEN_AI_RESPONSE_ID] for span in spans)
    assert ids == sorted(message.response_metadata["id"] for message in messages)
    assert [span.parent for span in spans] == [None, None]


def test_error_marks_span(exporter: Any, vcr_cassette: Any) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        text_model(max_tokens=-3).invoke(QUESTION)

    span = only(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.ERROR
    # langchain-openai raises its own subclass of the SDK's BadRequestError.
    assert attributes_of(span)[semconv.ERROR_TYPE] == raised.type.__qualname__
    assert [event.name for event in span.events] == ["exception"]


def test_direct_sdk_call_after_langchain_is_traced(exporter: Any, vcr_cassette: Any) -> None:
    text_model().invoke(QUESTION)
    assert framework_call() is None
    sync_client().chat.completions.create(model=MODEL, messages=HELLO, max_tokens=16, seed=7)

    langchain_span, sdk_span = exporter.get_finished_spans()
    assert langchain_span.name == sdk_span.name == f"chat {MODEL}"
    assert semconv.OPENAI_API not in attributes_of(langchain_span)
    assert attributes_of(sdk_span)[semconv.OPENAI_API] == "chat.completions"
    assert sdk_span.parent is None


@pytest.mark.parametrize("capture_content", [True])
def test_capture_records_messages(exporter: Any, vcr_cassette: Any) -> None:
    messages = [SystemMessage("You are terse."), HumanMessage(QUESTION)]
    message = text_model().invoke(messages)

    attributes = attributes_of(only(exporter.get_finished_spans()))
    assert json.loads(attributes[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
    ]
    assert json.loads(attributes[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": message.content}],
            "finish_reason": message.response_metadata["finish_reason"],
        }
    ]


def test_content_off_by_default(exporter: Any, vcr_cassette: Any) -> None:
    message = text_model().invoke(QUESTION)

    dumped = json.dumps(attributes_of(only(exporter.get_finished_spans())))
    assert QUESTION not in dumped
    assert str(message.content) not in dumped
    assert API_KEY not in dumped
