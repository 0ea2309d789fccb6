"""Streams: keep their spans open until the stream ends, and keep the SDK quiet while they run.

Two wrappers, both plain generators so ``isinstance(x, Generator)`` checks in LlamaIndex and in
user code still hold:

- ``owned_stream`` / ``owned_astream`` replace ``StreamingResponse.response_gen`` of a streaming
  query. LlamaIndex starts the model call only when that generator is first iterated, after the
  query span has exited. So each step runs with the query's entry as the parent of any span that
  starts without a dispatcher parent inside the stream, and the query span ends when the stream
  ends.
- ``scoped_stream`` / ``scoped_astream`` wrap what the patched ``stream_*`` methods of
  LlamaIndex's OpenAI LLM, and the patched ``astream_*`` methods of ``CustomLLM``, return. The
  model call happens inside that generator's steps: the OpenAI SDK call, or the sync
  ``stream_chat`` / ``stream_complete`` that ``CustomLLM``'s async twins iterate. So each step
  runs inside ``framework_call_scope`` and with the model's entry as the stream owner, and
  neither the SDK nor the sync twin adds a second chat span.

Every marker is set and reset within one step, never across a ``yield``.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from ... import semconv
from ..._call import framework_call_scope
from ..._state import STATE
from ._entry import Entry

# The entry a stream being iterated belongs to: the parent of spans that start in its step
# without a dispatcher parent opened inside that step.
stream_owner: ContextVar[Entry | None] = ContextVar("agentwatch_llamaindex_stream_owner", default=None)

# Set by a patched ``stream_*`` method while it runs; the span handler puts the model's entry in it.
stream_slot: ContextVar[list[Entry] | None] = ContextVar("agentwatch_llamaindex_stream_slot", default=None)


def _end_reason(exc: BaseException | None) -> str:
    if exc is None:
        return semconv.STREAM_END_EXHAUSTED
    if isinstance(exc, GeneratorExit):
        return semconv.STREAM_END_CLOSED
    return semconv.STREAM_END_ERROR


def _abandon(entry: Entry) -> None:
    entry.end(extra={semconv.STREAM_END: semconv.STREAM_END_ABANDONED})


def watch_abandon(entry: Entry, stream: object) -> None:
    """End ``entry`` as abandoned if ``stream`` is garbage collected before it ends.

    A generator that was started runs its ``finally`` when collected, but one that was never
    started runs nothing, so this finalizer is the backstop.
    """
    entry.finalizer = weakref.finalize(stream, _abandon, entry)


def owned_stream(stream: Iterator[Any], entry: Entry) -> Iterator[Any]:
    """Yield from ``stream`` with ``entry`` as the stream owner; end ``entry`` when it ends."""
    error: BaseException | None = None
    try:
        while True:
            token = stream_owner.set(entry)
            try:
                item = next(stream)
            except StopIteration:
                return
            finally:
                stream_owner.reset(token)
            yield item
    except BaseException as exc:
        error = exc
        raise
    finally:
        close = getattr(stream, "close", None)
        if error is not None and close is not None:
            token = stream_owner.set(entry)
            try:
                close()
            finally:
                stream_owner.reset(token)
        entry.end(error, {semconv.STREAM_END: _end_reason(error)})


async def owned_astream(stream: AsyncIterator[Any], entry: Entry) -> AsyncIterator[Any]:
    """Yield from an async ``stream`` like ``owned_stream`` does."""
    error: BaseException | None = None
    try:
        while True:
            token = stream_owner.set(entry)
            try:
                item = await stream.__anext__()
            except StopAsyncIteration:
                return
            finally:
                stream_owner.reset(token)
            yield item
    except BaseException as exc:
        error = exc
        raise
    finally:
        aclose = getattr(stream, "aclose", None)
        if error is not None and aclose is not None:
            await aclose()
        entry.end(error, {semconv.STREAM_END: _end_reason(error)})


def own_response_stream(result: Any, entry: Entry) -> bool:
    """Replace a streaming response's ``response_gen`` with an owned one; False if not a stream."""
    stream = getattr(result, "response_gen", None)
    wrapped: Any
    if inspect.isgenerator(stream):
        wrapped = owned_stream(stream, entry)
    elif inspect.isasyncgen(stream):
        wrapped = owned_astream(stream, entry)
    else:
        return False
    result.response_gen = wrapped
    watch_abandon(entry, wrapped)
    return True


def scoped_stream(stream: Iterator[Any], entry: Entry) -> Iterator[Any]:
    """Yield from ``stream``, each step inside the model call of ``entry`` and owned by it."""
    try:
        while True:
            token = stream_owner.set(entry)
            try:
                with framework_call_scope(entry.call):
                    item = next(stream)
            except StopIteration:
                return
            finally:
                stream_owner.reset(token)
            yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def scoped_astream(stream: AsyncIterator[Any], entry: Entry) -> AsyncIterator[Any]:
    """Yield from an async ``stream`` like ``scoped_stream`` does."""
    try:
        while True:
            token = stream_owner.set(entry)
            try:
                with framework_call_scope(entry.call):
                    item = await stream.__anext__()
            except StopAsyncIteration:
                return
            finally:
                stream_owner.reset(token)
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def sync_stream_method(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap a sync ``stream_chat`` / ``stream_complete`` so its SDK call stays under its span."""
    if not STATE.active:
        return wrapped(*args, **kwargs)
    slot: list[Entry] = []
    token = stream_slot.set(slot)
    try:
        result = wrapped(*args, **kwargs)
    finally:
        stream_slot.reset(token)
    if slot and inspect.isgenerator(result):
        return scoped_stream(result, slot[0])
    return result


async def async_stream_method(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Wrap an async ``astream_chat`` / ``astream_complete`` like ``sync_stream_method`` does."""
    if not STATE.active:
        return await wrapped(*args, **kwargs)
    slot: list[Entry] = []
    token = stream_slot.set(slot)
    try:
        result = await wrapped(*args, **kwargs)
    finally:
        stream_slot.reset(token)
    if slot and inspect.isasyncgen(result):
        return scoped_astream(result, slot[0])
    return result
