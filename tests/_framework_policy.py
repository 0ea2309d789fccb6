"""Routes, answers and span checks shared by the policy tests of the LangChain and LlamaIndex suites.

Both routes' responses come from the in-process transport, because a real server does not give a
wrong answer or a leaked key on demand. The transport tells the routes apart by port.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from _openai_transport import Recorder, chat_completion, chunk, httpx
from _spans import attributes_of
from agentwatch import EvaluatorRule, Fallback, Policy, Route, semconv

LOCAL = "http://127.0.0.1:8090/v1"
APPROVED = "http://127.0.0.1:8091/v1"
CONTEXT = "Refund requests must be filed within 30 days."
WRONG = "Refunds are available for 60 days."
RIGHT = "You have 30 days to file a refund request."
LEAK = "Sure, use the key sk-proj-Abc123Def456Ghi789Jkl012Mno345 for that."

ROUTES = {
    "local": Route("local", "smollm2", base_url=LOCAL),
    "approved": Route("approved", "smollm2-approved", base_url=APPROVED, approved=True),
}
EVAL_FALLBACK = Policy(
    routes=ROUTES,
    evaluators=(EvaluatorRule("groundedness", threshold=0.8, on_fail="fallback"),),
    fallback=Fallback("approved", ("eval_fail",)),
)
BUFFERED_EVAL_FALLBACK = Policy(
    routes=ROUTES, evaluators=EVAL_FALLBACK.evaluators, fallback=EVAL_FALLBACK.fallback, buffer_streams=True
)


class Routes(Recorder):
    """Respond by port: 8090 is the local route, 8091 the approved one."""

    def __init__(self, local_usage: dict[str, int] | None = None) -> None:
        super().__init__()
        self.local_answer = WRONG
        self.approved_answer = RIGHT
        self.local_usage = local_usage
        self.handler = self.answer

    def answer(self, request: Any) -> Any:
        if request.url.port == 8090:
            return httpx.Response(200, json=chat_completion(self.local_answer, usage=self.local_usage))
        return httpx.Response(200, json=chat_completion(self.approved_answer, model="smollm2-approved"))

    def stream_answers(self) -> None:
        """Respond with streams from now on: the wrong answer locally, the right one when approved."""
        local, approved = sse_answer(WRONG), sse_answer(RIGHT, "smollm2-approved")
        self.handler = lambda request: (local if request.url.port == 8090 else approved)(request)


def sse_answer(text: str, model_name: str = "smollm2") -> Any:
    """Return a transport handler that streams ``text`` in two chunks and a finish chunk."""
    events = (
        chunk({"role": "assistant", "content": text[: len(text) // 2]}, model=model_name),
        chunk({"content": text[len(text) // 2 :]}, model=model_name),
        chunk({}, finish_reason="stop", model=model_name),
    )
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    return lambda request: httpx.Response(
        200, content=body.encode(), headers={"content-type": "text/event-stream"}
    )


def events_named(span: Any, name: str) -> list[dict[str, Any]]:
    return [dict(event.attributes) for event in span.events if event.name == name]


def evaluations(span: Any) -> list[tuple[str, bool]]:
    return [
        (e[semconv.GEN_AI_EVALUATION_NAME], e[semconv.EVALUATION_PASSED])
        for e in events_named(span, semconv.EVENT_EVALUATION_RESULT)
    ]


def check_fallback_spans(routes: Routes, exporter: Any) -> tuple[ReadableSpan, ReadableSpan]:
    """Check the spans of a fallback after a failed evaluation, and return (framework, attempt)."""
    assert [request.url.port for request in routes.requests] == [8090, 8091]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"chat smollm2", "chat smollm2-approved"}
    framework, attempt = spans["chat smollm2"], spans["chat smollm2-approved"]
    assert framework.status.status_code is StatusCode.UNSET
    assert attempt.parent is not None
    assert attempt.parent.span_id == framework.context.span_id
    # Judged once, before the framework read the answer. The framework's end does not judge again.
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
    return framework, attempt
