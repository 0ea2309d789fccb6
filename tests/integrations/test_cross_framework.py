"""A LlamaIndex query engine called from a LangGraph node stays in the graph's run.

The query replays the LlamaIndex suite's cassette recorded from the real local server; the graph
itself calls no model, so it needs no recording.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("llama_index.llms.openai_like")

import vcr
from langgraph.graph import END, START, StateGraph

import agentwatch
from _spans import attributes_of
from agentwatch import semconv

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
CASSETTE = CASSETTES / "test_llamaindex_query" / "test_query_trace.yaml"


class State(TypedDict):
    question: str
    answer: str


def test_llamaindex_query_inside_langgraph_node(tracer_provider: Any, exporter: Any) -> None:
    from integrations.llamaindex._llamaindex import QUESTION, make_index, make_llm

    def answer(state: State) -> dict[str, str]:
        engine = make_index().as_query_engine(llm=make_llm(), similarity_top_k=1)
        return {"answer": str(engine.query(state["question"]))}

    builder = StateGraph(State)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    graph = builder.compile(name="support-graph")

    agentwatch.instrument(tracer_provider=tracer_provider, integrations=["openai", "langchain", "llamaindex"])
    try:
        with vcr.VCR(record_mode="none", match_on=["method", "path", "body"]).use_cassette(str(CASSETTE)):
            result = graph.invoke({"question": QUESTION, "answer": ""})
    finally:
        agentwatch.uninstrument()

    assert result["answer"]
    spans = exporter.get_finished_spans()
    assert len({span.context.trace_id for span in spans}) == 1
    roots = [span for span in spans if span.parent is None]
    assert [span.name for span in roots] == ["invoke_agent support-graph"]
    steps = sorted(
        (attributes_of(span)[semconv.TRAJECTORY_STEP], span.name)
        for span in spans
        if semconv.TRAJECTORY_STEP in attributes_of(span)
    )
    assert [step for step, _ in steps] == list(range(1, len(steps) + 1))
    assert {name.split(" ")[0] for _, name in steps} >= {"retrieval", "embeddings", "chat"}
    assert not [span for span in spans if span.name.startswith("invoke_agent RetrieverQueryEngine")]
