"""Policy evaluators run inline on LangChain and LlamaIndex chat spans too.

Both replay their suites' cassettes recorded from the real local server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import vcr
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from agentwatch import EvaluatorRule, Policy, semconv
from agentwatch._state import STATE

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
POLICY = Policy(evaluators=(EvaluatorRule("groundedness"), EvaluatorRule("task_completion")))


def replay(path: Path) -> Any:
    return vcr.VCR(record_mode="none", match_on=["method", "path", "body"]).use_cassette(str(path))


def evaluations(span: Any) -> list[str]:
    return [
        str(event.attributes[semconv.GEN_AI_EVALUATION_NAME])
        for event in span.events
        if event.name == semconv.EVENT_EVALUATION_RESULT
    ]


def settle() -> None:
    if STATE.evaluation_worker is not None:
        assert STATE.evaluation_worker.drain()


def test_langchain_chat_span_evaluated(tracer_provider: TracerProvider, exporter: Any) -> None:
    pytest.importorskip("langchain_openai")
    from integrations.langchain._langchain_models import QUESTION, text_model

    agentwatch.instrument(
        tracer_provider=tracer_provider, policy=POLICY, integrations=["openai", "langchain"]
    )
    try:
        with replay(CASSETTES / "test_langchain_chat" / "test_invoke.yaml"):
            text_model().invoke(QUESTION)
        settle()
    finally:
        agentwatch.uninstrument()

    (span,) = exporter.get_finished_spans()
    # A call outside any run is a one-step run, so task completion is judged on it as well.
    assert evaluations(span) == ["groundedness", "task_completion"]


def test_llamaindex_chat_span_judged_on_retrieved_evidence(
    tracer_provider: TracerProvider, exporter: Any
) -> None:
    pytest.importorskip("llama_index.llms.openai_like")
    from integrations.llamaindex._llamaindex import QUESTION, make_index, make_llm

    agentwatch.instrument(
        tracer_provider=tracer_provider, policy=POLICY, integrations=["openai", "llamaindex"]
    )
    try:
        with replay(CASSETTES / "test_llamaindex_query" / "test_query_trace.yaml"):
            with agentwatch.trajectory("rag") as run:
                make_index().as_query_engine(llm=make_llm(), similarity_top_k=1).query(QUESTION)
        settle()
    finally:
        agentwatch.uninstrument()

    assert [item.kind for item in run.evidence if item.kind == "retrieval"] == ["retrieval"]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert evaluations(spans["chat smollm2"]) == ["groundedness"]
    assert evaluations(spans["invoke_agent rag"]) == ["task_completion"]
