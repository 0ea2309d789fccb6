"""The wrappers around OpenAI resource methods.

Each wrapper: pass through when agentwatch is off or already inside a traced call; start the span
(guarded); run the user's call with the span current; hand the result to ``handle_result``
(guarded). The guard sits outside the ``try`` around the user's call, so a fault of ours is never
reported as an API error and the user's own exception always propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import semconv
from ..._call import ModelCall, framework_call, tracing_suppressed
from ..._guard import call_guarded
from ..._state import STATE
from ...governance._enforce import (
    FallbackPlan,
    GuardrailViolation,
    blocked_chat_completion,
    plan_fallback,
)
from ._attempt import (
    Endpoint,
    buffers,
    finish_attempt,
    inside_call,
    reissue_async,
    reissue_sync,
    start_call,
)
from ._buffer import blocked_stream, buffered_async, buffered_sync
from ._extract import given, server_attributes
from ._guardrails import check_input
from ._mirror import maybe_mirror
from ._policy import (
    apply_route_timeout,
    as_parsed,
    as_requested,
    outcome_for_verdict,
    plan_for_error,
)


def _untraced() -> bool:
    """Return True when agentwatch is off, the call is agentwatch's own, or a traced call is running."""
    return not STATE.active or inside_call.get() or tracing_suppressed()


def _framework_owner(endpoint: Endpoint, instance: Any | None = None) -> ModelCall | None:
    """Return the framework call that traces this SDK call, or None when the call needs a span.

    A framework's span owns the SDK call of its own kind: embeddings under an embeddings span, chat
    under a chat span. Another kind made inside it, such as the embeddings a semantic cache
    computes inside a chat model's call, is a model call of its own. With ``instance`` given, the
    owner gets the server the SDK call goes to, with its next span update.
    """
    outer = framework_call()
    if outer is None:
        return None
    outer_embeds = outer.metric_attributes.get(semconv.GEN_AI_OPERATION_NAME) == semconv.OPERATION_EMBEDDINGS
    if outer_embeds != (endpoint.operation == semconv.OPERATION_EMBEDDINGS):
        return None
    if instance is not None:
        call_guarded("openai.framework", _give_server, outer, instance, default=None)
    return outer


def _give_server(outer: ModelCall, instance: Any) -> None:
    outer.defer_attributes(server_attributes(instance))


def _owned_result(endpoint: Endpoint, owner: ModelCall, result: Any) -> Any:
    """Return the result of an SDK call the framework's span ``owner`` traces, lending it the usage.

    LlamaIndex's embedding classes keep only the vectors, so without this the framework's span
    would never see the usage the server reported.
    """
    if endpoint.operation == semconv.OPERATION_EMBEDDINGS:
        call_guarded("openai.framework", _add_usage, owner, endpoint, result, default=None)
    return result


def _add_usage(owner: ModelCall, endpoint: Endpoint, result: Any) -> None:
    """Add a response's token counts to ``owner``'s, so a batch split into requests gets their sum."""
    input_tokens, output_tokens = endpoint.usage(result)
    if owner.ended or (input_tokens is None and output_tokens is None):
        return
    known_input, known_output = owner.usage
    if input_tokens is not None and known_input is not None:
        input_tokens += known_input
    if output_tokens is not None and known_output is not None:
        output_tokens += known_output
    owner.set_usage(input_tokens, output_tokens)


@dataclass
class _Early:
    """The input guardrails' decision, made before the model call."""

    action: str | None  # "raise", "block" or "fallback" stop the call; None lets it go on
    kwargs: dict[str, Any]
    check: str = ""
    reason: str = ""
    plan: FallbackPlan | None = None
    stream: bool = False


def _before_call(endpoint: Endpoint, call: ModelCall, kwargs: dict[str, Any]) -> _Early:
    if STATE.guardrails is None or endpoint.messages_param is None:
        return _Early(None, kwargs)
    decision = call_guarded("guardrails.input", check_input, call, kwargs, default=None)
    if decision is None:
        return _Early(None, kwargs)
    call.redactor = decision.redactor
    if decision.kwargs is not None and STATE.capture_content:
        # Record what the model saw: the messages with placeholders, not the redacted values.
        call.set_attributes(endpoint.request(decision.kwargs, True))
    early = _Early(None, decision.kwargs or kwargs, decision.check, decision.reason)
    early.stream = bool(given(kwargs, "stream"))
    if decision.action in ("raise", "block"):
        early.action = decision.action
    elif decision.action == "fallback":
        early.plan = call_guarded(
            "policy.fallback", plan_fallback, call, "guardrail", f"guardrail:{decision.check}", default=None
        )
        early.action = "fallback" if early.plan is not None else None
    return early


def _early_answer(call: ModelCall, early: _Early, instance: Any, end: bool = True) -> Any:
    """End the call without asking the model: raise, or answer with a content-filter notice.

    A blocked streamed request gets a stream of one content-filter chunk. ``end`` is False for a
    framework's span, which the framework ends itself.
    """
    if end:
        call_guarded("openai.response", call.end, default=None)
    if early.action == "block":
        model = call.metric_attributes.get(semconv.GEN_AI_REQUEST_MODEL)
        if not early.stream:
            blocked = blocked_chat_completion(str(model) if model else None, early.check, early.reason)
            if isinstance(early.kwargs.get("response_format"), type):
                blocked = as_parsed(blocked)  # chat.completions.parse() with a model class
            return as_requested(blocked, early.kwargs, instance)
        stream = call_guarded(
            "openai.response", blocked_stream, instance, model, early.check, early.reason, default=None
        )
        if stream is not None:
            return stream
    raise GuardrailViolation(early.check, early.reason, "input")


def governed_framework_call(endpoint: Endpoint) -> ModelCall | None:
    """Return the framework's call when a policy must act on the SDK call made inside it."""
    if STATE.policy is None or _untraced():
        return None
    return _framework_owner(endpoint)


def sync_wrapper(endpoint: Endpoint) -> Callable[..., Any]:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        outer = governed_framework_call(endpoint)
        if outer is not None and endpoint.messages_param is not None:
            from ._framework import framework_sync  # it imports this module

            return framework_sync(endpoint, outer, wrapped, instance, args, kwargs)
        if _untraced():
            return wrapped(*args, **kwargs)
        owner = _framework_owner(endpoint, instance)
        if owner is not None:
            return _owned_result(endpoint, owner, wrapped(*args, **kwargs))
        call = call_guarded("openai.request", start_call, endpoint, instance, kwargs, default=None)
        if call is None:
            return wrapped(*args, **kwargs)
        if STATE.policy is not None:
            kwargs = apply_route_timeout(kwargs, call)
            early = _before_call(endpoint, call, kwargs)
            if early.action == "fallback" and early.plan is not None:
                call_guarded("openai.response", call.end, default=None)
                return reissue_sync(
                    endpoint, early.plan, call, wrapped, instance, args, early.kwargs, None, None
                )
            if early.action is not None:
                return _early_answer(call, early, instance)
            kwargs = early.kwargs

        plan = None
        token = inside_call.set(True)
        try:
            with call.activated():
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            plan = call_guarded("policy.fallback", plan_for_error, call, exc, default=None)
            call_guarded("openai.error", call.end_for_exception, exc, default=None)
            if plan is None:
                raise
            error = exc
        finally:
            inside_call.reset(token)
        if plan is not None:
            return reissue_sync(endpoint, plan, call, wrapped, instance, args, kwargs, error, None)
        if STATE.policy is not None and buffers(call, kwargs, result):
            return buffered_sync(endpoint, call, wrapped, instance, args, kwargs, result)

        traced = finish_attempt(endpoint, call, result)
        if STATE.mirror_worker is not None:
            call_guarded("openai.mirror", maybe_mirror, endpoint, call, instance, kwargs, default=None)
        outcome, value = outcome_for_verdict(call, traced, kwargs)
        if outcome == "raise":
            raise value
        if outcome == "fallback":
            return reissue_sync(endpoint, value, call, wrapped, instance, args, kwargs, None, traced)
        return value

    return wrapper


def async_wrapper(endpoint: Endpoint) -> Callable[..., Any]:
    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        outer = governed_framework_call(endpoint)
        if outer is not None and endpoint.messages_param is not None:
            from ._framework import framework_async  # it imports this module

            return await framework_async(endpoint, outer, wrapped, instance, args, kwargs)
        if _untraced():
            return await wrapped(*args, **kwargs)
        owner = _framework_owner(endpoint, instance)
        if owner is not None:
            return _owned_result(endpoint, owner, await wrapped(*args, **kwargs))
        call = call_guarded("openai.request", start_call, endpoint, instance, kwargs, default=None)
        if call is None:
            return await wrapped(*args, **kwargs)
        if STATE.policy is not None:
            kwargs = apply_route_timeout(kwargs, call)
            early = _before_call(endpoint, call, kwargs)
            if early.action == "fallback" and early.plan is not None:
                call_guarded("openai.response", call.end, default=None)
                return await reissue_async(
                    endpoint, early.plan, call, wrapped, instance, args, early.kwargs, None, None
                )
            if early.action is not None:
                return _early_answer(call, early, instance)
            kwargs = early.kwargs

        plan = None
        token = inside_call.set(True)
        try:
            with call.activated():
                result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            plan = call_guarded("policy.fallback", plan_for_error, call, exc, default=None)
            call_guarded("openai.error", call.end_for_exception, exc, default=None)
            if plan is None:
                raise
            error = exc
        finally:
            inside_call.reset(token)
        if plan is not None:
            return await reissue_async(endpoint, plan, call, wrapped, instance, args, kwargs, error, None)
        if STATE.policy is not None and buffers(call, kwargs, result):
            return await buffered_async(endpoint, call, wrapped, instance, args, kwargs, result)

        traced = finish_attempt(endpoint, call, result)
        if STATE.mirror_worker is not None:
            call_guarded("openai.mirror", maybe_mirror, endpoint, call, instance, kwargs, default=None)
        outcome, value = outcome_for_verdict(call, traced, kwargs)
        if outcome == "raise":
            raise value
        if outcome == "fallback":
            return await reissue_async(endpoint, value, call, wrapped, instance, args, kwargs, None, traced)
        return value

    return wrapper
