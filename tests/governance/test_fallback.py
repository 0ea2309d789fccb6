"""Fallback to the approved route, block and raise, on the plain OpenAI SDK.

The primary route's failures (HTTP errors, timeouts, a contradicted answer on demand) and the two
routes' answers come from the in-process transport, because a real server does not fail on
demand; the transport tells the routes apart by port.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import agentwatch
from _openai_transport import OPENAI_MAJOR, Recorder, chat_completion, chunk, httpx, make_clients, sse
from _spans import attributes_of
from agentwatch import EvaluatorRule, Fallback, GuardrailRule, Policy, PolicyError, Route, semconv
from agentwatch.governance import GuardrailViolation

LOCAL = "http://127.0.0.1:8080/v1"
APPROVED = "http://127.0.0.1:8081/v1"
CONTEXT = "Refund requests must be filed within 30 days."
MESSAGES = [
    {"role": "system", "content": CONTEXT},
    {"role": "user", "content": "How long is the refund window?"},
]
WRONG = "Refunds are available for 60 days."
RIGHT = "You have 30 days to file a refund request."


def policy(
    on: tuple[str, ...] = ("error", "timeout", "eval_fail"),
    on_fail: str = "fallback",
    timeout: float | None = None,
    max_attempts: int = 1,
) -> Policy:
    return Policy(
        routes={
            "local": Route("local", "smollm2", base_url=LOCAL, timeout=timeout),
            "approved": Route("approved", "smollm2-approved", base_url=APPROVED, approved=True),
        },
        evaluators=(EvaluatorRule("groundedness", threshold=0.8, on_fail=on_fail),),
        fallback=Fallback("approved", on, max_attempts),
    )


class Routes(Recorder):
    """Answer by port: 8080 is the local route, 8081 the approved one."""

    def __init__(self) -> None:
        super().__init__()
        self.local: Any = lambda request: httpx.Response(200, json=chat_completion(WRONG))
        self.approved: Any = lambda request: httpx.Response(
            200, json=chat_completion(RIGHT, model="smollm2-approved")
        )
        self.handler = lambda request: (self.local if request.url.port == 8080 else self.approved)(request)


@pytest.fixture
def routes() -> Routes:
    return Routes()


@pytest.fixture
def with_policy(tracer_provider: TracerProvider, request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("policy")
    agentwatch.instrument(tracer_provider=tracer_provider, policy=policy(**(marker.kwargs if marker else {})))
    yield
    agentwatch.uninstrument()


def chat_spans(exporter: Any) -> list[Any]:
    return sorted(
        (s for s in exporter.get_finished_spans() if s.name.startswith("chat ")), key=lambda s: s.start_time
    )


def events_named(span: Any, name: str) -> list[dict[str, Any]]:
    return [dict(event.attributes) for event in span.events if event.name == name]


def server_error(request: Any) -> Any:
    return httpx.Response(503, json={"error": {"message": "overloaded", "type": "server_error"}})


@pytest.mark.usefixtures("with_policy")
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_error_falls_back(routes: Routes, exporter: Any, mode: str) -> None:
    routes.local = server_error
    sync_client, async_client = make_clients(routes, base_url=LOCAL)

    with agentwatch.trajectory("agent"):
        if mode == "sync":
            response = sync_client.chat.completions.create(model="smollm2", messages=MESSAGES)
        else:
            response = await async_client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert response.model == "smollm2-approved"
    assert response.choices[0].message.content == RIGHT
    assert [request.url.port for request in routes.requests] == [8080, 8081]
    first, second = chat_spans(exporter)
    assert first.status.status_code is StatusCode.ERROR
    assert attributes_of(first)[semconv.ROUTE_NAME] == "local"
    assert events_named(first, semconv.EVENT_FALLBACK) == [
        {
            semconv.FALLBACK_FROM_ROUTE: "local",
            semconv.FALLBACK_TO_ROUTE: "approved",
            semconv.FALLBACK_FROM_MODEL: "smollm2",
            semconv.FALLBACK_TO_MODEL: "smollm2-approved",
            semconv.FALLBACK_REASON: "error:InternalServerError",
            semconv.FALLBACK_ATTEMPT: 1,
        }
    ]
    second_attributes = attributes_of(second)
    assert second.status.status_code is StatusCode.UNSET
    assert second.name == "chat smollm2-approved"
    assert second_attributes[semconv.ROUTE_NAME] == "approved"
    assert second_attributes[semconv.FALLBACK_ATTEMPT] == 1
    assert second_attributes[semconv.FALLBACK_REASON] == "error:InternalServerError"
    assert second_attributes[semconv.TRAJECTORY_STEP] == attributes_of(first)[semconv.TRAJECTORY_STEP] == 1
    assert second_attributes[semconv.SERVER_PORT] == 8081
    assert [link.context.span_id for link in second.links] == [first.context.span_id]
    root = next(s for s in exporter.get_finished_spans() if s.name == "invoke_agent agent")
    assert root.status.status_code is StatusCode.UNSET


@pytest.mark.usefixtures("with_policy")
def test_fallback_failure_raises_original(routes: Routes, exporter: Any) -> None:
    routes.local = server_error
    routes.approved = lambda request: httpx.Response(500, json={"error": {"message": "down too"}})
    client, _ = make_clients(routes, base_url=LOCAL)

    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert caught.value.status_code == 503
    first, second = chat_spans(exporter)
    assert first.status.status_code is StatusCode.ERROR
    assert second.status.status_code is StatusCode.ERROR
    assert attributes_of(second)[semconv.ROUTE_NAME] == "approved"


class Flaky:
    """The approved route: fails ``failures`` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def __call__(self, request: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            return server_error(request)
        return httpx.Response(200, json=chat_completion(RIGHT, model="smollm2-approved"))


@pytest.mark.usefixtures("with_policy")
@pytest.mark.policy(max_attempts=2)
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_fallback_retried_up_to_max_attempts(routes: Routes, exporter: Any, mode: str) -> None:
    routes.local = server_error
    routes.approved = Flaky(1)
    sync_client, async_client = make_clients(routes, base_url=LOCAL)

    if mode == "sync":
        response = sync_client.chat.completions.create(model="smollm2", messages=MESSAGES)
    else:
        response = await async_client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert response.choices[0].message.content == RIGHT
    assert [request.url.port for request in routes.requests] == [8080, 8081, 8081]
    first, second, third = chat_spans(exporter)
    assert [span.status.status_code for span in (first, second, third)] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert [attributes_of(span)[semconv.FALLBACK_ATTEMPT] for span in (second, third)] == [1, 2]
    assert {attributes_of(span)[semconv.TRAJECTORY_STEP] for span in (first, second, third)} == {1}
    assert [link.context.span_id for link in third.links] == [first.context.span_id]
    (retry,) = events_named(second, semconv.EVENT_FALLBACK)
    assert retry == {
        semconv.FALLBACK_FROM_ROUTE: "approved",
        semconv.FALLBACK_TO_ROUTE: "approved",
        semconv.FALLBACK_FROM_MODEL: "smollm2-approved",
        semconv.FALLBACK_TO_MODEL: "smollm2-approved",
        semconv.FALLBACK_REASON: "error:InternalServerError",
        semconv.FALLBACK_ATTEMPT: 2,
    }


@pytest.mark.usefixtures("with_policy")
@pytest.mark.policy(max_attempts=2)
def test_every_attempt_failing_raises_original(routes: Routes, exporter: Any) -> None:
    routes.local = server_error
    routes.approved = Flaky(5)
    client, _ = make_clients(routes, base_url=LOCAL)

    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="smollm2", messages=MESSAGES)

    # The first attempt and max_attempts fallback attempts, never more.
    assert [request.url.port for request in routes.requests] == [8080, 8081, 8081]
    spans = chat_spans(exporter)
    assert len(spans) == 3
    assert events_named(spans[2], semconv.EVENT_FALLBACK) == []


@pytest.mark.usefixtures("with_policy")
@pytest.mark.policy(max_attempts=3)
def test_wrong_fallback_answer_not_retried(routes: Routes, exporter: Any) -> None:
    routes.approved = lambda request: httpx.Response(
        200, json=chat_completion("Refunds take 90 days.", model="smollm2-approved")
    )
    client, _ = make_clients(routes, base_url=LOCAL)

    response = client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert response.choices[0].message.content == "Refunds take 90 days."
    assert len(routes.requests) == 2


@pytest.mark.usefixtures("with_policy")
def test_eval_fail_falls_back(routes: Routes, exporter: Any) -> None:
    client, _ = make_clients(routes, base_url=LOCAL)

    response = client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert response.choices[0].message.content == RIGHT
    assert response.model == "smollm2-approved"
    first, second = chat_spans(exporter)
    assert first.status.status_code is StatusCode.UNSET
    evaluation = events_named(first, semconv.EVENT_EVALUATION_RESULT)
    assert [(e[semconv.GEN_AI_EVALUATION_NAME], e[semconv.EVALUATION_PASSED]) for e in evaluation] == [
        ("groundedness", False)
    ]
    assert (
        events_named(first, semconv.EVENT_FALLBACK)[0][semconv.FALLBACK_REASON]
        == "evaluation_failed:groundedness"
    )
    assert attributes_of(first)[semconv.POLICY_ACTION] == "fallback"
    # Outside any run the attempt goes under the failed one, so one trace holds both.
    assert second.context.trace_id == first.context.trace_id
    assert second.parent is not None
    assert second.parent.span_id == first.context.span_id
    second_evaluation = events_named(second, semconv.EVENT_EVALUATION_RESULT)
    assert [(e[semconv.GEN_AI_EVALUATION_NAME], e[semconv.EVALUATION_PASSED]) for e in second_evaluation] == [
        ("groundedness", True)
    ]


@pytest.mark.usefixtures("with_policy")
def test_never_falls_back_twice(routes: Routes, exporter: Any) -> None:
    routes.approved = lambda request: httpx.Response(
        200, json=chat_completion("Refunds take 90 days.", model="smollm2-approved")
    )
    client, _ = make_clients(routes, base_url=LOCAL)

    response = client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert response.choices[0].message.content == "Refunds take 90 days."
    assert len(chat_spans(exporter)) == 2
    assert len(routes.requests) == 2


def test_unlisted_trigger_rejected() -> None:
    # on_fail = "fallback" would never fall back without eval_fail among the triggers.
    with pytest.raises(PolicyError, match="not 'eval_fail'"):
        policy(on=("error",))


@pytest.mark.usefixtures("with_policy")
@pytest.mark.policy(on_fail="block")
def test_block_returns_content_filter(routes: Routes, exporter: Any) -> None:
    client, _ = make_clients(routes, base_url=LOCAL)

    response = client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert response.choices[0].finish_reason == "content_filter"
    assert response.choices[0].message.content.startswith(
        "This response was withheld by the agentwatch policy (groundedness:"
    )
    assert response.model == "smollm2"
    (span,) = chat_spans(exporter)
    assert attributes_of(span)[semconv.POLICY_ACTION] == "block"


@pytest.mark.usefixtures("with_policy")
@pytest.mark.policy(on_fail="raise")
def test_raise_carries_check_and_reason(routes: Routes) -> None:
    client, _ = make_clients(routes, base_url=LOCAL)

    with pytest.raises(GuardrailViolation) as caught:
        client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert caught.value.check == "groundedness"
    assert "60" in caught.value.reason
    assert "30" in caught.value.reason


@pytest.mark.usefixtures("with_policy")
@pytest.mark.policy(timeout=0.5)
def test_timeout_falls_back(routes: Routes, exporter: Any) -> None:
    def slow(request: Any) -> Any:
        raise httpx.ReadTimeout("timed out", request=request)

    routes.local = slow
    client, _ = make_clients(routes, base_url=LOCAL)

    response = client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert response.model == "smollm2-approved"
    first, _ = chat_spans(exporter)
    assert (
        events_named(first, semconv.EVENT_FALLBACK)[0][semconv.FALLBACK_REASON] == "timeout:APITimeoutError"
    )
    assert routes.requests[0].extensions["timeout"]["read"] == 0.5


@pytest.mark.usefixtures("with_policy")
def test_stream_error_before_first_chunk_falls_back(routes: Routes, exporter: Any) -> None:
    routes.local = server_error
    payload = sse(
        [
            chunk({"role": "assistant", "content": RIGHT}, finish_reason="stop", model="smollm2-approved"),
            "[DONE]",
        ]
    )
    routes.approved = lambda request: httpx.Response(
        200, content=payload, headers={"content-type": "text/event-stream"}
    )
    client, _ = make_clients(routes, base_url=LOCAL)

    stream = client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    text = "".join(part.choices[0].delta.content or "" for part in stream)

    assert text == RIGHT
    first, second = chat_spans(exporter)
    assert first.status.status_code is StatusCode.ERROR
    assert attributes_of(second)[semconv.STREAM_END] == "exhausted"
    assert OPENAI_MAJOR in (2, 3)


@pytest.mark.usefixtures("instrumented")
def test_no_cost_without_policy(routes: Routes, exporter: Any) -> None:
    routes.local = lambda request: httpx.Response(
        200,
        json=chat_completion(RIGHT, usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}),
    )
    client, _ = make_clients(routes, base_url=LOCAL)

    client.chat.completions.create(model="smollm2", messages=MESSAGES)

    assert semconv.USAGE_COST not in attributes_of(chat_spans(exporter)[0])


def test_cost_from_route_prices(routes: Routes, exporter: Any, tracer_provider: TracerProvider) -> None:
    priced = Policy(
        routes={
            "local": Route(
                "local", "smollm2", base_url=LOCAL, input_price_per_million=2.0, output_price_per_million=8.0
            )
        }
    )
    routes.local = lambda request: httpx.Response(
        200,
        json=chat_completion(
            RIGHT, usage={"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
        ),
    )
    client, _ = make_clients(routes, base_url=LOCAL)
    agentwatch.instrument(tracer_provider=tracer_provider, policy=priced)
    try:
        client.chat.completions.create(model="smollm2", messages=MESSAGES)
    finally:
        agentwatch.uninstrument()

    assert attributes_of(chat_spans(exporter)[0])[semconv.USAGE_COST] == pytest.approx(0.006)


SECRET = "Use the key ghp_1234567890abcdefghijABCDEFGHIJ123456 for it."


def secrets_and_groundedness() -> Policy:
    return Policy(
        routes=policy().routes,
        evaluators=(EvaluatorRule("groundedness", threshold=0.8, on_fail="fallback"),),
        guardrails=(GuardrailRule("secrets", "output", "block"),),
        fallback=Fallback("approved", ("eval_fail",)),
    )


def test_blocked_answer_not_released_by_weaker_fallback(
    routes: Routes, exporter: Any, tracer_provider: TracerProvider
) -> None:
    # The answer leaks a key (block) and is ungrounded (fallback): the stronger action wins.
    routes.local = lambda request: httpx.Response(200, json=chat_completion(f"{WRONG} {SECRET}"))
    client, _ = make_clients(routes, base_url=LOCAL)
    agentwatch.instrument(tracer_provider=tracer_provider, policy=secrets_and_groundedness())
    try:
        response = client.chat.completions.create(model="smollm2", messages=MESSAGES)
    finally:
        agentwatch.uninstrument()

    assert response.choices[0].finish_reason == "content_filter"
    assert "ghp_" not in response.choices[0].message.content
    assert len(routes.requests) == 1
    (span,) = chat_spans(exporter)
    assert attributes_of(span)[semconv.POLICY_ACTION] == "block"
    assert events_named(span, semconv.EVENT_FALLBACK) == []


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_fallback_answer_still_guarded(
    routes: Routes, exporter: Any, tracer_provider: TracerProvider, mode: str
) -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
    routes.approved = lambda request: httpx.Response(
        200, json=chat_completion(f"{RIGHT} {SECRET}", model="smollm2-approved", usage=usage)
    )
    sync_client, async_client = make_clients(routes, base_url=LOCAL)
    agentwatch.instrument(tracer_provider=tracer_provider, policy=secrets_and_groundedness())
    try:
        if mode == "sync":
            response = sync_client.chat.completions.create(model="smollm2", messages=MESSAGES)
        else:
            response = await async_client.chat.completions.create(model="smollm2", messages=MESSAGES)
    finally:
        agentwatch.uninstrument()

    assert response.choices[0].finish_reason == "content_filter"
    assert "ghp_" not in response.choices[0].message.content
    # The blocked notice keeps the approved route's token usage: those tokens were spent.
    assert response.usage is not None
    assert response.usage.total_tokens == 21
    first, second = chat_spans(exporter)
    assert attributes_of(first)[semconv.POLICY_ACTION] == "fallback"
    assert attributes_of(second)[semconv.POLICY_ACTION] == "block"
