"""The policy judges answers that LlamaIndex reads: failed evaluations and output guardrails act.

Both routes' answers come from the in-process transport, because a real server does not give a
wrong answer or a leaked key on demand; the transport tells the routes apart by port.
"""

from __future__ import annotations

import json
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
from _openai_transport import Recorder, chat_completion, chunk, httpx
from _spans import attributes_of
from agentwatch import EvaluatorRule, Fallback, GuardrailRule, Policy, Route, semconv
from agentwatch.governance import GuardrailViolation

LOCAL = "http://127.0.0.1:8090/v1"
APPROVED = "http://127.0.0.1:8091/v1"
CONTEXT = "Refund requests must be filed within 30 days."
MESSAGES = [
    ChatMessage(role="system", content=CONTEXT),
    ChatMessage(role="user", content="How long is the refund window?"),
]
WRONG = "Refunds are available for 60 days."
RIGHT = "You have 30 days to file a refund request."
LEAK = "Sure, use the key sk-proj-Abc123Def456Ghi789Jkl012Mno345 for that."
ROUTES = {
    "local": Route("local", "smollm2", base_url=LOCAL),
    "approved": Route("approved", "smollm2-approved", base_url=APPROVED, approved=True),
}


class Routes(Recorder):
    """Answer by port: 8090 is the local route, 8091 the approved one."""

    def __init__(self) -> None:
        super().__init__()
        self.local_answer = WRONG
        self.handler = self.answer

    def answer(self, request: Any) -> Any:
        if request.url.port == 8090:
            return httpx.Response(200, json=chat_completion(self.local_answer))
        return httpx.Response(200, json=chat_completion(RIGHT, model="smollm2-approved"))


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


def events_named(span: Any, name: str) -> list[dict[str, Any]]:
    return [dict(event.attributes) for event in span.events if event.name == name]


def evaluations(span: Any) -> list[tuple[str, bool]]:
    return [
        (e[semconv.GEN_AI_EVALUATION_NAME], e[semconv.EVALUATION_PASSED])
        for e in events_named(span, semconv.EVENT_EVALUATION_RESULT)
    ]


EVAL_FALLBACK = Policy(
    routes=ROUTES,
    evaluators=(EvaluatorRule("groundedness", threshold=0.8, on_fail="fallback"),),
    fallback=Fallback("approved", ("eval_fail",)),
)


def check_eval_fallback(routes: Routes, exporter: Any, response: Any) -> None:
    assert response.message.content == RIGHT
    assert [request.url.port for request in routes.requests] == [8090, 8091]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"chat smollm2", "chat smollm2-approved"}
    framework, attempt = spans["chat smollm2"], spans["chat smollm2-approved"]
    assert framework.status.status_code is StatusCode.UNSET
    assert attempt.parent.span_id == framework.context.span_id
    assert evaluations(framework) == [("groundedness", False)]
    assert evaluations(attempt) == [("groundedness", True)]
    (fallback,) = events_named(framework, semconv.EVENT_FALLBACK)
    assert fallback[semconv.FALLBACK_REASON] == "evaluation_failed:groundedness"
    assert fallback[semconv.FALLBACK_FROM_ROUTE] == "local"
    assert fallback[semconv.FALLBACK_TO_ROUTE] == "approved"
    assert attributes_of(framework)[semconv.ROUTE_NAME] == "local"
    assert attributes_of(framework)[semconv.POLICY_ACTION] == "fallback"
    assert attributes_of(attempt)[semconv.ROUTE_NAME] == "approved"
    assert (
        attributes_of(attempt)[semconv.TRAJECTORY_STEP] == attributes_of(framework)[semconv.TRAJECTORY_STEP]
    )


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


def sse_answer(text: str, model_name: str = "smollm2") -> Any:
    events = (
        chunk({"role": "assistant", "content": text[: len(text) // 2]}, model=model_name),
        chunk({"content": text[len(text) // 2 :]}, model=model_name),
        chunk({}, finish_reason="stop", model=model_name),
    )
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    return lambda request: httpx.Response(
        200, content=body.encode(), headers={"content-type": "text/event-stream"}
    )


def test_buffered_stream_falls_back_inside_llamaindex(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(
        Policy(
            routes=ROUTES,
            evaluators=EVAL_FALLBACK.evaluators,
            fallback=EVAL_FALLBACK.fallback,
            buffer_streams=True,
        )
    )
    local, approved = sse_answer(WRONG), sse_answer(RIGHT, "smollm2-approved")
    routes.handler = lambda request: (local if request.url.port == 8090 else approved)(request)

    parts = list(llm(routes).stream_chat(MESSAGES))

    assert parts[-1].message.content == RIGHT
    assert [request.url.port for request in routes.requests] == [8090, 8091]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    framework, attempt = spans["chat smollm2"], spans["chat smollm2-approved"]
    assert attempt.parent is not None
    assert attempt.parent.span_id == framework.context.span_id
    assert evaluations(framework) == [("groundedness", False)]
    assert evaluations(attempt) == [("groundedness", True)]
