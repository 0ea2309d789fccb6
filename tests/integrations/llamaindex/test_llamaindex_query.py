"""Query engines over the real local model: one trace per query, one chat span per model call.

Responses are replayed from cassettes recorded from llama.cpp's server with SmolLM2, which serves
both chat completions and embeddings; LlamaIndex's OpenAI LLM and embedding classes call the
real OpenAI SDK underneath.
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import openai
import pytest

pytest.importorskip("llama_index.core")
pytest.importorskip("llama_index.llms.openai_like")
pytest.importorskip("llama_index.embeddings.openai_like")
from _llamaindex import DOCUMENTS, QUESTION, make_embed_model, make_index, make_llm
from llama_index.core import Document, VectorStoreIndex
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

import agentwatch
from _local import HELLO, MODEL, sync_client
from _spans import assert_attributes, attributes_of, only
from agentwatch import semconv

pytestmark = pytest.mark.usefixtures("instrumented", "vcr_cassette")

SPAN_NAMES = [
    "invoke_agent RetrieverQueryEngine",
    "retrieval VectorIndexRetriever",
    f"embeddings {MODEL}",
    "synthesize CompactAndRefine",
    f"chat {MODEL}",
]


def query_spans(exporter: Any) -> list[ReadableSpan]:
    """Return the spans of the last query, leaving out the embeddings of the index build."""
    spans = list(exporter.get_finished_spans())
    root = next(span for span in spans if span.name.startswith("invoke_agent"))
    return [span for span in spans if span.context.trace_id == root.context.trace_id]


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def tracker_of(handle: agentwatch.Instrumentation) -> Any:
    return handle.integrations["llamaindex"]._tracker  # type: ignore[attr-defined]


def assert_query_tree(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = by_name(spans)
    assert sorted(named) == sorted(SPAN_NAMES)
    root = named["invoke_agent RetrieverQueryEngine"]
    retrieval = named["retrieval VectorIndexRetriever"]
    synthesize = named["synthesize CompactAndRefine"]
    assert root.parent is None
    assert retrieval.parent is not None and retrieval.parent.span_id == root.context.span_id
    assert synthesize.parent is not None and synthesize.parent.span_id == root.context.span_id
    embedding = named[f"embeddings {MODEL}"]
    assert embedding.parent is not None and embedding.parent.span_id == retrieval.context.span_id
    chat = named[f"chat {MODEL}"]
    assert chat.parent is not None and chat.parent.span_id == synthesize.context.span_id
    return named


def chat_attributes(span: ReadableSpan, label: str, stream: bool = False) -> dict[str, Any]:
    """Return the expected attributes of a chat span; response values come from the span, checked for type."""
    actual = attributes_of(span)

    expected: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.LLM_PROVIDER: "openai",
        semconv.GEN_AI_REQUEST_MODEL: MODEL,
        semconv.LLM_MODEL_NAME: MODEL,
        semconv.GEN_AI_REQUEST_TEMPERATURE: 0.0,
        semconv.GEN_AI_REQUEST_MAX_TOKENS: 16,
        semconv.OPENINFERENCE_SPAN_KIND: "LLM",
        semconv.LLAMAINDEX_SPAN: label,
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: 8080,
        semconv.TRAJECTORY_STEP: 3,
    }
    if stream:
        # llama-server sends no usage in a stream unless asked, so the counts stay absent.
        expected[semconv.REQUEST_STREAM] = True
        expected[semconv.STREAM_END] = "exhausted"
        expected[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] = actual.get(semconv.RESPONSE_TIME_TO_FIRST_CHUNK)
        assert isinstance(expected[semconv.RESPONSE_TIME_TO_FIRST_CHUNK], float)
        for key in (semconv.GEN_AI_RESPONSE_ID, semconv.GEN_AI_RESPONSE_MODEL):
            expected[key] = actual.get(key)
            assert isinstance(expected[key], str)
        # The finish reason comes from the last chunk.
        assert actual.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS) in (["stop"], ["length"])
        expected[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = actual[semconv.GEN_AI_RESPONSE_FINISH_REASONS]
        return expected
    for key in (semconv.GEN_AI_RESPONSE_ID, semconv.GEN_AI_RESPONSE_MODEL):
        expected[key] = actual.get(key)
        assert isinstance(expected[key], str)
    assert actual.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS) in (["stop"], ["length"])
    expected[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = actual[semconv.GEN_AI_RESPONSE_FINISH_REASONS]
    input_tokens = actual.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
    output_tokens = actual.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    assert isinstance(input_tokens, int) and input_tokens > 0
    assert isinstance(output_tokens, int) and output_tokens > 0
    expected.update(
        {
            semconv.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
            semconv.LLM_TOKEN_COUNT_PROMPT: input_tokens,
            semconv.LLM_TOKEN_COUNT_COMPLETION: output_tokens,
            semconv.LLM_TOKEN_COUNT_TOTAL: input_tokens + output_tokens,
        }
    )
    return expected


def test_query_trace(exporter: Any, instrumented: agentwatch.Instrumentation) -> None:
    response = make_index().as_query_engine(llm=make_llm(), similarity_top_k=1).query(QUESTION)

    assert isinstance(response.response, str)
    named = assert_query_tree(query_spans(exporter))
    root = named["invoke_agent RetrieverQueryEngine"]
    assert root.status.status_code is StatusCode.UNSET
    assert_attributes(
        root,
        {
            semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
            semconv.GEN_AI_AGENT_NAME: "RetrieverQueryEngine",
            semconv.OPENINFERENCE_SPAN_KIND: "AGENT",
            semconv.LLAMAINDEX_SPAN: "RetrieverQueryEngine.query",
            semconv.RUN_STEPS: 3,
        },
    )
    assert_attributes(
        named["retrieval VectorIndexRetriever"],
        {
            semconv.GEN_AI_OPERATION_NAME: "retrieval",
            semconv.OPENINFERENCE_SPAN_KIND: "RETRIEVER",
            semconv.LLAMAINDEX_SPAN: "VectorIndexRetriever.retrieve",
            semconv.TRAJECTORY_STEP: 1,
            semconv.RETRIEVAL_DOCUMENT_COUNT: 1,
        },
    )
    embedding = named[f"embeddings {MODEL}"]
    assert_attributes(
        embedding,
        {
            semconv.GEN_AI_OPERATION_NAME: "embeddings",
            semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.LLM_PROVIDER: "openai",
            semconv.GEN_AI_REQUEST_MODEL: MODEL,
            semconv.LLM_MODEL_NAME: MODEL,
            semconv.OPENINFERENCE_SPAN_KIND: "EMBEDDING",
            semconv.LLAMAINDEX_SPAN: "OpenAILikeEmbedding.get_query_embedding",
            semconv.SERVER_ADDRESS: "127.0.0.1",
            semconv.SERVER_PORT: 8080,
            semconv.TRAJECTORY_STEP: 2,
            semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: attributes_of(embedding)[
                semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT
            ],
            # LlamaIndex drops the usage, so the SDK call underneath hands it to this span.
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 11,
            semconv.LLM_TOKEN_COUNT_PROMPT: 11,
        },
    )
    chat = named[f"chat {MODEL}"]
    assert chat.kind is SpanKind.CLIENT
    assert_attributes(chat, chat_attributes(chat, "OpenAILike.chat"))
    assert tracker_of(instrumented).entries == {}


async def test_async_query(exporter: Any) -> None:
    engine = make_index().as_query_engine(llm=make_llm(), similarity_top_k=1)

    await engine.aquery(QUESTION)

    named = assert_query_tree(query_spans(exporter))
    chat = named[f"chat {MODEL}"]
    assert_attributes(chat, chat_attributes(chat, "OpenAILike.achat"))


def test_stream_query(exporter: Any, instrumented: agentwatch.Instrumentation) -> None:
    response = (
        make_index().as_query_engine(llm=make_llm(), similarity_top_k=1, streaming=True).query(QUESTION)
    )
    # LlamaIndex starts the model call only when the stream is read, after query() returned.
    assert not [span for span in exporter.get_finished_spans() if span.name.startswith("invoke_agent")]

    text = "".join(response.response_gen)

    assert text
    named = assert_query_tree(query_spans(exporter))
    chat = named[f"chat {MODEL}"]
    assert_attributes(chat, chat_attributes(chat, "OpenAILike.stream_chat", stream=True))
    root = named["invoke_agent RetrieverQueryEngine"]
    assert attributes_of(root)[semconv.STREAM_END] == "exhausted"
    assert attributes_of(root)[semconv.RUN_STEPS] == 3
    assert root.end_time is not None
    assert chat.end_time is not None
    assert root.end_time >= chat.end_time
    assert tracker_of(instrumented).entries == {}
    assert tracker_of(instrumented).streams == {}


async def test_async_stream_query(exporter: Any, instrumented: agentwatch.Instrumentation) -> None:
    engine = make_index().as_query_engine(llm=make_llm(), similarity_top_k=1, streaming=True, use_async=True)

    response = await engine.aquery(QUESTION)
    chunks = [chunk async for chunk in response.async_response_gen()]

    assert chunks
    named = assert_query_tree(query_spans(exporter))
    chat = named[f"chat {MODEL}"]
    assert_attributes(chat, chat_attributes(chat, "OpenAILike.astream_chat", stream=True))
    assert attributes_of(named["invoke_agent RetrieverQueryEngine"])[semconv.STREAM_END] == "exhausted"
    assert tracker_of(instrumented).streams == {}


def test_stream_query_stopped_early(exporter: Any, instrumented: agentwatch.Instrumentation) -> None:
    response = (
        make_index().as_query_engine(llm=make_llm(), similarity_top_k=1, streaming=True).query(QUESTION)
    )

    for _ in response.response_gen:
        break
    del response
    gc.collect()

    named = assert_query_tree(query_spans(exporter))
    for name in ("invoke_agent RetrieverQueryEngine", f"chat {MODEL}"):
        assert named[name].status.status_code is StatusCode.UNSET
        assert attributes_of(named[name])[semconv.STREAM_END] in ("closed", "abandoned")
    assert tracker_of(instrumented).streams == {}


def test_stream_query_never_read(exporter: Any) -> None:
    response = (
        make_index().as_query_engine(llm=make_llm(), similarity_top_k=1, streaming=True).query(QUESTION)
    )

    del response
    gc.collect()

    spans = query_spans(exporter)
    root = only(spans, "invoke_agent RetrieverQueryEngine")
    assert attributes_of(root)[semconv.STREAM_END] == "abandoned"
    assert not [span for span in spans if span.name.startswith("chat")]


def test_stream_chat_then_direct_call(exporter: Any) -> None:
    from llama_index.core.llms import ChatMessage

    chunks = list(make_llm().stream_chat([ChatMessage(role="user", content=HELLO[0]["content"])]))
    sync_client().chat.completions.create(model=MODEL, messages=HELLO, max_tokens=16, temperature=0.0, seed=7)

    assert chunks
    framework, direct = exporter.get_finished_spans()
    assert framework.name == direct.name == f"chat {MODEL}"
    assert attributes_of(framework)[semconv.LLAMAINDEX_SPAN] == "OpenAILike.stream_chat"
    assert attributes_of(framework)[semconv.STREAM_END] == "exhausted"
    assert semconv.LLAMAINDEX_SPAN not in attributes_of(direct)
    assert attributes_of(direct)[semconv.OPENAI_API] == "chat.completions"


def test_chat_then_direct_call(exporter: Any) -> None:
    from llama_index.core.llms import ChatMessage

    make_llm().chat([ChatMessage(role="user", content=HELLO[0]["content"])])
    sync_client().chat.completions.create(model=MODEL, messages=HELLO, max_tokens=16, temperature=0.0, seed=7)

    framework, direct = exporter.get_finished_spans()
    assert framework.name == direct.name == f"chat {MODEL}"
    assert attributes_of(framework)[semconv.LLAMAINDEX_SPAN] == "OpenAILike.chat"
    assert attributes_of(framework)[semconv.TRAJECTORY_STEP] == 1
    assert attributes_of(direct)[semconv.OPENAI_API] == "chat.completions"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_query_error(exporter: Any, instrumented: agentwatch.Instrumentation, mode: str) -> None:
    # llama-server returns 404 for a path it does not serve, so the chat call fails for real.
    llm = make_llm(api_base=BASE_URL_MISSING)
    engine = make_index().as_query_engine(llm=llm, similarity_top_k=1)

    with pytest.raises(openai.NotFoundError):
        if mode == "sync":
            engine.query(QUESTION)
        else:
            asyncio.run(engine.aquery(QUESTION))

    named = assert_query_tree(query_spans(exporter))
    for name in ("invoke_agent RetrieverQueryEngine", "synthesize CompactAndRefine", f"chat {MODEL}"):
        span = named[name]
        assert span.status.status_code is StatusCode.ERROR, name
        assert attributes_of(span)[semconv.ERROR_TYPE] == "NotFoundError", name
    assert named["retrieval VectorIndexRetriever"].status.status_code is StatusCode.UNSET
    assert tracker_of(instrumented).entries == {}
    assert trace.get_current_span() is trace.INVALID_SPAN


BASE_URL_MISSING = "http://127.0.0.1:8080/missing/v1"


def test_embedding_batch_sums_usage(exporter: Any) -> None:
    # One document per request: the index build makes three SDK calls under one embeddings span.
    embed_model = make_embed_model()
    embed_model.embed_batch_size = 1
    documents = [Document(text=text, id_=f"doc-{number}") for number, text in enumerate(DOCUMENTS)]

    VectorStoreIndex.from_documents(documents, embed_model=embed_model)

    [span] = exporter.get_finished_spans()
    assert span.name == f"embeddings {MODEL}"
    assert attributes_of(span)[semconv.LLAMAINDEX_SPAN] == "OpenAILikeEmbedding.get_text_embedding_batch"
    # The three requests' counts, summed: the same 47 tokens the server counts for the three
    # documents in one request (cassettes/test_llamaindex_query/test_async_query.yaml).
    assert attributes_of(span)[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 47
    assert attributes_of(span)[semconv.LLM_TOKEN_COUNT_PROMPT] == 47
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in attributes_of(span)


def test_query_inside_trajectory(exporter: Any) -> None:
    engine = make_index().as_query_engine(llm=make_llm(), similarity_top_k=1)

    with agentwatch.trajectory("support-agent") as run:
        sync_client().chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=16, temperature=0.0, seed=7
        )
        engine.query(QUESTION)

    spans = list(exporter.get_finished_spans())
    outer = only(spans, "invoke_agent support-agent")
    query = only(spans, "query RetrieverQueryEngine")
    assert query.parent is not None and query.parent.span_id == outer.context.span_id
    assert {span.context.trace_id for span in spans if span.name != f"embeddings {MODEL}"} == {
        outer.context.trace_id
    }
    steps = sorted(
        (attributes_of(span)[semconv.TRAJECTORY_STEP], span.name)
        for span in spans
        if span.context.trace_id == outer.context.trace_id and semconv.TRAJECTORY_STEP in attributes_of(span)
    )
    assert steps == [
        (1, f"chat {MODEL}"),
        (2, "retrieval VectorIndexRetriever"),
        (3, f"embeddings {MODEL}"),
        (4, f"chat {MODEL}"),
    ]
    assert attributes_of(outer)[semconv.RUN_STEPS] == 4
    retrieved = [item for item in run.evidence if item.kind == "retrieval"]
    assert len(retrieved) == 1
    assert retrieved[0].text in DOCUMENTS
    assert retrieved[0].step == 2


def test_context_after_query(exporter: Any, tracer_provider: TracerProvider) -> None:
    engine = make_index().as_query_engine(llm=make_llm(), similarity_top_k=1)
    failing = make_index().as_query_engine(llm=make_llm(api_base=BASE_URL_MISSING), similarity_top_k=1)
    tracer = tracer_provider.get_tracer("user")

    with tracer.start_as_current_span("user-work") as user_span:
        engine.query(QUESTION)
        assert trace.get_current_span() is user_span
        with pytest.raises(openai.NotFoundError):
            failing.query(QUESTION)
        assert trace.get_current_span() is user_span

    assert trace.get_current_span() is trace.INVALID_SPAN
    roots = [span for span in exporter.get_finished_spans() if span.name.startswith("invoke_agent")]
    assert len(roots) == 2
    user = only(exporter.get_finished_spans(), "user-work")
    assert all(root.parent is not None and root.parent.span_id == user.context.span_id for root in roots)


@pytest.mark.parametrize("capture_content", [True])
def test_capture_records_content(exporter: Any) -> None:
    response = make_index().as_query_engine(llm=make_llm(), similarity_top_k=1).query(QUESTION)

    named = by_name(query_spans(exporter))
    retrieval = attributes_of(named["retrieval VectorIndexRetriever"])
    assert retrieval[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == QUESTION
    documents = json.loads(retrieval[semconv.GEN_AI_RETRIEVAL_DOCUMENTS])
    node = response.source_nodes[0]
    assert documents == [{"id": node.node.node_id, "score": node.score, "content": node.node.get_content()}]
    chat = attributes_of(named[f"chat {MODEL}"])
    messages = json.loads(chat[semconv.GEN_AI_INPUT_MESSAGES])
    assert QUESTION in json.dumps(messages)
    output = json.loads(chat[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert output[0]["role"] == "assistant"
    assert output[0]["parts"] == [{"type": "text", "content": response.response}]
    root = attributes_of(named["invoke_agent RetrieverQueryEngine"])
    assert json.loads(root[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}
    ]
    assert json.loads(root[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == response.response


def test_content_off_by_default(exporter: Any) -> None:
    make_index().as_query_engine(llm=make_llm(), similarity_top_k=1).query(QUESTION)

    for span in query_spans(exporter):
        keys = set(attributes_of(span))
        assert not keys & {
            semconv.GEN_AI_INPUT_MESSAGES,
            semconv.GEN_AI_OUTPUT_MESSAGES,
            semconv.GEN_AI_RETRIEVAL_DOCUMENTS,
            semconv.GEN_AI_RETRIEVAL_QUERY_TEXT,
        }, span.name
