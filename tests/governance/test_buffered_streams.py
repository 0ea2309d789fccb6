"""Buffered streams: with ``buffer_streams`` on, policy actions apply to streamed chat answers.

Streamed answers on demand (a wrong one, a leaked key, a stream that breaks) come from the
in-process transport, because a real server does not produce them on demand; the transport tells
the local route (8080) and the approved route (8081) apart by port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import agentwatch
from _openai_transport import Recorder, chunk, httpx, make_clients, sse
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
ROUTES = {
    "local": Route("local", "smollm2", base_url=LOCAL),
    "approved": Route("approved", "smollm2-approved", base_url=APPROVED, approved=True),
}


def streamed(text: str, model: str = "smollm2", pieces: int = 3) -> Any:
    """Return a handler that streams ``text`` in ``pieces`` content chunks."""
    size = -(-len(text) // pieces)
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    events: list[dict[str, Any] | str] = [chunk({"role": "assistant", "content": ""}, model=model)]
    events += [chunk({"content": part}, model=model) for part in parts]
    events += [chunk({}, finish_reason="stop", model=model), "[DONE]"]
    payload = sse(events)
    return lambda request: httpx.Response(200, content=payload, headers={"content-type": "text/event-stream"})


class Routes(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.local: Any = streamed(WRONG)
        self.approved: Any = streamed(RIGHT, model="smollm2-approved")
        self.handler = lambda request: (self.local if request.url.port == 8080 else self.approved)(request)


@pytest.fixture
def routes() -> Routes:
    return Routes()


@pytest.fixture
def use_policy(tracer_provider: TracerProvider) -> Iterator[Any]:
    def use(buffer: bool = True, **fields: Any) -> None:
        policy = Policy(routes=ROUTES, buffer_streams=buffer, **fields)
        agentwatch.instrument(tracer_provider=tracer_provider, policy=policy)

    yield use
    agentwatch.uninstrument()


EVAL_FALLBACK: dict[str, Any] = {
    "evaluators": (EvaluatorRule("groundedness", threshold=0.8, on_fail="fallback"),),
    "fallback": Fallback("approved", ("error", "eval_fail")),
}


def chat_spans(exporter: Any) -> list[Any]:
    return sorted(exporter.get_finished_spans(), key=lambda span: span.start_time)


def events_named(span: Any, name: str) -> list[dict[str, Any]]:
    return [dict(event.attributes) for event in span.events if event.name == name]


def evaluations(span: Any) -> list[tuple[str, bool]]:
    return [
        (e[semconv.GEN_AI_EVALUATION_NAME], e[semconv.EVALUATION_PASSED])
        for e in events_named(span, semconv.EVENT_EVALUATION_RESULT)
    ]


def text_of(chunks: list[Any]) -> str:
    return "".join(part.choices[0].delta.content or "" for part in chunks if part.choices)


def check_eval_fallback(routes: Routes, exporter: Any, chunks: list[Any]) -> None:
    assert text_of(chunks) == RIGHT
    assert {part.model for part in chunks} == {"smollm2-approved"}
    assert [request.url.port for request in routes.requests] == [8080, 8081]
    first, second = chat_spans(exporter)
    assert first.name == "chat smollm2"
    assert second.name == "chat smollm2-approved"
    assert first.status.status_code is StatusCode.UNSET
    assert attributes_of(first)[semconv.STREAM_END] == "exhausted"
    assert attributes_of(first)[semconv.POLICY_ACTION] == "fallback"
    assert evaluations(first) == [("groundedness", False)]
    (fallback,) = events_named(first, semconv.EVENT_FALLBACK)
    assert fallback[semconv.FALLBACK_REASON] == "evaluation_failed:groundedness"
    assert fallback[semconv.FALLBACK_TO_ROUTE] == "approved"
    assert attributes_of(second)[semconv.FALLBACK_ATTEMPT] == 1
    assert attributes_of(second)[semconv.STREAM_END] == "exhausted"
    assert evaluations(second) == [("groundedness", True)]
    assert [link.context.span_id for link in second.links] == [first.context.span_id]


def test_failed_streamed_answer_falls_back(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(**EVAL_FALLBACK)
    client, _ = make_clients(routes, base_url=LOCAL)

    stream = client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)

    assert isinstance(stream, openai.Stream)
    check_eval_fallback(routes, exporter, list(stream))


async def test_failed_streamed_answer_falls_back_async(
    routes: Routes, exporter: Any, use_policy: Any
) -> None:
    use_policy(**EVAL_FALLBACK)
    _, client = make_clients(routes, base_url=LOCAL)

    stream = await client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)

    assert isinstance(stream, openai.AsyncStream)
    check_eval_fallback(routes, exporter, [part async for part in stream])


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_passing_answer_replayed_unchanged(
    routes: Routes, exporter: Any, use_policy: Any, mode: str
) -> None:
    use_policy(**EVAL_FALLBACK)
    routes.local = streamed(RIGHT)
    sync_client, async_client = make_clients(routes, base_url=LOCAL)

    if mode == "sync":
        with sync_client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True) as stream:
            # Read and judged before the caller got the stream: the span has ended already.
            assert len(exporter.get_finished_spans()) == 1
            chunks = list(stream)
    else:
        stream = await async_client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)
        assert len(exporter.get_finished_spans()) == 1
        async with stream:
            chunks = [part async for part in stream]

    # Every chunk the server sent, in order: the opening role chunk, three pieces, the finish.
    assert len(chunks) == 5
    assert text_of(chunks) == RIGHT
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(routes.requests) == 1
    (span,) = chat_spans(exporter)
    assert evaluations(span) == [("groundedness", True)]
    assert attributes_of(span)[semconv.STREAM_END] == "exhausted"
    assert semconv.POLICY_ACTION not in attributes_of(span)


LEAK = "Sure, use the key sk-proj-Abc123Def456Ghi789Jkl012Mno345 for that."


def test_streamed_secret_blocked(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(guardrails=(GuardrailRule("secrets", "output", "block"),))
    routes.local = streamed(LEAK)
    client, _ = make_clients(routes, base_url=LOCAL)

    chunks = list(client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True))

    (only,) = chunks
    assert only.choices[0].finish_reason == "content_filter"
    assert "sk-proj" not in text_of(chunks)
    assert "secrets" in text_of(chunks)
    (span,) = chat_spans(exporter)
    (result,) = events_named(span, semconv.EVENT_GUARDRAIL_RESULT)
    assert result[semconv.GUARDRAIL_NAME] == "secrets"
    assert result[semconv.GUARDRAIL_STAGE] == "output"
    assert result[semconv.GUARDRAIL_ACTION] == "block"
    assert attributes_of(span)[semconv.POLICY_ACTION] == "block"


async def test_streamed_secret_raises(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(guardrails=(GuardrailRule("secrets", "output", "raise"),))
    routes.local = streamed(LEAK)
    _, client = make_clients(routes, base_url=LOCAL)

    with pytest.raises(GuardrailViolation) as caught:
        await client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)

    assert caught.value.check == "secrets"
    assert caught.value.stage == "output"
    (span,) = chat_spans(exporter)
    assert attributes_of(span)[semconv.POLICY_ACTION] == "raise"


def test_streamed_secret_redacted(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(guardrails=(GuardrailRule("secrets", "output", "redact"),))
    routes.local = streamed(LEAK, pieces=6)
    client, _ = make_clients(routes, base_url=LOCAL)

    text = text_of(list(client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)))

    assert "sk-proj-Abc123" not in text
    assert text.startswith("Sure, use the key ")
    assert text.endswith(" for that.")
    (span,) = chat_spans(exporter)
    assert attributes_of(span)[semconv.POLICY_ACTION] == "redact"


def test_redacted_prompt_restored_in_stream(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(guardrails=(GuardrailRule("pii", "input", "redact"),))

    def echo(request: Any) -> Any:
        sent = json.loads(request.content)["messages"][-1]["content"]
        return streamed(f"I will write to {sent.split()[-1]}", pieces=5)(request)

    routes.local = echo
    client, _ = make_clients(routes, base_url=LOCAL)
    messages = [{"role": "user", "content": "Please reply to jane.doe@example.com"}]

    text = text_of(list(client.chat.completions.create(model="smollm2", messages=messages, stream=True)))

    sent = json.loads(routes.requests[0].content)["messages"][-1]["content"]
    assert "jane.doe@example.com" not in sent
    assert text == "I will write to jane.doe@example.com"


def test_broken_stream_falls_back(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(**EVAL_FALLBACK)
    broken = Recorder()
    broken.broken_stream([chunk({"role": "assistant", "content": "Refunds are"})])
    routes.local = broken.handler
    client, _ = make_clients(routes, base_url=LOCAL)

    chunks = list(client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True))

    assert text_of(chunks) == RIGHT
    first, second = chat_spans(exporter)
    assert first.status.status_code is StatusCode.ERROR
    assert attributes_of(first)[semconv.STREAM_END] == "error"
    (fallback,) = events_named(first, semconv.EVENT_FALLBACK)
    assert fallback[semconv.FALLBACK_REASON].startswith("error:")
    assert second.status.status_code is StatusCode.UNSET


def test_unbuffered_stream_only_flags(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(buffer=False, **EVAL_FALLBACK)
    client, _ = make_clients(routes, base_url=LOCAL)

    stream = client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)
    assert exporter.get_finished_spans() == ()  # nothing read yet: the span is still open
    chunks = list(stream)

    assert text_of(chunks) == WRONG
    (span,) = chat_spans(exporter)
    assert evaluations(span) == [("groundedness", False)]
    assert events_named(span, semconv.EVENT_FALLBACK) == []
    assert attributes_of(span)[semconv.POLICY_ACTION] == "flag"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_unbuffered_stream_guardrail_only_flags(
    routes: Routes, exporter: Any, use_policy: Any, mode: str
) -> None:
    use_policy(buffer=False, guardrails=(GuardrailRule("secrets", "output", "block"),))
    routes.local = streamed(LEAK)
    sync_client, async_client = make_clients(routes, base_url=LOCAL)

    if mode == "sync":
        chunks = list(sync_client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True))
    else:
        stream = await async_client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True)
        chunks = [part async for part in stream]

    # Read chunk by chunk as it arrived, so the answer went out; the check is on record.
    assert text_of(chunks) == LEAK
    (span,) = chat_spans(exporter)
    (result,) = events_named(span, semconv.EVENT_GUARDRAIL_RESULT)
    assert result[semconv.GUARDRAIL_NAME] == "secrets"
    assert result[semconv.GUARDRAIL_STAGE] == "output"
    assert result[semconv.GUARDRAIL_PASSED] is False
    assert attributes_of(span)[semconv.POLICY_ACTION] == "flag"


def test_buffer_streams_from_toml(tmp_path: Any) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('buffer_streams = true\n\n[routes.local]\nmodel = "smollm2"\n')

    assert Policy.from_toml(path).buffer_streams is True


def test_buffer_streams_must_be_boolean() -> None:
    with pytest.raises(PolicyError, match="Invalid buffer_streams 'yes': expected true or false"):
        Policy.from_dict({"buffer_streams": "yes"})


def broken_stream(model: str) -> Any:
    recorder = Recorder()
    recorder.broken_stream([chunk({"role": "assistant", "content": "You have"}, model=model)])
    return recorder.handler


def overloaded(request: Any) -> Any:
    return httpx.Response(503, json={"error": {"message": "overloaded"}})


@pytest.mark.parametrize("failure", ["error status", "broken stream"])
def test_failed_fallback_replays_first_answer(
    routes: Routes, exporter: Any, use_policy: Any, failure: str
) -> None:
    # The approved route responds with 503, or starts a stream that breaks before its end.
    use_policy(**EVAL_FALLBACK)
    routes.approved = overloaded if failure == "error status" else broken_stream("smollm2-approved")
    client, _ = make_clients(routes, base_url=LOCAL)

    chunks = list(client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True))

    assert text_of(chunks) == WRONG
    first, second = chat_spans(exporter)
    assert first.status.status_code is StatusCode.UNSET
    assert second.status.status_code is StatusCode.ERROR


def test_broken_fallback_stream_retried(routes: Routes, exporter: Any, use_policy: Any) -> None:
    use_policy(
        evaluators=EVAL_FALLBACK["evaluators"],
        fallback=Fallback("approved", ("error", "eval_fail"), max_attempts=2),
    )
    answers = iter([broken_stream("smollm2-approved"), streamed(RIGHT, model="smollm2-approved")])
    routes.approved = lambda request: next(answers)(request)
    client, _ = make_clients(routes, base_url=LOCAL)

    chunks = list(client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True))

    assert text_of(chunks) == RIGHT
    assert [request.url.port for request in routes.requests] == [8080, 8081, 8081]
    spans = chat_spans(exporter)
    assert [attributes_of(span).get(semconv.FALLBACK_ATTEMPT) for span in spans] == [None, 1, 2]
