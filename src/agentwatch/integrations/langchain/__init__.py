"""LangChain and LangGraph integration (langchain-core 1.x, langgraph 1.x, langchain-openai 1.x).

Patches:
  - ``langchain_core.callbacks.base.BaseCallbackManager.__init__``: every callback manager gets
    the one agentwatch callback handler, which turns runs into spans (``_handler``);
  - ``BaseChatModel._generate_with_cache`` / ``_agenerate_with_cache`` / ``stream`` / ``astream``
    and langchain-openai's ``BaseChatOpenAI._stream`` / ``_astream`` (and their Responses API
    twins): the chat span is current around the model's own code. The OpenAI SDK call underneath
    adds to it instead of starting a second chat span (``_scope``);
  - ``_set_config_context`` of ``langchain_core.runnables.config`` and of langgraph's
    ``_internal._runnable``: the context copy a tool, node or chain step runs in gets the span and
    agentwatch run of that step, so spans the user starts there nest under it;
  - ``langgraph.pregel.main.Pregel.stream`` / ``astream``: a graph's own run becomes an
    ``invoke_agent {name}`` span; ``invoke`` and ``ainvoke`` go through them.

Targets missing from the installed versions are skipped. When the package is installed but lacks
a target, a warning names what tracing loses. ``uninstrument()`` restores them all;
callback managers created before it keep the handler, which then starts no new spans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wrapt
from langchain_core.callbacks import AsyncCallbackManager, CallbackManager

from ..._guard import report_fault
from ..._state import STATE
from .. import Patcher, import_target_module, report_missing_target
from ._handler import HANDLER, AgentwatchCallbackHandler
from ._runs import RUNS
from ._scope import (
    agenerate_wrapper,
    astream_wrapper,
    generate_wrapper,
    graph_astream_wrapper,
    graph_stream_wrapper,
    leaf_astream_wrapper,
    leaf_stream_wrapper,
    set_config_context_wrapper,
    stream_wrapper,
)

__all__ = ["HANDLER", "RUNS", "AgentwatchCallbackHandler", "LangChainIntegration"]


_CHAT_MODELS = "langchain_core.language_models.chat_models"
_OPENAI_CHAT = "langchain_openai.chat_models.base"

# Descriptions of what tracing loses when an installed package lacks a target. A target without one
# is logged at debug level only, because older langchain-openai releases lack the Responses API
# streams.
_NO_CHAT_SCOPE = "chat model calls get a second chat span from the OpenAI SDK call underneath"
_NO_STREAM_SCOPE = "streamed chat model calls get a second chat span from the OpenAI SDK stream"
_NO_NESTING = "spans started inside {} do not nest under the step's span"
_NO_GRAPH_ROOT = "a LangGraph graph's own run does not become an invoke_agent span"

# (module, Class.method, wrapper, what is lost without it)
METHOD_TARGETS: tuple[tuple[str, str, Callable[..., Any], str | None], ...] = (
    (_CHAT_MODELS, "BaseChatModel._generate_with_cache", generate_wrapper, _NO_CHAT_SCOPE),
    (_CHAT_MODELS, "BaseChatModel._agenerate_with_cache", agenerate_wrapper, _NO_CHAT_SCOPE),
    (_CHAT_MODELS, "BaseChatModel.stream", stream_wrapper, _NO_STREAM_SCOPE),
    (_CHAT_MODELS, "BaseChatModel.astream", astream_wrapper, _NO_STREAM_SCOPE),
    (_OPENAI_CHAT, "BaseChatOpenAI._stream", leaf_stream_wrapper, _NO_STREAM_SCOPE),
    (_OPENAI_CHAT, "BaseChatOpenAI._stream_responses", leaf_stream_wrapper, None),
    (_OPENAI_CHAT, "BaseChatOpenAI._astream", leaf_astream_wrapper, _NO_STREAM_SCOPE),
    (_OPENAI_CHAT, "BaseChatOpenAI._astream_responses", leaf_astream_wrapper, None),
    ("langgraph.pregel.main", "Pregel.stream", graph_stream_wrapper, _NO_GRAPH_ROOT),
    ("langgraph.pregel.main", "Pregel.astream", graph_astream_wrapper, _NO_GRAPH_ROOT),
)
# (module, function, what is lost): module-level functions looked up by name at each call. Both
# are private, so a release may rename them, and the warning then names what stops working.
CONTEXT_TARGETS = (
    ("langchain_core.runnables.config", "_set_config_context", _NO_NESTING.format("tools and chain steps")),
    ("langgraph._internal._runnable", "_set_config_context", _NO_NESTING.format("LangGraph nodes")),
)


def _add_handler(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    wrapped(*args, **kwargs)
    # Other subclasses, such as LangGraph's graph lifecycle managers, dispatch events that only
    # their own handler types implement.
    if STATE.active and isinstance(instance, (CallbackManager, AsyncCallbackManager)):
        # A try statement rather than ``guarded``, because this runs for every callback manager.
        try:
            # New lists rather than append(): the manager may hold a list its caller still owns.
            if HANDLER not in instance.handlers:
                instance.handlers = [*instance.handlers, HANDLER]
            if HANDLER not in instance.inheritable_handlers:
                instance.inheritable_handlers = [*instance.inheritable_handlers, HANDLER]
        except Exception as exc:  # noqa: BLE001 - the guard's contract: report, never propagate
            report_fault("langchain.handler", exc)


@dataclass
class _FunctionPatch:
    module: Any
    name: str
    original: Any


@dataclass
class _FunctionPatcher:
    """Wrap module-level functions; ``Patcher`` handles class attributes only."""

    applied: list[_FunctionPatch] = field(default_factory=list)

    def wrap(self, module_name: str, name: str, wrapper: Callable[..., Any], lost: str | None) -> bool:
        module = import_target_module(module_name, name, lost)
        if module is None:
            return False
        original = module.__dict__.get(name)
        if original is None:
            report_missing_target(module_name, name, lost)
            return False
        setattr(module, name, wrapt.FunctionWrapper(original, wrapper))
        self.applied.append(_FunctionPatch(module, name, original))
        return True

    def restore(self) -> None:
        while self.applied:
            patch = self.applied.pop()
            setattr(patch.module, patch.name, patch.original)


class LangChainIntegration:
    """Patch and restore LangChain, LangGraph and langchain-openai."""

    name = "langchain"

    def __init__(self) -> None:
        self._patcher = Patcher()
        self._functions = _FunctionPatcher()

    def instrument(self) -> None:
        self._patcher.wrap(
            "langchain_core.callbacks.base",
            "BaseCallbackManager.__init__",
            _add_handler,
            lost="LangChain and LangGraph runs are not traced",
        )
        for module, qualname, wrapper, lost in METHOD_TARGETS:
            self._patcher.wrap(module, qualname, wrapper, lost=lost)
        for module, name, lost in CONTEXT_TARGETS:
            self._functions.wrap(module, name, set_config_context_wrapper, lost)

    def uninstrument(self) -> None:
        self._functions.restore()
        self._patcher.restore()
