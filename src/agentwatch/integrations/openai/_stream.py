"""Traced streams: the user still holds an ``openai.Stream`` / ``AsyncStream`` (isinstance holds).

The proxies only route items through a ``StreamRecorder``; the recorder holds all the logic, so
the sync and async proxies differ only in ``await``. Every exit ends the span exactly once:
exhaustion, an error mid-stream, ``close()``, ``with``/``async with`` exit (``break`` included),
and abandonment, through a ``weakref.finalize`` on the proxy.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Protocol

import wrapt

from ... import semconv
from ..._call import ModelCall
from ..._guard import call_guarded, guarded
from ..._messages import field
from ._extract import (
    Answer,
    Pairs,
    chat_answer,
    chat_response,
    chat_usage,
    responses_answer,
    responses_response,
    responses_usage,
)


class StreamAccumulator(Protocol):
    """Rebuilds a response from streamed items."""

    def add(self, item: Any) -> None: ...

    def attributes(self, capture: bool) -> Pairs: ...

    def usage(self) -> tuple[int | None, int | None]: ...

    def answer(self) -> Answer: ...


class _ChoiceState:
    __slots__ = ("finish_reason", "texts", "tool_calls")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None


class ChatStreamAccumulator:
    """Rebuild a ``ChatCompletion`` from chunks; tool-call deltas are merged by choice and index."""

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.model: str | None = None
        self.usage_object: Any = None
        self.choices: dict[int, _ChoiceState] = {}

    def add(self, chunk: Any) -> None:
        if self.response_id is None:
            self.response_id = field(chunk, "id")
        if self.model is None:
            self.model = field(chunk, "model")
        usage = field(chunk, "usage")
        if usage is not None:
            self.usage_object = usage
        for choice in field(chunk, "choices") or ():
            index = field(choice, "index") or 0
            state = self.choices.get(index)
            if state is None:
                state = self.choices[index] = _ChoiceState()
            delta = field(choice, "delta")
            text = field(delta, "content")
            if isinstance(text, str) and text:
                state.texts.append(text)
            for call_delta in field(delta, "tool_calls") or ():
                self._add_tool_call(state, call_delta)
            reason = field(choice, "finish_reason")
            if reason is not None:
                state.finish_reason = str(reason)

    @staticmethod
    def _add_tool_call(state: _ChoiceState, call_delta: Any) -> None:
        index = field(call_delta, "index")
        if not isinstance(index, int):
            index = len(state.tool_calls)
        call = state.tool_calls.get(index)
        if call is None:
            call = state.tool_calls[index] = {"id": None, "name": None, "arguments": []}
        call_id = field(call_delta, "id")
        if call_id:
            call["id"] = call_id
        function = field(call_delta, "function")
        name = field(function, "name")
        if name:
            call["name"] = name
        arguments = field(function, "arguments")
        if isinstance(arguments, str):
            call["arguments"].append(arguments)

    def text(self) -> str:
        """Return the text of choice 0 so far."""
        state = self.choices.get(0)
        return "".join(state.texts) if state is not None else ""

    def as_completion(self) -> dict[str, Any]:
        """Return the rebuilt response in the ``ChatCompletion`` dict shape."""
        choices = []
        for index in sorted(self.choices):
            state = self.choices[index]
            tool_calls = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
                }
                for _, call in sorted(state.tool_calls.items())
            ]
            choices.append(
                {
                    "index": index,
                    "finish_reason": state.finish_reason,
                    "message": {
                        "role": "assistant",
                        "content": "".join(state.texts) or None,
                        "tool_calls": tool_calls or None,
                    },
                }
            )
        return {"id": self.response_id, "model": self.model, "choices": choices, "usage": self.usage_object}

    def attributes(self, capture: bool) -> Pairs:
        return chat_response(self.as_completion(), capture)

    def usage(self) -> tuple[int | None, int | None]:
        return chat_usage({"usage": self.usage_object})

    def answer(self) -> Answer:
        return chat_answer(self.as_completion())


_RESPONSE_FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


class ResponsesStreamAccumulator:
    """Keep the final ``Response`` of a Responses API stream; usage comes from its last event."""

    def __init__(self) -> None:
        self.started: Any = None
        self.final: Any = None

    def add(self, event: Any) -> None:
        event_type = field(event, "type")
        if event_type == "response.created":
            self.started = field(event, "response")
        elif event_type in _RESPONSE_FINAL_EVENTS:
            self.final = field(event, "response")

    def attributes(self, capture: bool) -> Pairs:
        response = self.final if self.final is not None else self.started
        if response is None:
            return iter(())
        return responses_response(response, capture)

    def usage(self) -> tuple[int | None, int | None]:
        return responses_usage(self.final)

    def answer(self) -> Answer:
        return responses_answer(self.final) if self.final is not None else ("", [])


class StreamRecorder:
    """Feed streamed items into an accumulator and end the call's span once."""

    __slots__ = ("accumulator", "call", "capture", "on_end")

    def __init__(self, call: ModelCall, accumulator: StreamAccumulator, capture: bool) -> None:
        self.call = call
        self.accumulator = accumulator
        self.capture = capture
        # Runs once before the span ends, however the stream ended (output guardrails).
        self.on_end: Callable[[], None] | None = None

    def on_item(self, item: Any) -> None:
        if self.call.first_chunk_ns is None:
            self.call.mark_first_chunk()
        call_guarded("openai.stream.item", self.accumulator.add, item, default=None)

    def record(self) -> None:
        """Set the rebuilt response's attributes and usage on the span, and the step's answer."""
        self.call.set_attributes(self.accumulator.attributes(self.capture))
        self.call.set_usage(*self.accumulator.usage())
        if self.call.record is not None:
            self.call.record.output_text, self.call.record.tool_calls = self.accumulator.answer()

    def finish(self, how: str) -> None:
        if self.call.ended:
            return
        if self.on_end is not None:
            with guarded("openai.stream.end"):
                self.on_end()
        with guarded("openai.stream.end"):
            self.record()
        with guarded("openai.stream.end"):
            self.call.end({semconv.STREAM_END: how})

    def fail(self, exc: BaseException) -> None:
        if self.call.ended:
            return
        if self.on_end is not None:
            with guarded("openai.stream.end"):
                self.on_end()
        with guarded("openai.stream.end"):
            self.record()
        with guarded("openai.stream.end"):
            self.call.fail(exc, {semconv.STREAM_END: semconv.STREAM_END_ERROR})


def _finish_abandoned(recorder: StreamRecorder) -> None:
    recorder.finish(semconv.STREAM_END_ABANDONED)


class TracedStream(wrapt.ObjectProxy[Any]):
    """A proxy for ``openai.Stream`` that records each item and ends the span on every exit."""

    def __init__(self, stream: Any, recorder: StreamRecorder) -> None:
        super().__init__(stream)
        self._self_recorder = recorder
        weakref.finalize(self, _finish_abandoned, recorder)

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        recorder = self._self_recorder
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            recorder.finish(semconv.STREAM_END_EXHAUSTED)
            raise
        except Exception as exc:
            recorder.fail(exc)
            raise
        except BaseException:
            recorder.finish(semconv.STREAM_END_CLOSED)
            raise
        recorder.on_item(item)
        return item

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._self_recorder.finish(semconv.STREAM_END_CLOSED)
        self.__wrapped__.close()


class TracedAsyncStream(wrapt.ObjectProxy[Any]):
    """A proxy for ``openai.AsyncStream``; ``close`` stays a coroutine, as in the SDK."""

    def __init__(self, stream: Any, recorder: StreamRecorder) -> None:
        super().__init__(stream)
        self._self_recorder = recorder
        weakref.finalize(self, _finish_abandoned, recorder)

    def __aiter__(self) -> TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        recorder = self._self_recorder
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            recorder.finish(semconv.STREAM_END_EXHAUSTED)
            raise
        except Exception as exc:
            recorder.fail(exc)
            raise
        except BaseException:
            recorder.finish(semconv.STREAM_END_CLOSED)
            raise
        recorder.on_item(item)
        return item

    async def __aenter__(self) -> TracedAsyncStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._self_recorder.finish(semconv.STREAM_END_CLOSED)
        await self.__wrapped__.close()


class OutputWatch(StreamRecorder):
    """Check a framework's streamed answer once it is read; the framework ends the span itself.

    The framework hands each chunk on as it arrives, so the result is recorded (as ``flag``) and
    cannot change the answer.
    """

    __slots__ = ("_checked",)

    def __init__(self, call: ModelCall, accumulator: StreamAccumulator, check: Callable[[], None]) -> None:
        super().__init__(call, accumulator, False)
        self.on_end = check
        self._checked = False

    def on_item(self, item: Any) -> None:
        call_guarded("openai.stream.item", self.accumulator.add, item, default=None)

    def finish(self, how: str) -> None:
        if not self._checked and self.on_end is not None:
            self._checked = True
            with guarded("openai.stream.end"):
                self.on_end()

    def fail(self, exc: BaseException) -> None:
        self.finish(semconv.STREAM_END_ERROR)
