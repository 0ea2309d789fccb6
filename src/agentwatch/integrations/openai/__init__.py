"""OpenAI SDK integration (openai 2.x and 3.x, sync and async).

Patches, on the resource classes:
  - ``chat.completions``: ``Completions.create`` / ``parse`` and the async twins
    (``chat.completions.stream()`` goes through ``create``);
  - ``embeddings``: ``Embeddings.create`` and ``AsyncEmbeddings.create``;
  - ``responses``: ``Responses.create`` / ``parse`` and the async twins
    (``responses.stream()`` goes through ``create``).
``with_raw_response`` and ``with_streaming_response`` bind these methods, so they are traced too
when they are first used after ``instrument()``.
"""

from __future__ import annotations

from ... import semconv
from .. import Patcher
from ._attempt import Endpoint
from ._extract import (
    chat_answer,
    chat_request,
    chat_response,
    chat_usage,
    embeddings_request,
    embeddings_response,
    embeddings_usage,
    no_answer,
    responses_answer,
    responses_request,
    responses_response,
    responses_usage,
)
from ._stream import ChatStreamAccumulator, ResponsesStreamAccumulator
from ._wrappers import async_wrapper, sync_wrapper

CHAT = Endpoint(
    operation=semconv.OPERATION_CHAT,
    api=semconv.OPENAI_API_CHAT_COMPLETIONS,
    request=chat_request,
    response=chat_response,
    usage=chat_usage,
    answer=chat_answer,
    accumulator=ChatStreamAccumulator,
    messages_param="messages",
)
RESPONSES = Endpoint(
    operation=semconv.OPERATION_CHAT,
    api=semconv.OPENAI_API_RESPONSES,
    request=responses_request,
    response=responses_response,
    usage=responses_usage,
    answer=responses_answer,
    accumulator=ResponsesStreamAccumulator,
    messages_param=None,
)
EMBEDDINGS = Endpoint(
    operation=semconv.OPERATION_EMBEDDINGS,
    api=semconv.OPENAI_API_EMBEDDINGS,
    request=embeddings_request,
    response=embeddings_response,
    usage=embeddings_usage,
    answer=no_answer,
    accumulator=None,
    messages_param=None,
)

# (module, sync class, async class, method, endpoint)
TARGETS = (
    ("openai.resources.chat.completions.completions", "Completions", "AsyncCompletions", "create", CHAT),
    ("openai.resources.chat.completions.completions", "Completions", "AsyncCompletions", "parse", CHAT),
    ("openai.resources.embeddings", "Embeddings", "AsyncEmbeddings", "create", EMBEDDINGS),
    ("openai.resources.responses.responses", "Responses", "AsyncResponses", "create", RESPONSES),
    ("openai.resources.responses.responses", "Responses", "AsyncResponses", "parse", RESPONSES),
)


class OpenAIIntegration:
    """Patch and restore the OpenAI SDK."""

    name = "openai"

    def __init__(self) -> None:
        self._patcher = Patcher()

    def instrument(self) -> None:
        for module, sync_class, async_class, method, endpoint in TARGETS:
            self._patcher.wrap(module, f"{sync_class}.{method}", sync_wrapper(endpoint))
            self._patcher.wrap(module, f"{async_class}.{method}", async_wrapper(endpoint))

    def uninstrument(self) -> None:
        self._patcher.restore()
