"""Handling of the SDK's return value in the wrappers.

A plain response is recorded and the span ends. A stream is handed back inside a traced proxy.
``with_raw_response`` returns a ``LegacyAPIResponse`` whose parsed body is cached by the SDK, so
parsing it here gives the user the very same object. ``with_streaming_response`` returns an
``APIResponse`` whose body is not read yet: it is wrapped so the span ends when the user parses or
closes it, or abandons it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import wrapt
from openai import AsyncStream, Stream

from ... import semconv
from ..._call import ModelCall
from ..._guard import call_guarded
from ..._state import STATE
from ...governance._enforce import Verdict, plan_fallback
from ._guardrails import InputDecision, check_output, flag_streamed_output, restore_answer
from ._stream import ChatStreamAccumulator, OutputWatch, StreamRecorder, TracedAsyncStream, TracedStream

if TYPE_CHECKING:
    from ._attempt import Endpoint

try:  # moved between SDK versions; both exist in openai 2.x and 3.x
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import APIResponse, AsyncAPIResponse
except ImportError:  # pragma: no cover - depends on the installed SDK
    LegacyAPIResponse = APIResponse = AsyncAPIResponse = ()  # type: ignore[assignment,misc]


def record_response(endpoint: Endpoint, call: ModelCall, response: Any) -> None:
    """Record a complete (non-streamed) response and end the span."""
    call.set_attributes(endpoint.response(response, STATE.capture_content))
    call.set_usage(*endpoint.usage(response))
    if STATE.guardrails is not None and endpoint.messages_param is not None:
        apply_output_guardrails(call, response)
    if call.record is not None:
        call.record.output_text, call.record.tool_calls = endpoint.answer(response)
    call.end()


def apply_output_guardrails(call: ModelCall, response: Any) -> None:
    """Check the answer, give it back its redacted values, and note what the policy asks for."""
    decision = check_output(call, response)
    restore_answer(response, call.redactor)
    verdict_from_output(call, decision)


def verdict_from_output(call: ModelCall, decision: InputDecision) -> None:
    """Note the verdict of the output guardrails on the call, unless a verdict is there already."""
    if decision.action in ("raise", "block", "fallback") and call.verdict is None:
        plan = None
        if decision.action == "fallback":
            # A call that cannot be re-issued any more (its answer is out) records no fallback.
            if call.acts:
                plan = plan_fallback(call, "guardrail", f"guardrail:{decision.check}")
            if plan is None:
                call.span.set_attribute(semconv.POLICY_ACTION, "flag")
                return
        call.verdict = Verdict(decision.action, decision.check, decision.reason, "guardrail", plan)


def _trace_stream(endpoint: Endpoint, call: ModelCall, stream: Any) -> Any:
    if endpoint.accumulator is None:
        call.end()
        return stream
    call.acts = False  # the caller reads the answer as it arrives
    accumulator = endpoint.accumulator()
    recorder = StreamRecorder(call, accumulator, STATE.capture_content)
    suite = STATE.guardrails
    if suite is not None and "output" in suite.stages and isinstance(accumulator, ChatStreamAccumulator):
        recorder.on_end = lambda: flag_streamed_output(call, accumulator.text())
    if isinstance(stream, AsyncStream):
        return TracedAsyncStream(stream, recorder)
    return TracedStream(stream, recorder)


def _handle_parsed(endpoint: Endpoint, call: ModelCall, parsed: Any) -> Any:
    if isinstance(parsed, (Stream, AsyncStream)):
        return _trace_stream(endpoint, call, parsed)
    record_response(endpoint, call, parsed)
    return parsed


def _handle_legacy(endpoint: Endpoint, call: ModelCall, raw: Any) -> Any:
    parsed = raw.parse()
    traced = _handle_parsed(endpoint, call, parsed)
    if traced is not parsed:
        # The SDK caches parse() results by target type; put the traced stream in the cache so
        # the user's own raw.parse() returns it.
        cache = getattr(raw, "_parsed_by_type", None)
        if isinstance(cache, dict):
            cache[getattr(raw, "_cast_to", None)] = traced
        else:
            call.end({semconv.STREAM_END: semconv.STREAM_END_ABANDONED})
    return raw


def handle_result(endpoint: Endpoint, call: ModelCall, result: Any) -> Any:
    """Return what the user gets back: the result itself or a traced proxy of it."""
    if isinstance(result, (Stream, AsyncStream)):
        return _trace_stream(endpoint, call, result)
    if isinstance(result, LegacyAPIResponse):
        return _handle_legacy(endpoint, call, result)
    if isinstance(result, (APIResponse, AsyncAPIResponse)):
        # The body is parsed after the wrapper returned, so a fallback can no longer happen;
        # a block or raise of the output guardrails applies when the caller parses.
        call.acts = False
        proxy = _TracedAsyncAPIResponse if isinstance(result, AsyncAPIResponse) else _TracedAPIResponse
        return proxy(result, endpoint, call)
    record_response(endpoint, call, result)
    return result


def _parsed_answer(endpoint: Endpoint, call: ModelCall, parsed: Any) -> Any:
    """Record a ``with_streaming_response`` body once, and apply an output block or raise to it."""
    from ._policy import outcome_for_verdict  # it imports this module

    if call.ended:
        return parsed
    traced = call_guarded("openai.response", _handle_parsed, endpoint, call, parsed, default=parsed)
    model = call.metric_attributes.get(semconv.GEN_AI_REQUEST_MODEL)
    outcome, value = call_guarded(
        "policy.output", outcome_for_verdict, call, traced, {"model": model}, default=("return", traced)
    )
    if outcome == "raise":
        raise value
    return value if outcome == "return" else traced


def _end_unparsed(call: ModelCall) -> None:
    if not call.ended:
        call.end({semconv.STREAM_END: semconv.STREAM_END_CLOSED})


class _TracedAPIResponse(wrapt.ObjectProxy[Any]):
    """``with_streaming_response``: ends the span when the body is parsed, closed or abandoned."""

    def __init__(self, response: Any, endpoint: Endpoint, call: ModelCall) -> None:
        super().__init__(response)
        self._self_endpoint = endpoint
        self._self_call = call
        weakref.finalize(self, _end_unparsed, call)

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = self.__wrapped__.parse(*args, **kwargs)
        return _parsed_answer(self._self_endpoint, self._self_call, parsed)

    def close(self) -> None:
        call_guarded("openai.response", _end_unparsed, self._self_call, default=None)
        self.__wrapped__.close()


class _TracedAsyncAPIResponse(wrapt.ObjectProxy[Any]):
    """The async twin of ``_TracedAPIResponse``: ``parse`` and ``close`` are coroutines."""

    def __init__(self, response: Any, endpoint: Endpoint, call: ModelCall) -> None:
        super().__init__(response)
        self._self_endpoint = endpoint
        self._self_call = call
        weakref.finalize(self, _end_unparsed, call)

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = await self.__wrapped__.parse(*args, **kwargs)
        return _parsed_answer(self._self_endpoint, self._self_call, parsed)

    async def close(self) -> None:
        call_guarded("openai.response", _end_unparsed, self._self_call, default=None)
        await self.__wrapped__.close()


def watch_framework_stream(outer: ModelCall, stream: Any) -> Any:
    """Return ``stream`` behind a proxy that checks the answer's text once the framework read it."""
    accumulator = ChatStreamAccumulator()
    watch = OutputWatch(outer, accumulator, lambda: flag_streamed_output(outer, accumulator.text()))
    if isinstance(stream, AsyncStream):
        return TracedAsyncStream(stream, watch)
    return TracedStream(stream, watch)
