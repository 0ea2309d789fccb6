"""The LLM judge (T2) on a policy route: sampled, off the request path, its verdict on a child span.

The judged answer comes from the in-process transport; the judge's own calls go to the real local
server (SmolLM2 as the judge) and are replayed from a cassette.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from _openai_transport import Recorder, chat_completion, make_clients
from _spans import attributes_of
from agentwatch import EvaluatorRule, Policy, PolicyError, Route, semconv
from agentwatch._state import STATE

CONTEXT = "Refund requests must be filed within 30 days of delivery."
POLICY = Policy(
    routes={
        "local": Route("local", "smollm2-primary", base_url="http://127.0.0.1:8081/v1"),
        "judge": Route("judge", "smollm2", base_url="http://127.0.0.1:8080/v1"),
    },
    evaluators=(EvaluatorRule("groundedness", judge="judge", judge_sample=1.0),),
)


def test_judge_verdict_on_child_span(tracer_provider: TracerProvider, exporter: Any, replay: Any) -> None:
    recorder = Recorder()
    recorder.json(chat_completion("You have 30 days to file a refund request.", model="smollm2-primary"))
    client, _ = make_clients(recorder, base_url="http://127.0.0.1:8081/v1")
    agentwatch.instrument(tracer_provider=tracer_provider, policy=POLICY)
    try:
        with replay("judge_groundedness"):
            client.chat.completions.create(
                model="smollm2-primary",
                messages=[
                    {"role": "system", "content": CONTEXT},
                    {"role": "user", "content": "Refund window?"},
                ],
            )
            assert STATE.evaluation_worker is not None
            assert STATE.evaluation_worker.drain()
            assert STATE.inline is not None
            _, worker, _ = STATE.inline.judges["groundedness"]
            assert worker.join(timeout=60)
            completed = worker.completed
    finally:
        agentwatch.uninstrument()

    assert completed == 1
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"chat smollm2-primary", "evaluate groundedness"}  # the judge call is untraced
    chat, judged = spans["chat smollm2-primary"], spans["evaluate groundedness"]
    assert judged.parent.span_id == chat.context.span_id
    assert [link.context.span_id for link in judged.links] == [chat.context.span_id]
    (event,) = [dict(e.attributes) for e in judged.events]
    assert event[semconv.EVALUATION_TIER] == "T2"
    assert event[semconv.GEN_AI_EVALUATION_NAME] == "groundedness"
    assert event[semconv.GEN_AI_EVALUATION_SCORE_LABEL] in {
        "grounded",
        "unsupported",
        "contradicted",
        "error",
    }
    if event[semconv.GEN_AI_EVALUATION_SCORE_LABEL] != "grounded":
        assert event[semconv.EVALUATION_PASSED] is False  # an unusable verdict is never a pass
    t0 = [dict(e.attributes) for e in chat.events]
    assert [e[semconv.EVALUATION_TIER] for e in t0] in (["T0"], ["T1"])
    assert semconv.ROUTE_NAME in attributes_of(chat)


def test_judge_needs_known_route() -> None:
    with pytest.raises(PolicyError, match=r"Unknown route 'jury'\. Valid routes: local"):
        Policy(
            routes={"local": Route("local", "m")}, evaluators=(EvaluatorRule("groundedness", judge="jury"),)
        )


def test_judge_only_for_judged_evaluators() -> None:
    with pytest.raises(PolicyError, match=r"Evaluator 'tool_selection' has no LLM judge"):
        EvaluatorRule("tool_selection", judge="local")
