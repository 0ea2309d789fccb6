"""A LlamaIndex RAG query engine over three local documents, traced by agentwatch with one line.

The model and the embeddings come from the local model server (llama.cpp serving SmolLM2), through
LlamaIndex's OpenAI-compatible classes and the OpenAI SDK underneath. Each query is one trace: an
``invoke_agent RetrieverQueryEngine`` root, a retrieval step with its query embedding, and the
synthesizer's chat step, numbered 1, 2, 3. The script prints each answer and then the last
query's trace tree from the embedded store, as ``agentwatch trace ID`` does.

Run it:
    bash scripts/local_model.sh start -- --embeddings --pooling mean
    pip install -e ".[openai,llamaindex]"
    python examples/llamaindex_rag.py
"""

from __future__ import annotations

import os
from pathlib import Path

from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
from llama_index.embeddings.openai_like import OpenAILikeEmbedding
from llama_index.llms.openai_like import OpenAILike

import agentwatch
from agentwatch.cli import main as agentwatch_cli
from agentwatch.store import TraceStore

BASE_URL = os.environ.get("AGENTWATCH_MODEL_BASE_URL", "http://127.0.0.1:8080/v1")
MODEL = "smollm2"
DATA = Path(__file__).parent / "data"
QUESTIONS = [
    "How long do I have to ask for a refund?",
    "How long does express shipping take?",
]


def main() -> None:
    handle = agentwatch.instrument(service_name="llamaindex-rag-demo")

    # llama-server ignores the API key; the OpenAI SDK only needs one to be set.
    api_key = os.environ.get("OPENAI_API_KEY", "not-needed")
    llm = OpenAILike(
        model=MODEL, api_base=BASE_URL, api_key=api_key, is_chat_model=True, max_tokens=48, temperature=0.0
    )
    embed_model = OpenAILikeEmbedding(model_name=MODEL, api_base=BASE_URL, api_key=api_key)
    documents = SimpleDirectoryReader(str(DATA)).load_data()
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)

    for question in QUESTIONS:
        print(f"Q: {question}\nA: {str(engine.query(question)).strip()}\n")

    handle.tracer_provider.force_flush()  # type: ignore[attr-defined]
    db_path = handle.settings.db_path
    with TraceStore.open(db_path) as store:
        trace_id = store.recent_trace_ids(1)[0]
    agentwatch_cli(["trace", trace_id, "--db", str(db_path)])


if __name__ == "__main__":
    main()
