"""The policy judges answers that LlamaIndex reads: failed evaluations and output guardrails act.

Both routes' answers come from the in-process transport (``_framework_policy``), because a real
server does not give a wrong answer or a leaked key on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

pytest.importorskip("llama_index.llms.openai_like")

from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike

import agentwatch
from _framework_policy import (
    BUFFERED_EVAL_FALLBACK,
    CONTEXT,
    EVAL_FALLBACK,
    LEAK,
    LOCAL,
    RIGHT,
    ROUTES,
    Routes,
    check_fallback_spans,
    evaluations,
    events_named,
)
from _openai_transport import httpx
from _spans import attributes_of
from agentwatch import GuardrailRule, Policy, semconv
from agentwatch.governance import GuardrailViolation

MESSAGES = [
    ChatMessage(role="system", content=CONTEXT),
    ChatMessage(role="user", content="How long is the refund window?"),
]


@pytest.fixture
def routes() -> Routes:
    return Routes()


@pytest.fixture
def use_policy(tracer_provider: TracerProvider) -> Iterator[Any]:
    def use(policy: Policy) -> None:
        agentwatch.instrument(
            tracer_provider=tracer_provider, policy=policy, integrations=["openai", "llamaindex"]
        )

    yield use
    agentwatch.uninstrument()


def llm(routes: Routes) -> OpenAILike:
    return OpenAILike(
        model="smollm2",
        api_base=LOCAL,
        api_key="sk-test",
        is_chat_model=True,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(routes)),
        async_http_client=openai.DefaultAsyncHttpxClient(transport=httpx.MockTransport(routes)),
    )


def check_eval_fallback(routes: Routes, exporter: Any, response: Any) -> None:
    assert response.message.content == RIGHT
    check_fallback_spans(routes, exporter)


def test_failed_evaluation_falls_back_inside_llamaindex(
    routes: Routes, exporter: Any, use_policy: Any
) -> None:
    use_policy(EVAL_FALLBACK)

    check_eval_fallback(routes, exporter, llm(routes).chat(MESSAGES))


async def test_failed_evaluation_falls_back_inside_llamaindex_async(
    routes: Routes, exporter: Any, use_policy: Any
) -> None:
    use_policy(EVAL_FALLBACK)

    check_eval_fallback(routes, exporter, await llm(routes).achat(MESSAGES))


def test_output_guardrail_blocks_inside_llamaindex(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(Policy(routes=ROUTES, guardrails=(GuardrailRule("secrets", "output", "block"),)))
    routes.local_answer = LEAK

    response = llm(routes).chat([ChatMessage(role="user", content="What key should I use?")])

    assert "sk-proj" not in (response.message.content or "")
    assert "secrets" in (response.message.content or "")
    (span,) = exporter.get_finished_spans()
    (result,) = events_named(span, semconv.EVENT_GUARDRAIL_RESULT)
    assert (result[semconv.GUARDRAIL_NAME], result[semconv.GUARDRAIL_STAGE]) == ("secrets", "output")
    assert result[semconv.GUARDRAIL_ACTION] == "block"
    assert attributes_of(span)[semconv.POLICY_ACTION] == "block"


def test_output_guardrail_raises_inside_llamaindex(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(Policy(routes=ROUTES, guardrails=(GuardrailRule("secrets", "output", "raise"),)))
    routes.local_answer = LEAK

    with pytest.raises(GuardrailViolation) as caught:
        llm(routes).chat([ChatMessage(role="user", content="What key should I use?")])

    assert (caught.value.check, caught.value.stage) == ("secrets", "output")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR


def test_buffered_stream_falls_back_inside_llamaindex(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(BUFFERED_EVAL_FALLBACK)
    routes.stream_answers()

    parts = list(llm(routes).stream_chat(MESSAGES))

    assert parts[-1].message.content == RIGHT
    assert [request.url.port for request in routes.requests] == [8090, 8091]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    framework, attempt = spans["chat smollm2"], spans["chat smollm2-approved"]
    assert attempt.parent is not None
    assert attempt.parent.span_id == framework.context.span_id
    assert evaluations(framework) == [("groundedness", False)]
    assert evaluations(attempt) == [("groundedness", True)]
