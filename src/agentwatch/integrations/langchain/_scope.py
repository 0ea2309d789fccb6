"""Scoped context around the LangChain calls whose callbacks open spans.

Callbacks only record, and none of them attaches a context. Code that runs inside a traced run
gets its span as the current span through three mechanisms. Each sets and resets the context in
one frame, or in a context copy that LangChain discards:

* LangChain runs a tool's ``_run``, a LangGraph node and each ``Runnable`` step in a copy of the
  context that ``_set_config_context`` prepares (langchain-core 1.x, langgraph 1.x). The wrapper
  adds the parent run's span and agentwatch run to that copy, so user spans in a tool nest under
  the tool span and a raw SDK call in a node joins the agent run.
* ``BaseChatModel._generate_with_cache`` receives the run manager, whose run already has a chat
  span. Around it the span is current and ``framework_call_scope`` is set, so the OpenAI SDK call
  underneath adds its server to that span instead of starting a second one.
* ``BaseChatModel.stream``/``astream`` start the run inside their first step. A slot opened around
  each step receives the call from ``on_chat_model_start``; the ``_stream`` wrappers of
  langchain-openai's ``BaseChatOpenAI`` read it and set the scope around each of their steps.

``Pregel.stream``/``astream`` open a similar slot so the handler can tell a graph's own run from
the chains inside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from ..._call import ModelCall, framework_call, framework_call_scope
from ..._guard import call_guarded
from ..._state import STATE
from ..._trajectory import enter_run
from ._runs import RUNS

_T = TypeVar("_T")


class ChatSlot:
    """The chat call whose model code runs in this context, once ``on_chat_model_start`` named it."""

    __slots__ = ("call",)

    def __init__(self, call: ModelCall | None = None) -> None:
        self.call = call


class AgentSlot:
    """Open while a LangGraph graph starts; the first chain run started inside it is the graph's."""

    __slots__ = ("claimed",)

    def __init__(self) -> None:
        self.claimed = False


_chat_slot: ContextVar[ChatSlot | None] = ContextVar("agentwatch_langchain_chat", default=None)
_agent_slot: ContextVar[AgentSlot | None] = ContextVar("agentwatch_langchain_agent", default=None)


def claim_chat_slot(call: ModelCall) -> bool:
    """Hand ``call`` to the ``stream()`` step that is starting it; return True if there is one."""
    slot = _chat_slot.get()
    if slot is None or slot.call is not None:
        return False
    slot.call = call
    return True


def claim_agent_slot() -> bool:
    """Return True once per graph start: for the graph's own chain run (the handler calls this)."""
    slot = _agent_slot.get()
    if slot is None or slot.claimed:
        return False
    slot.claimed = True
    return True


# --- child contexts that LangChain prepares ---------------------------------------------------


def _adopt_parent_run(config: Any) -> None:
    callbacks = config.get("callbacks") if isinstance(config, dict) else None
    entry = RUNS.get(getattr(callbacks, "parent_run_id", None))
    if entry is None or entry.context is None:
        return
    # This runs inside the context copy that LangChain made for the child. LangChain drops the copy
    # after the child returns, so nothing needs detaching and the caller's context is unchanged.
    otel_context.attach(entry.context)
    if entry.run is not None:
        enter_run(entry.run)


def set_config_context_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``_set_config_context(config, ...)`` to add the parent run's span to the child context."""
    result = wrapped(*args, **kwargs)
    if STATE.active:
        config = args[0] if args else kwargs.get("config")
        call_guarded("langchain.context", _adopt_parent_run, config, default=None)
    return result


# --- chat model calls ---------------------------------------------------------------------------


def _call_of(run_manager: Any) -> ModelCall | None:
    entry = RUNS.get(getattr(run_manager, "run_id", None))
    return entry.call if entry is not None else None


def generate_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``_generate_with_cache``: the chat span is current and owns the SDK call underneath."""
    call = _call_of(kwargs.get("run_manager")) if STATE.active else None
    if call is None:
        return wrapped(*args, **kwargs)
    with _chat_scope(call):
        return wrapped(*args, **kwargs)


async def agenerate_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``_agenerate_with_cache``, like ``generate_wrapper``."""
    call = _call_of(kwargs.get("run_manager")) if STATE.active else None
    if call is None:
        return await wrapped(*args, **kwargs)
    with _chat_scope(call):
        return await wrapped(*args, **kwargs)


class _chat_scope:  # noqa: N801 - a context manager used like a function
    """Make ``call`` the chat call of this context: slot, current span and framework call."""

    __slots__ = ("_call", "_context_token", "_framework", "_slot_token")

    def __init__(self, call: ModelCall) -> None:
        self._call = call

    def __enter__(self) -> None:
        self._slot_token = _chat_slot.set(ChatSlot(self._call))
        self._context_token = otel_context.attach(trace.set_span_in_context(self._call.span))
        self._framework = framework_call_scope(self._call)
        self._framework.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._framework.__exit__(None, None, None)
        otel_context.detach(self._context_token)
        _chat_slot.reset(self._slot_token)


def stream_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``BaseChatModel.stream``: open the chat slot around each step."""
    stream = wrapped(*args, **kwargs)
    if not STATE.active:
        return stream
    return _steps_in_slot(stream, _chat_slot, ChatSlot())


def astream_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``BaseChatModel.astream``: open the chat slot around each step."""
    stream = wrapped(*args, **kwargs)
    if not STATE.active:
        return stream
    return _asteps_in_slot(stream, _chat_slot, ChatSlot())


def graph_stream_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``Pregel.stream`` (``invoke`` runs through it): open the agent slot around each step."""
    stream = wrapped(*args, **kwargs)
    if not STATE.active:
        return stream
    return _steps_in_slot(stream, _agent_slot, AgentSlot())


def graph_astream_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``Pregel.astream`` (``ainvoke`` runs through it): open the agent slot around each step."""
    stream = wrapped(*args, **kwargs)
    if not STATE.active:
        return stream
    return _asteps_in_slot(stream, _agent_slot, AgentSlot())


def _steps_in_slot(stream: Iterator[_T], var: ContextVar[Any], slot: object) -> Iterator[_T]:
    try:
        while True:
            token = var.set(slot)
            try:
                item = next(stream)
            except StopIteration:
                return
            finally:
                var.reset(token)
            yield item
    finally:
        # Closing early (break, close(), garbage collection) closes the wrapped generator, which
        # reports GeneratorExit to the callbacks so the run's span ends.
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def _asteps_in_slot(stream: AsyncIterator[_T], var: ContextVar[Any], slot: object) -> AsyncIterator[_T]:
    try:
        while True:
            token = var.set(slot)
            try:
                item = await stream.__anext__()
            except StopAsyncIteration:
                return
            finally:
                var.reset(token)
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _streaming_call(kwargs: dict[str, Any]) -> ModelCall | None:
    """Return the chat call a ``_stream`` generator belongs to, or None when it needs no scope."""
    slot = _chat_slot.get()
    call = slot.call if slot is not None else None
    if call is None:
        call = _call_of(kwargs.get("run_manager"))
    if call is None or framework_call() is call:
        return None  # untraced, or already inside _generate_with_cache's scope
    return call


def leaf_stream_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``BaseChatOpenAI._stream``: the chat scope is set around each step, where the SDK runs."""
    stream = wrapped(*args, **kwargs)
    call = _streaming_call(kwargs) if STATE.active else None
    if call is None:
        return stream
    return _steps_in_chat_scope(stream, call)


def leaf_astream_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap ``BaseChatOpenAI._astream``, like ``leaf_stream_wrapper``."""
    stream = wrapped(*args, **kwargs)
    call = _streaming_call(kwargs) if STATE.active else None
    if call is None:
        return stream
    return _asteps_in_chat_scope(stream, call)


def _steps_in_chat_scope(stream: Iterator[_T], call: ModelCall) -> Iterator[_T]:
    try:
        while True:
            with _chat_scope(call):
                try:
                    item = next(stream)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def _asteps_in_chat_scope(stream: AsyncIterator[_T], call: ModelCall) -> AsyncIterator[_T]:
    try:
        while True:
            with _chat_scope(call):
                try:
                    item = await stream.__anext__()
                except StopAsyncIteration:
                    return
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
