"""Buffered streams: a streamed chat answer is read to its end before the caller gets it.

With ``buffer_streams`` on in the policy, the output guardrails and the acting evaluators judge a
streamed answer as they judge a complete one. The caller then gets a stream that replays the
chunks (with redacted values restored), a single content-filter chunk when the answer was
blocked, or the approved route's stream after a fallback. An error while reading falls back like
an error before the first chunk, because the caller has seen nothing yet.
"""

from __future__ import annotations

import importlib
from typing import Any

import openai
import wrapt
from openai import AsyncStream, Stream
from openai.types.chat import ChatCompletionChunk

from ... import semconv
from ..._call import ModelCall
from ..._guard import call_guarded, guarded
from ..._messages import field
from ..._state import STATE
from ...governance._enforce import GuardrailViolation, blocked_chat_chunk
from ._attempt import reissue_async, reissue_sync
from ._guardrails import check_output_text
from ._policy import plan_for_error
from ._stream import ChatStreamAccumulator, StreamRecorder


class _Replay(wrapt.ObjectProxy[Any]):
    """An ``openai.Stream`` (isinstance holds) that yields buffered chunks; its body is read already."""

    def __init__(self, stream: Any, chunks: list[Any]) -> None:
        super().__init__(stream)
        self._self_chunks = iter(chunks)

    def __iter__(self) -> _Replay:
        return self

    def __next__(self) -> Any:
        return next(self._self_chunks)

    def __enter__(self) -> _Replay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._self_chunks = iter(())
        self.__wrapped__.close()


class _AsyncReplay(wrapt.ObjectProxy[Any]):
    """The ``openai.AsyncStream`` twin of ``_Replay``; ``close`` stays a coroutine."""

    def __init__(self, stream: Any, chunks: list[Any]) -> None:
        super().__init__(stream)
        self._self_chunks = iter(chunks)

    def __aiter__(self) -> _AsyncReplay:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._self_chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _AsyncReplay:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._self_chunks = iter(())
        await self.__wrapped__.close()


class Buffer:
    """The chunks read so far and the recorder that traces them."""

    def __init__(self, call: ModelCall, endpoint: Any, kwargs: dict[str, Any], framework: bool) -> None:
        self.call = call
        self.endpoint = endpoint
        self.kwargs = kwargs
        # A framework's span: the framework records the answer and ends the span itself.
        self.framework = framework
        self.accumulator = ChatStreamAccumulator()
        self.recorder = StreamRecorder(call, self.accumulator, STATE.capture_content)
        self.chunks: list[Any] = []

    def add(self, chunk: Any) -> None:
        if self.framework:
            call_guarded("openai.stream.item", self.accumulator.add, chunk, default=None)
        else:
            self.recorder.on_item(chunk)
        self.chunks.append(chunk)

    def fail(self, exc: BaseException) -> None:
        if self.framework:
            return
        if isinstance(exc, Exception):
            self.recorder.fail(exc)
        else:
            self.recorder.finish(semconv.STREAM_END_CLOSED)

    def replay(self, stream: Any, chunks: list[Any] | None = None) -> Any:
        """Return a stream of the same type as ``stream`` that yields ``chunks`` (the buffered ones)."""
        replay = _AsyncReplay if isinstance(stream, AsyncStream) else _Replay
        return replay(stream, self.chunks if chunks is None else chunks)

    def judge(self, stream: Any) -> tuple[str, Any]:
        """End the call and return ``("return", stream)``, ``("raise", exc)`` or ``("fallback", plan)``."""
        visible_text = call_guarded("policy.output", self._check_output, default=None)
        self._end(visible_text)
        verdict = self.call.verdict
        if verdict is None:
            return "return", self.replay(stream)
        if verdict.action == "raise":
            return "raise", GuardrailViolation(verdict.check, verdict.reason, "output")
        if verdict.action == "block":
            model = self.accumulator.model or self.call.metric_attributes.get(semconv.GEN_AI_REQUEST_MODEL)
            chunk = blocked_chat_chunk(str(model) if model else None, verdict.check, verdict.reason)
            return "return", self.replay(stream, [chunk])
        if verdict.plan is not None:
            return "fallback", verdict.plan
        return "return", self.replay(stream)

    def _end(self, visible_text: str | None) -> None:
        """Record the answer as the model sent it, and end the call; this runs the inline evaluators.

        The evaluators judge the text the caller gets, as for a complete answer.
        """
        if self.framework:
            call_guarded("policy.output", self._evaluate_for_framework, visible_text, default=None)
            return
        if self.call.ended:
            return
        with guarded("openai.stream.end"):
            self.recorder.record()
            if visible_text is not None and self.call.record is not None:
                self.call.record.output_text = visible_text
        with guarded("openai.stream.end"):
            self.call.end({semconv.STREAM_END: semconv.STREAM_END_EXHAUSTED})

    def _evaluate_for_framework(self, visible_text: str | None) -> None:
        """Run the acting evaluators on the answer now; the framework's end must not run them again."""
        from ...governance._inline import evaluate_now
        from ._attempt import step_record

        inline = STATE.inline
        call = self.call
        if inline is None or not inline.enforcing or call.record is None:
            return
        record = step_record(self.endpoint, self.kwargs)
        text, record.tool_calls = self.accumulator.answer()
        record.output_text = visible_text if visible_text is not None else text
        call.acts = True  # the framework has not read the answer yet
        evaluate_now(call, record)
        call.acts = False
        call.record = None

    def _check_output(self) -> str | None:
        """Run the output guardrails; return the text the caller gets, when it differs from the model's."""
        from ._response import verdict_from_output  # it imports the stream module

        text = self.accumulator.text()
        decision = check_output_text(self.call, text)
        verdict_from_output(self.call, decision)
        visible_text = decision.text if decision.text is not None else text
        if self.call.redactor is not None and self.call.redactor.mapping:
            visible_text = self.call.redactor.restore(visible_text)
        if visible_text == text:
            return None
        self._rewrite(visible_text)
        return visible_text

    def _rewrite(self, text: str) -> None:
        """Give the first content chunk of choice 0 the whole answer, and later ones none of it."""
        first = True
        for chunk in self.chunks:
            for choice in field(chunk, "choices") or ():
                delta = field(choice, "delta")
                if (field(choice, "index") or 0) != 0 or not isinstance(field(delta, "content"), str):
                    continue
                delta.content = text if first else ""
                first = False


def blocked_stream(instance: Any, model: object, check: str, reason: str) -> Any:
    """Return an ``openai.Stream`` (or ``AsyncStream``) of one content-filter chunk, read from memory.

    It answers a streamed request the input guardrails blocked, so a loop that reads streams
    reads the notice as it would read any answer.
    """
    client = instance._client
    chunk = blocked_chat_chunk(str(model) if model else None, check, reason)
    body = f"data: {chunk.model_dump_json()}\n\ndata: [DONE]\n\n".encode()
    http = _httpx_module()
    request = http.Request("POST", f"{str(client.base_url).rstrip('/')}/chat/completions")
    response = http.Response(
        200, content=body, headers={"content-type": "text/event-stream"}, request=request
    )
    kind = AsyncStream if isinstance(client, openai.AsyncOpenAI) else Stream
    return kind(cast_to=ChatCompletionChunk, response=response, client=client)


def _httpx_module() -> Any:
    """Return the HTTP library of the installed SDK: httpx for openai 2.x, httpx2 for 3.x."""
    base = next(cls for cls in openai.DefaultHttpxClient.__mro__[1:] if cls.__name__ == "Client")
    return importlib.import_module(base.__module__.split(".")[0])


def _judged(buffer: Buffer, stream: Any) -> tuple[str, Any]:
    judged = call_guarded("policy.output", buffer.judge, stream, default=None)
    if judged is None:  # a fault of ours: the caller still gets every chunk
        if not buffer.framework:
            buffer.recorder.finish(semconv.STREAM_END_EXHAUSTED)
        return "return", buffer.replay(stream)
    return judged


def buffered_sync(
    endpoint: Any,
    call: ModelCall,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    stream: Any,
    framework: bool = False,
) -> Any:
    """Read ``stream`` to its end, judge the answer, and return what the policy decided.

    ``framework`` is True when ``call`` is a framework's span, which the framework ends.
    """
    buffer = Buffer(call, endpoint, kwargs, framework)
    try:
        for chunk in stream:
            buffer.add(chunk)
    except BaseException as exc:
        plan = call_guarded("policy.fallback", plan_for_error, call, exc, default=None)
        buffer.fail(exc)
        if plan is None:
            raise
        return reissue_sync(endpoint, plan, call, wrapped, instance, args, kwargs, exc, None)
    outcome, value = _judged(buffer, stream)
    if outcome == "raise":
        raise value
    if outcome == "fallback":
        return reissue_sync(
            endpoint, value, call, wrapped, instance, args, kwargs, None, buffer.replay(stream)
        )
    return value


async def buffered_async(
    endpoint: Any,
    call: ModelCall,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    stream: Any,
    framework: bool = False,
) -> Any:
    """Read an async ``stream`` to its end; see ``buffered_sync``."""
    buffer = Buffer(call, endpoint, kwargs, framework)
    try:
        async for chunk in stream:
            buffer.add(chunk)
    except BaseException as exc:
        plan = call_guarded("policy.fallback", plan_for_error, call, exc, default=None)
        buffer.fail(exc)
        if plan is None:
            raise
        return await reissue_async(endpoint, plan, call, wrapped, instance, args, kwargs, exc, None)
    outcome, value = _judged(buffer, stream)
    if outcome == "raise":
        raise value
    if outcome == "fallback":
        answer = buffer.replay(stream)
        return await reissue_async(endpoint, value, call, wrapped, instance, args, kwargs, None, answer)
    return value
