"""Mirroring: a share of calls also goes to a candidate route, off the request path."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from _openai_transport import Recorder, chat_completion, make_clients
from _spans import attributes_of
from agentwatch import EvaluatorRule, Mirror, Policy, Route, semconv
from agentwatch._state import STATE
from agentwatch.governance._mirror import MirrorWorker

PRIMARY = "http://127.0.0.1:8081/v1"
# The mirror route is the real local server, replayed from a cassette; the primary route's answer
# comes from the in-process transport so the two are told apart.
SHADOW = "http://127.0.0.1:8080/v1"
MESSAGES = [
    {"role": "system", "content": "Refund requests must be filed within 30 days of delivery."},
    {"role": "user", "content": "How many days do I have to ask for a refund?"},
]
POLICY = Policy(
    routes={
        "local": Route("local", "smollm2-primary", base_url=PRIMARY),
        "shadow": Route("shadow", "smollm2", base_url=SHADOW),
    },
    evaluators=(EvaluatorRule("groundedness"),),
    mirror=Mirror("shadow", 1.0),
)


def test_mirror_span_linked_and_evaluated(
    tracer_provider: TracerProvider, exporter: Any, replay: Any
) -> None:
    recorder = Recorder()
    recorder.json(chat_completion("You have 30 days.", model="smollm2-primary"))
    client, _ = make_clients(recorder, base_url=PRIMARY)
    agentwatch.instrument(tracer_provider=tracer_provider, policy=POLICY)
    try:
        with replay("mirror_chat"):
            response = client.chat.completions.create(
                model="smollm2-primary", messages=MESSAGES, max_tokens=32, temperature=0.0, seed=7
            )
            assert STATE.mirror_worker is not None
            assert STATE.mirror_worker.drain()
            failed = STATE.mirror_worker.failed
    finally:
        agentwatch.uninstrument()

    assert failed == 0
    assert response.choices[0].message.content == "You have 30 days."
    spans = {attributes_of(span)[semconv.ROUTE_NAME]: span for span in exporter.get_finished_spans()}
    primary, mirror = spans["local"], spans["shadow"]
    assert semconv.MIRROR not in attributes_of(primary)
    assert attributes_of(mirror)[semconv.MIRROR] is True
    assert attributes_of(mirror)[semconv.GEN_AI_REQUEST_MODEL] == "smollm2"
    assert attributes_of(mirror)[semconv.TRAJECTORY_STEP] == attributes_of(primary)[semconv.TRAJECTORY_STEP]
    assert [link.context.span_id for link in mirror.links] == [primary.context.span_id]
    assert mirror.context.trace_id != primary.context.trace_id
    for span in (primary, mirror):
        names = [event.attributes[semconv.GEN_AI_EVALUATION_NAME] for event in span.events]
        assert names == ["groundedness"]


def test_full_queue_drops_and_counts() -> None:
    worker = MirrorWorker(metrics.get_meter("test"), max_pending=1)
    release = threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(10)

    try:
        assert worker.submit(blocking) is True
        assert started.wait(10)
        assert worker.submit(lambda: None) is True  # waits in the queue
        assert worker.submit(lambda: None) is False  # no room: dropped, not queued
        assert worker.dropped == 1
    finally:
        release.set()
        worker.stop()


def test_failed_job_keeps_worker_running() -> None:
    worker = MirrorWorker(metrics.get_meter("test"))
    ran = threading.Event()

    def broken() -> None:
        raise RuntimeError("mirror route down")

    try:
        worker.submit(broken)
        worker.submit(ran.set)
        assert ran.wait(10)
        assert worker.failed == 1
    finally:
        worker.stop()


@pytest.mark.parametrize("fraction", [0.0])
def test_zero_fraction_starts_no_worker(tracer_provider: TracerProvider, fraction: float) -> None:
    policy = Policy(routes={"shadow": Route("shadow", "smollm2")}, mirror=Mirror("shadow", fraction))
    agentwatch.instrument(tracer_provider=tracer_provider, policy=policy)
    try:
        assert STATE.mirror_worker is None
    finally:
        agentwatch.uninstrument()
