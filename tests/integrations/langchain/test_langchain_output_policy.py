"""The policy judges answers that LangChain reads: failed evaluations and output guardrails act.

Both routes' answers come from the in-process transport (``_framework_policy``), because a real
server does not give a wrong answer or a leaked key on demand. The mirror test replays a cassette
recorded from the real local server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

pytest.importorskip("langchain_openai")

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

import agentwatch
from _framework_policy import (
    BUFFERED_EVAL_FALLBACK,
    CONTEXT,
    EVAL_FALLBACK,
    LEAK,
    LOCAL,
    RIGHT,
    ROUTES,
    WRONG,
    Routes,
    check_fallback_spans,
    evaluations,
    events_named,
    sse_answer,
)
from _openai_transport import Recorder, chat_completion, chunk, httpx
from _spans import attributes_of
from agentwatch import EvaluatorRule, GuardrailRule, Mirror, Policy, Route, semconv
from agentwatch._state import STATE
from agentwatch.governance import GuardrailViolation

MESSAGES = [SystemMessage(CONTEXT), HumanMessage("How long is the refund window?")]
USAGE = {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43}


@pytest.fixture
def routes() -> Routes:
    return Routes(local_usage=USAGE)


@pytest.fixture
def use_policy(tracer_provider: TracerProvider) -> Iterator[Any]:
    def use(policy: Policy) -> None:
        agentwatch.instrument(
            tracer_provider=tracer_provider, policy=policy, integrations=["openai", "langchain"]
        )

    yield use
    agentwatch.uninstrument()


def model(routes: Routes, base_url: str = LOCAL) -> ChatOpenAI:
    return ChatOpenAI(
        model="smollm2",
        base_url=base_url,
        api_key="sk-test",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(routes)),
        http_async_client=openai.DefaultAsyncHttpxClient(transport=httpx.MockTransport(routes)),
    )


def check_eval_fallback(routes: Routes, exporter: Any, message: Any) -> None:
    assert message.content == RIGHT
    assert message.response_metadata["model_name"] == "smollm2-approved"
    _, attempt = check_fallback_spans(routes, exporter)
    assert attributes_of(attempt)[semconv.FALLBACK_ATTEMPT] == 1


def test_failed_evaluation_falls_back_inside_langchain(
    routes: Routes, exporter: Any, use_policy: Any
) -> None:
    use_policy(EVAL_FALLBACK)

    check_eval_fallback(routes, exporter, model(routes).invoke(MESSAGES))


async def test_failed_evaluation_falls_back_inside_langchain_async(
    routes: Routes, exporter: Any, use_policy: Any
) -> None:
    use_policy(EVAL_FALLBACK)

    check_eval_fallback(routes, exporter, await model(routes).ainvoke(MESSAGES))


def test_grounded_answer_kept_and_judged_once(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(EVAL_FALLBACK)
    routes.local_answer = RIGHT

    message = model(routes).invoke(MESSAGES)

    assert message.content == RIGHT
    assert message.response_metadata["model_name"] == "smollm2"
    (span,) = exporter.get_finished_spans()
    assert evaluations(span) == [("groundedness", True)]
    assert events_named(span, semconv.EVENT_FALLBACK) == []
    assert semconv.POLICY_ACTION not in attributes_of(span)


def test_failed_fallback_keeps_first_answer(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(EVAL_FALLBACK)
    routes.handler = lambda request: (
        httpx.Response(200, json=chat_completion(WRONG))
        if request.url.port == 8090
        else httpx.Response(503, json={"error": {"message": "overloaded"}})
    )

    message = model(routes).invoke(MESSAGES)

    assert message.content == WRONG
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["chat smollm2"].status.status_code is StatusCode.UNSET
    assert spans["chat smollm2-approved"].status.status_code is StatusCode.ERROR


def test_streamed_answer_only_flagged(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(EVAL_FALLBACK)
    sse_body = "".join(
        f"data: {json.dumps(event)}\n\n"
        for event in (chunk({"role": "assistant", "content": WRONG}), chunk({}, finish_reason="stop"))
    )
    routes.handler = lambda request: httpx.Response(
        200, content=(sse_body + "data: [DONE]\n\n").encode(), headers={"content-type": "text/event-stream"}
    )

    text = "".join(str(part.content) for part in model(routes).stream(MESSAGES))

    # LangChain hands each chunk on as it arrives, so the failure is recorded and nothing else.
    assert text == WRONG
    assert len(routes.requests) == 1
    (span,) = exporter.get_finished_spans()
    assert evaluations(span) == [("groundedness", False)]
    assert events_named(span, semconv.EVENT_FALLBACK) == []
    assert attributes_of(span)[semconv.POLICY_ACTION] == "flag"


def test_fallback_answer_guarded_inside_langchain(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(
        Policy(
            routes=ROUTES,
            evaluators=EVAL_FALLBACK.evaluators,
            guardrails=(GuardrailRule("secrets", "output", "block"),),
            fallback=EVAL_FALLBACK.fallback,
        )
    )
    routes.approved_answer = f"{RIGHT} {LEAK}"

    message = model(routes).invoke(MESSAGES)

    assert "sk-proj" not in message.content
    assert message.response_metadata["finish_reason"] == "content_filter"
    assert [request.url.port for request in routes.requests] == [8090, 8091]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert attributes_of(spans["chat smollm2"])[semconv.POLICY_ACTION] == "fallback"
    assert attributes_of(spans["chat smollm2-approved"])[semconv.POLICY_ACTION] == "block"


def test_streamed_secret_flagged_inside_langchain(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(output_guardrail("block"))
    sse_body = "".join(
        f"data: {json.dumps(event)}\n\n"
        for event in (chunk({"role": "assistant", "content": LEAK}), chunk({}, finish_reason="stop"))
    )
    routes.handler = lambda request: httpx.Response(
        200, content=(sse_body + "data: [DONE]\n\n").encode(), headers={"content-type": "text/event-stream"}
    )

    text = "".join(str(part.content) for part in model(routes).stream("What key should I use?"))

    assert text == LEAK  # LangChain handed each chunk on as it arrived
    (span,) = exporter.get_finished_spans()
    (result,) = events_named(span, semconv.EVENT_GUARDRAIL_RESULT)
    assert (result[semconv.GUARDRAIL_NAME], result[semconv.GUARDRAIL_STAGE]) == ("secrets", "output")
    assert result[semconv.GUARDRAIL_PASSED] is False
    assert attributes_of(span)[semconv.POLICY_ACTION] == "flag"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_buffered_stream_falls_back_inside_langchain(
    routes: Routes, exporter: Any, use_policy: Any, mode: str
) -> None:
    use_policy(BUFFERED_EVAL_FALLBACK)
    routes.stream_answers()

    if mode == "sync":
        parts = list(model(routes).stream(MESSAGES))
    else:
        parts = [part async for part in model(routes).astream(MESSAGES)]

    assert "".join(str(part.content) for part in parts) == RIGHT
    assert [request.url.port for request in routes.requests] == [8090, 8091]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    framework, attempt = spans["chat smollm2"], spans["chat smollm2-approved"]
    assert attempt.parent is not None
    assert attempt.parent.span_id == framework.context.span_id
    assert evaluations(framework) == [("groundedness", False)]
    assert evaluations(attempt) == [("groundedness", True)]
    (fallback,) = events_named(framework, semconv.EVENT_FALLBACK)
    assert fallback[semconv.FALLBACK_REASON] == "evaluation_failed:groundedness"


def test_buffered_stream_blocked_inside_langchain(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(
        Policy(routes=ROUTES, guardrails=(GuardrailRule("secrets", "output", "block"),), buffer_streams=True)
    )
    routes.handler = sse_answer(LEAK)

    parts = list(model(routes).stream("What key should I use?"))

    text = "".join(str(part.content) for part in parts)
    assert "sk-proj" not in text
    assert "secrets" in text
    assert "content_filter" in [part.response_metadata.get("finish_reason") for part in parts]
    (span,) = exporter.get_finished_spans()
    assert attributes_of(span)[semconv.POLICY_ACTION] == "block"


def output_guardrail(action: str) -> Policy:
    return Policy(routes=ROUTES, guardrails=(GuardrailRule("secrets", "output", action),))


def test_output_guardrail_blocks_inside_langchain(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(output_guardrail("block"))
    routes.local_answer = LEAK

    message = model(routes).invoke("What key should I use?")

    assert "sk-proj" not in message.content
    assert "secrets" in message.content
    assert message.response_metadata["finish_reason"] == "content_filter"
    (span,) = exporter.get_finished_spans()
    (result,) = events_named(span, semconv.EVENT_GUARDRAIL_RESULT)
    assert result[semconv.GUARDRAIL_NAME] == "secrets"
    assert result[semconv.GUARDRAIL_STAGE] == "output"
    assert result[semconv.GUARDRAIL_ACTION] == "block"
    assert result[semconv.GUARDRAIL_PASSED] is False
    assert attributes_of(span)[semconv.POLICY_ACTION] == "block"
    assert span.status.status_code is StatusCode.UNSET
    # The withheld answer's tokens were spent, so the span keeps them.
    assert attributes_of(span)[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 31
    assert attributes_of(span)[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 12


async def test_output_guardrail_raises_inside_langchain(
    routes: Routes, exporter: Any, use_policy: Any
) -> None:
    use_policy(output_guardrail("raise"))
    routes.local_answer = LEAK

    with pytest.raises(GuardrailViolation) as caught:
        await model(routes).ainvoke("What key should I use?")

    assert caught.value.check == "secrets"
    assert caught.value.stage == "output"
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes_of(span)[semconv.ERROR_TYPE] == "GuardrailViolation"


def test_output_guardrail_redacts_inside_langchain(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(output_guardrail("redact"))
    routes.local_answer = LEAK

    message = model(routes).invoke("What key should I use?")

    assert "sk-proj-Abc123" not in message.content
    assert message.content.startswith("Sure, use the key ")
    (span,) = exporter.get_finished_spans()
    assert attributes_of(span)[semconv.POLICY_ACTION] == "redact"


def test_langchain_call_mirrored(tracer_provider: TracerProvider, exporter: Any, replay: Any) -> None:
    primary = Recorder()
    primary.json(chat_completion("You have 30 days.", model="smollm2-primary"))
    policy = Policy(
        routes={
            "primary": Route("primary", "smollm2-primary", base_url="http://127.0.0.1:8081/v1"),
            "shadow": Route("shadow", "smollm2", base_url="http://127.0.0.1:8080/v1"),
        },
        evaluators=(EvaluatorRule("groundedness"),),
        mirror=Mirror("shadow", 1.0),
    )
    chat = ChatOpenAI(
        model="smollm2-primary",
        base_url="http://127.0.0.1:8081/v1",
        api_key="sk-test",
        max_retries=0,
        max_tokens=32,
        temperature=0.0,
        seed=7,
        http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(primary)),
    )
    agentwatch.instrument(
        tracer_provider=tracer_provider, policy=policy, integrations=["openai", "langchain"]
    )
    try:
        with replay("mirror_langchain_chat"):
            message = chat.invoke(
                [SystemMessage(CONTEXT), HumanMessage("How many days do I have to ask for a refund?")]
            )
            assert STATE.mirror_worker is not None
            assert STATE.mirror_worker.drain()
            failed = STATE.mirror_worker.failed
    finally:
        agentwatch.uninstrument()

    assert failed == 0
    assert message.content == "You have 30 days."
    spans = {attributes_of(span).get(semconv.ROUTE_NAME): span for span in exporter.get_finished_spans()}
    framework, mirror = spans["primary"], spans["shadow"]
    assert attributes_of(mirror)[semconv.MIRROR] is True
    assert semconv.MIRROR not in attributes_of(framework)
    assert [link.context.span_id for link in mirror.links] == [framework.context.span_id]
    assert mirror.context.trace_id != framework.context.trace_id
    assert attributes_of(mirror)[semconv.TRAJECTORY_STEP] == attributes_of(framework)[semconv.TRAJECTORY_STEP]
    # Both answers are judged, so the report can compare the routes.
    assert [name for name, _ in evaluations(framework)] == ["groundedness"]
    assert [name for name, _ in evaluations(mirror)] == ["groundedness"]
