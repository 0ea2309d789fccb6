"""Builders for the LlamaIndex tests: the local model, its embeddings and a small index.

Test modules import this only after ``pytest.importorskip`` found LlamaIndex.
"""

from __future__ import annotations

from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.embeddings.openai_like import OpenAILikeEmbedding
from llama_index.llms.openai_like import OpenAILike

from _local import API_KEY, BASE_URL, MODEL

DOCUMENTS = [
    "Refund requests must be filed within 30 days of delivery.",
    "Standard shipping takes 5 business days inside the EU.",
    "Support answers email on weekdays from 9:00 to 17:00 CET.",
]
QUESTION = "How long do I have to ask for a refund?"


def make_llm(**overrides: Any) -> OpenAILike:
    settings: dict[str, Any] = {
        "model": MODEL,
        "api_base": BASE_URL,
        "api_key": API_KEY,
        "is_chat_model": True,
        "max_tokens": 16,
        "temperature": 0.0,
        "max_retries": 0,
    }
    settings.update(overrides)
    return OpenAILike(**settings)


def make_embed_model() -> OpenAILikeEmbedding:
    return OpenAILikeEmbedding(model_name=MODEL, api_base=BASE_URL, api_key=API_KEY, max_retries=0)


def make_index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents(
        [Document(text=text, id_=f"doc-{number}") for number, text in enumerate(DOCUMENTS)],
        embed_model=make_embed_model(),
    )
