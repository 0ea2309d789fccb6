"""A framework that traces a model call itself gets one chat span, not two."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from _local import HELLO, MODEL, async_client, sync_client
from _spans import attributes_of
from agentwatch import semconv
from agentwatch._call import ModelCall, framework_call, framework_call_scope
from agentwatch._guard import raise_in_tests
from agentwatch.integrations.openai import CHAT
from agentwatch.integrations.openai._wrappers import _framework_owner

pytestmark = pytest.mark.usefixtures("instrumented")

# What llama-server counts for "refund policy" (cassettes/shared/embeddings.yaml).
EMBEDDING_TOKENS = 3
KWARGS: dict[str, Any] = {"model": MODEL, "messages": HELLO, "max_tokens": 16, "temperature": 0.0, "seed": 7}


def test_sdk_call_inside_framework_call_adds_no_span(exporter: Any, replay: Any) -> None:
    outer = ModelCall(semconv.OPERATION_CHAT, MODEL, [(semconv.GEN_AI_REQUEST_MODEL, MODEL)])
    with replay("chat"):
        with framework_call_scope(outer):
            sync_client().chat.completions.create(**KWARGS)
        outer.end()
        assert framework_call() is None
        sync_client().chat.completions.create(**KWARGS)

    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [f"chat {MODEL}", f"chat {MODEL}"]
    framework_span, direct_span = spans
    assert attributes_of(framework_span)[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert attributes_of(framework_span)[semconv.SERVER_PORT] == 8080
    assert semconv.GEN_AI_RESPONSE_ID not in attributes_of(framework_span)
    assert semconv.GEN_AI_RESPONSE_ID in attributes_of(direct_span)


def _embed_inside(outer: ModelCall, replay: Any, mode: str) -> None:
    """Make one embeddings call with ``outer`` as the framework call and its span current."""
    with replay("embeddings"), framework_call_scope(outer), outer.activated():
        if mode == "sync":
            sync_client().embeddings.create(model=MODEL, input="refund policy")
        else:
            asyncio.run(async_client().embeddings.create(model=MODEL, input="refund policy"))
    outer.end()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_embeddings_usage_lent_to_owner(exporter: Any, replay: Any, mode: str) -> None:
    # LlamaIndex's embedding classes drop the usage, so the SDK call underneath hands it over.
    outer = ModelCall(semconv.OPERATION_EMBEDDINGS, MODEL, [(semconv.GEN_AI_REQUEST_MODEL, MODEL)])

    _embed_inside(outer, replay, mode)

    [span] = exporter.get_finished_spans()
    assert span.name == f"embeddings {MODEL}"
    assert attributes_of(span)[semconv.GEN_AI_USAGE_INPUT_TOKENS] == EMBEDDING_TOKENS
    assert attributes_of(span)[semconv.LLM_TOKEN_COUNT_PROMPT] == EMBEDDING_TOKENS
    assert attributes_of(span)[semconv.SERVER_PORT] == 8080
    assert outer.usage == (EMBEDDING_TOKENS, None)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_embeddings_in_chat_own_span(exporter: Any, replay: Any, mode: str) -> None:
    # A chat model whose semantic cache embeds the prompt: that is a model call of its own, and its
    # tokens and server are not the chat call's.
    outer = ModelCall(semconv.OPERATION_CHAT, MODEL, [(semconv.GEN_AI_REQUEST_MODEL, MODEL)])

    _embed_inside(outer, replay, mode)

    embedding, chat = exporter.get_finished_spans()
    assert embedding.name == f"embeddings {MODEL}"
    assert embedding.parent is not None
    assert embedding.parent.span_id == chat.context.span_id
    assert attributes_of(embedding)[semconv.GEN_AI_USAGE_INPUT_TOKENS] == EMBEDDING_TOKENS
    assert chat.name == f"chat {MODEL}"
    assert dict(attributes_of(chat)) == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.TRAJECTORY_STEP: 1,
        semconv.GEN_AI_REQUEST_MODEL: MODEL,
        semconv.OPENINFERENCE_SPAN_KIND: "LLM",
        semconv.LLM_MODEL_NAME: MODEL,
    }
    assert outer.usage == (None, None)


def test_odd_client_url_stays_out_of_call() -> None:
    # A client whose base URL cannot be read: the framework's span goes without the server.
    class OddClient:
        @property
        def base_url(self) -> Any:
            raise RuntimeError("no base URL")

    outer = ModelCall(semconv.OPERATION_CHAT, MODEL, [(semconv.GEN_AI_REQUEST_MODEL, MODEL)])
    with raise_in_tests(False), framework_call_scope(outer):
        owner = _framework_owner(CHAT, SimpleNamespace(_client=OddClient()))
    outer.end()

    assert owner is outer
    assert outer.ended
