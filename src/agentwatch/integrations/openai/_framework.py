"""Policy actions on SDK calls that a framework (LangChain, LlamaIndex) traces itself.

The framework's span stays the one chat span of the call. Input guardrails record on it and may
redact, block or fall back. An error falls back to the approved route, whose attempt is a chat
span under the framework's span. The framework then reads the approved route's response as its
own. Failed evaluations cannot act here: the framework evaluates after the SDK call returned.
"""

from __future__ import annotations

from typing import Any

from ..._call import ModelCall
from ..._guard import call_guarded
from ._extract import server_attributes
from ._guardrails import restore_answer
from ._policy import apply_route_timeout, plan_for_error
from ._wrappers import (
    Endpoint,
    _before_call,
    _Early,
    _early_answer,
    _inside_call,
    _reissue_async,
    _reissue_sync,
)


def _prepare(endpoint: Endpoint, outer: ModelCall, instance: Any, kwargs: dict[str, Any]) -> _Early | None:
    """Give the framework's span the server, and run the input guardrails on the request."""
    call_guarded("openai.framework", outer.set_attributes, server_attributes(instance), default=None)
    timed = apply_route_timeout(kwargs, outer)
    return call_guarded("guardrails.input", _before_call, endpoint, outer, timed, default=None)


def _framework_after(outer: ModelCall, result: Any) -> Any:
    if outer.redactor is not None:
        # with_raw_response (which langchain-openai uses) caches its parse(), so restoring the
        # parsed object restores what the framework reads.
        parsed = result.parse() if callable(getattr(result, "parse", None)) else result
        call_guarded("openai.response", restore_answer, parsed, outer.redactor, default=None)
    return result


class _BlockedRawResponse:
    """Stands in for ``with_raw_response``'s result when a guardrail blocked the call."""

    def __init__(self, completion: Any) -> None:
        self._completion = completion
        self.headers: dict[str, str] = {}

    def parse(self, **_: Any) -> Any:
        return self._completion


def _wants_raw(kwargs: dict[str, Any]) -> bool:
    headers = kwargs.get("extra_headers") or {}
    # with_raw_response sends "true" (the legacy raw response); with_streaming_response "stream".
    return isinstance(headers, dict) and headers.get("X-Stainless-Raw-Response") in ("raw", "true")


def _framework_blocked(outer: ModelCall, early: _Early, kwargs: dict[str, Any]) -> Any:
    answer = _early_answer(outer, early, end=False)
    return _BlockedRawResponse(answer) if _wants_raw(kwargs) else answer


def framework_sync(
    endpoint: Endpoint,
    outer: ModelCall,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Apply the policy to an SDK call a framework traces: guardrails, and fallback on errors.

    The framework's span stays the one chat span for the call. A fallback attempt is a chat span
    under it, and the framework reads the approved route's response as its own.
    """
    early = _prepare(endpoint, outer, instance, kwargs)
    if early is not None:
        if early.action == "fallback" and early.plan is not None:
            return _reissue_sync(endpoint, early.plan, outer, wrapped, instance, args, kwargs, None, None)
        if early.action is not None:
            return _framework_blocked(outer, early, kwargs)
        kwargs = early.kwargs
    token = _inside_call.set(True)
    plan = None
    try:
        result = wrapped(*args, **kwargs)
    except Exception as exc:
        plan = call_guarded("policy.fallback", plan_for_error, outer, exc, default=None)
        if plan is None:
            raise
        error = exc
    finally:
        _inside_call.reset(token)
    if plan is not None:
        return _reissue_sync(endpoint, plan, outer, wrapped, instance, args, kwargs, error, None)
    return _framework_after(outer, result)


async def framework_async(
    endpoint: Endpoint,
    outer: ModelCall,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Apply the policy to an SDK call a framework traces, awaiting the SDK; see ``framework_sync``."""
    early = _prepare(endpoint, outer, instance, kwargs)
    if early is not None:
        if early.action == "fallback" and early.plan is not None:
            return await _reissue_async(
                endpoint, early.plan, outer, wrapped, instance, args, kwargs, None, None
            )
        if early.action is not None:
            return _framework_blocked(outer, early, kwargs)
        kwargs = early.kwargs
    token = _inside_call.set(True)
    plan = None
    try:
        result = await wrapped(*args, **kwargs)
    except Exception as exc:
        plan = call_guarded("policy.fallback", plan_for_error, outer, exc, default=None)
        if plan is None:
            raise
        error = exc
    finally:
        _inside_call.reset(token)
    if plan is not None:
        return await _reissue_async(endpoint, plan, outer, wrapped, instance, args, kwargs, error, None)
    return _framework_after(outer, result)
