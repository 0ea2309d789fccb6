"""Decide what a LlamaIndex dispatcher span stands for, from the instance and the method name.

The dispatcher opens a span for every decorated method (text splitters, prompt helpers, private
``_query`` twins...). Only the public entry points of query engines, retrievers, synthesizers,
LLMs, embedding models, tools and workflows become OpenTelemetry spans. Every other span is
transparent, so its children attach to the nearest traced ancestor.
"""

from __future__ import annotations

import enum
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.chat_engine.types import BaseChatEngine
from llama_index.core.response_synthesizers.base import BaseSynthesizer
from llama_index.core.tools.types import BaseTool

from ... import semconv

try:  # llama-index-core 0.12+ runs workflows from the llama-index-workflows package
    from workflows import Workflow as _Workflow

    _WORKFLOW_TYPES: tuple[type, ...] = (_Workflow,)
except ImportError:  # pragma: no cover - depends on the installed version
    try:
        from llama_index.core.workflow import Workflow as _CoreWorkflow

        _WORKFLOW_TYPES = (_CoreWorkflow,)
    except ImportError:
        _WORKFLOW_TYPES = ()

try:
    from workflows.errors import WorkflowDone as _WorkflowDone

    _WORKFLOW_CONTROL_FLOW: tuple[type[BaseException], ...] = (_WorkflowDone,)
except ImportError:  # pragma: no cover - depends on the installed version
    _WORKFLOW_CONTROL_FLOW = ()


class Kind(enum.Enum):
    """The step a dispatcher span is traced as, or ``NONE`` for a transparent span."""

    NONE = 0
    AGENT = 1
    QUERY = 2
    RETRIEVE = 3
    SYNTHESIZE = 4
    CHAT = 5
    COMPLETION = 6
    EMBED = 7
    TOOL = 8


# Only the public entry points; the private twins (``_query``, ``_retrieve``) stay transparent.
_QUERY_METHODS = frozenset({"query", "aquery"})
_CHAT_ENGINE_METHODS = frozenset({"chat", "achat", "stream_chat", "astream_chat"})
_RETRIEVE_METHODS = frozenset({"retrieve", "aretrieve"})
_SYNTHESIZE_METHODS = frozenset({"synthesize", "asynthesize"})
_CHAT_METHODS = frozenset({"chat", "achat", "stream_chat", "astream_chat"})
_COMPLETION_METHODS = frozenset({"complete", "acomplete", "stream_complete", "astream_complete"})
_EMBED_METHODS = frozenset(
    {
        "get_query_embedding",
        "aget_query_embedding",
        "get_text_embedding",
        "aget_text_embedding",
        "get_text_embedding_batch",
        "aget_text_embedding_batch",
    }
)
_TOOL_METHODS = frozenset({"call", "acall", "__call__"})
# The workflow runtime opens one "<Workflow class>.run" span per run, inside the run's task.
_WORKFLOW_METHODS = frozenset({"run"})

MODEL_KINDS = frozenset({Kind.CHAT, Kind.COMPLETION, Kind.EMBED})
ROOT_KINDS = frozenset({Kind.AGENT, Kind.QUERY})

# The dispatcher names spans "<Class>.<method>-<uuid4>", and a uuid4 string has 36 characters.
_UUID_SUFFIX = 37


def span_label(span_id: str) -> str:
    """Return the "<Class>.<method>" part of a dispatcher span id."""
    return span_id[:-_UUID_SUFFIX] if len(span_id) > _UUID_SUFFIX else span_id


def method_of(span_id: str) -> str:
    return span_label(span_id).rpartition(".")[2]


def classify(instance: Any, span_id: str) -> Kind:
    """Return the kind of span that ``span_id`` opens on ``instance``."""
    if instance is None:
        return Kind.NONE
    key = (type(instance), method_of(span_id))
    kind = _kinds.get(key)
    if kind is None:
        if len(_kinds) >= _MAX_CACHED_KINDS:
            _kinds.clear()
        kind = _kinds[key] = _classify(*key)
    return kind


# Kinds by (class, method): the dispatcher calls the same few methods over and over.
_MAX_CACHED_KINDS = 1024
_kinds: dict[tuple[type, str], Kind] = {}


def _classify(cls: type, method: str) -> Kind:
    if issubclass(cls, BaseLLM):
        if method in _CHAT_METHODS:
            return Kind.CHAT
        if method in _COMPLETION_METHODS:
            return Kind.COMPLETION
        return Kind.NONE
    if issubclass(cls, BaseEmbedding):
        return Kind.EMBED if method in _EMBED_METHODS else Kind.NONE
    if issubclass(cls, BaseRetriever):
        return Kind.RETRIEVE if method in _RETRIEVE_METHODS else Kind.NONE
    if issubclass(cls, BaseQueryEngine):
        return Kind.QUERY if method in _QUERY_METHODS else Kind.NONE
    if issubclass(cls, BaseSynthesizer):
        return Kind.SYNTHESIZE if method in _SYNTHESIZE_METHODS else Kind.NONE
    if issubclass(cls, BaseChatEngine):
        # A chat engine turn is an agent run: it retrieves, condenses and calls the model.
        return Kind.AGENT if method in _CHAT_ENGINE_METHODS else Kind.NONE
    if issubclass(cls, BaseTool):
        return Kind.TOOL if method in _TOOL_METHODS else Kind.NONE
    if _WORKFLOW_TYPES and issubclass(cls, _WORKFLOW_TYPES):
        return Kind.AGENT if method in _WORKFLOW_METHODS else Kind.NONE
    return Kind.NONE


def is_control_flow(exc: BaseException | None) -> bool:
    """Return True for LlamaIndex exceptions that end a workflow without it failing."""
    return bool(_WORKFLOW_CONTROL_FLOW) and isinstance(exc, _WORKFLOW_CONTROL_FLOW)


def model_name(instance: Any) -> str | None:
    """Return the model an LLM or embedding instance calls, or None when it names none."""
    for attribute in ("model", "model_name"):
        value = getattr(instance, attribute, None)
        if isinstance(value, str) and value:
            return value
    return None


def provider_name(cls: type) -> str | None:
    """Return ``gen_ai.provider.name`` for an LLM or embedding class, or None when unknown.

    Integration packages live in ``llama_index.llms.<name>`` and ``llama_index.embeddings.<name>``;
    the OpenAI-compatible ones (``openai``, ``openai_like``) all call the OpenAI API.
    """
    parts = cls.__module__.split(".")
    if len(parts) < 3 or parts[0] != "llama_index" or parts[1] not in ("llms", "embeddings"):
        return None
    package = parts[2]
    if package.startswith("azure_openai"):
        return "azure.ai.openai"
    if package.startswith("openai"):
        return semconv.PROVIDER_OPENAI
    return package


def agent_name(instance: Any) -> str:
    """Return the name of a workflow or agent: its ``name`` field, else its class name."""
    name = getattr(instance, "name", None)
    return name if isinstance(name, str) and name else type(instance).__name__
