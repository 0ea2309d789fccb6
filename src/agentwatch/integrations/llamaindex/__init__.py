"""LlamaIndex integration (llama-index-core 0.14+, sync and async).

Adds one span handler and one event handler to LlamaIndex's root instrumentation dispatcher
(``llama_index.core.instrumentation.get_dispatcher()``) and removes them on ``uninstrument()``.
Query engines, retrievers, synthesizers, LLM and embedding calls, tools and workflow agents
(``FunctionAgent``, ``ReActAgent``, ``AgentWorkflow``) become spans. A query engine or agent
that runs outside any agentwatch run is the ``invoke_agent`` root of a run of its own.

Also patches the ``stream_chat``, ``astream_chat``, ``stream_complete`` and ``astream_complete``
methods of ``llama_index.llms.openai.OpenAI`` (and so of ``OpenAILike``), when that package is
installed: their OpenAI SDK call runs when the returned generator is first iterated, after the
LlamaIndex span exited, and the patch keeps the SDK from tracing it as a second chat span.
For the same reason it patches ``astream_chat`` and ``astream_complete`` of
``llama_index.core.llms.custom.CustomLLM``, the base of local-model classes such as ``LlamaCPP``
(llama-index-llms-llama-cpp). Their async generator calls the sync ``stream_chat`` /
``stream_complete`` on its first step, and without the patch that call would be traced as a
second model call.
"""

from __future__ import annotations

# llama-index-core re-exports the dispatcher from this package, a dependency of core 0.14+.
from llama_index_instrumentation import get_dispatcher

from .. import Patcher
from ._handlers import AgentwatchEventHandler, AgentwatchSpanHandler
from ._streams import async_stream_method, sync_stream_method
from ._tracker import Tracker

__all__ = ["LlamaIndexIntegration"]

_OPENAI_LLM_MODULE = "llama_index.llms.openai.base"
_SYNC_STREAM_METHODS = ("OpenAI.stream_chat", "OpenAI.stream_complete")
_ASYNC_STREAM_METHODS = ("OpenAI.astream_chat", "OpenAI.astream_complete")
_CUSTOM_LLM_MODULE = "llama_index.core.llms.custom"
# NOTE: a CustomLLM subclass that overrides these methods is not patched, so one whose async
# stream lazily calls its own sync stream method still gets two model spans per call.
_CUSTOM_ASYNC_STREAM_METHODS = ("CustomLLM.astream_chat", "CustomLLM.astream_complete")


class LlamaIndexIntegration:
    """Register and remove the dispatcher handlers; patch and restore the OpenAI LLM streams."""

    name = "llamaindex"

    def __init__(self) -> None:
        self._patcher = Patcher()
        self._tracker: Tracker | None = None

    def instrument(self) -> None:
        dispatcher = get_dispatcher()
        # One handler of each type, even if another copy of agentwatch registered one already.
        if any(isinstance(handler, AgentwatchSpanHandler) for handler in dispatcher.span_handlers):
            return
        tracker = Tracker()
        self._tracker = tracker
        dispatcher.add_span_handler(AgentwatchSpanHandler(tracker))
        dispatcher.add_event_handler(AgentwatchEventHandler(tracker))
        for qualname in _SYNC_STREAM_METHODS:
            self._patcher.wrap(_OPENAI_LLM_MODULE, qualname, sync_stream_method)
        for qualname in _ASYNC_STREAM_METHODS:
            self._patcher.wrap(_OPENAI_LLM_MODULE, qualname, async_stream_method)
        for qualname in _CUSTOM_ASYNC_STREAM_METHODS:
            self._patcher.wrap(_CUSTOM_LLM_MODULE, qualname, async_stream_method)

    def uninstrument(self) -> None:
        self._patcher.restore()
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return
        dispatcher = get_dispatcher()
        # Assign new lists, so a dispatch already iterating the old list is not disturbed.
        dispatcher.span_handlers = [
            handler
            for handler in dispatcher.span_handlers
            if not (isinstance(handler, AgentwatchSpanHandler) and handler.tracker is tracker)
        ]
        dispatcher.event_handlers = [
            handler
            for handler in dispatcher.event_handlers
            if not (isinstance(handler, AgentwatchEventHandler) and handler.tracker is tracker)
        ]
        # NOTE: spans still open end here, but a LlamaIndex call running right now keeps the
        # context its span made current, because only that call's frame could reset it.
        tracker.close()
