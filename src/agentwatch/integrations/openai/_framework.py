"""Policy actions on SDK calls that a framework (LangChain, LlamaIndex) traces itself.

The framework's span stays the one chat span of the call. Before the model call, the input
guardrails record on it and may redact, block or fall back; an error falls back to the approved
route. After it, while the framework has not read the answer yet, the output guardrails and the
acting evaluators judge the answer, so a failed check can block it, raise, or replace it with the
approved route's answer. A fallback attempt is a chat span under the framework's span, and the
framework reads its response as its own. Mirroring starts from here too.
"""

from __future__ import annotations

from typing import Any

from openai import AsyncStream, Stream

from ... import semconv
from ..._call import ModelCall
from ..._guard import call_guarded
from ..._state import STATE
from ...governance._inline import evaluate_now
from ._attempt import Endpoint, buffers, inside_call, reissue_async, reissue_sync, step_record
from ._buffer import buffered_async, buffered_sync
from ._extract import base_url_of, given, server_attributes
from ._guardrails import restore_answer
from ._mirror import maybe_mirror
from ._policy import (
    apply_route_timeout,
    is_chat_completion,
    is_legacy_response,
    outcome_for_verdict,
    plan_for_error,
)
from ._response import apply_output_guardrails, watch_framework_stream
from ._wrappers import _before_call, _Early, _early_answer


def _route_and_server(outer: ModelCall, instance: Any, kwargs: dict[str, Any]) -> None:
    attributes: list[tuple[str, Any]] = list(server_attributes(instance))
    policy = STATE.policy
    if policy is not None and policy.routes:
        model = given(kwargs, "model")
        route = policy.route_for(model if isinstance(model, str) else None, base_url_of(instance))
        if route is not None:
            attributes.append((semconv.ROUTE_NAME, route.name))
    outer.set_attributes(attributes)


def _prepare(endpoint: Endpoint, outer: ModelCall, instance: Any, kwargs: dict[str, Any]) -> _Early | None:
    """Give the framework's span the server and route, and run the input guardrails on the request."""
    call_guarded("openai.framework", _route_and_server, outer, instance, kwargs, default=None)
    timed = apply_route_timeout(kwargs, outer)
    return call_guarded("guardrails.input", _before_call, endpoint, outer, timed, default=None)


def _judge_answer(endpoint: Endpoint, outer: ModelCall, completion: Any, kwargs: dict[str, Any]) -> None:
    """Run the output guardrails and the acting evaluators on the answer; note the policy's verdict."""
    if STATE.guardrails is not None:
        apply_output_guardrails(outer, completion)
    else:
        restore_answer(completion, outer.redactor)
    inline = STATE.inline
    if inline is None or not inline.enforcing or outer.record is None or outer.verdict is not None:
        return
    record = step_record(endpoint, kwargs)
    record.output_text, record.tool_calls = endpoint.answer(completion)
    outer.acts = True  # the framework has not read the answer yet
    evaluate_now(outer, record)
    outer.acts = False
    # Judged here, so the framework's span must not be judged again when the framework ends it.
    outer.record = None


def _after(
    endpoint: Endpoint, outer: ModelCall, instance: Any, result: Any, kwargs: dict[str, Any]
) -> tuple[str, Any]:
    """Return ``("return", value)``, ``("raise", exc)`` or ``("fallback", plan)`` for the SDK's result."""
    # with_raw_response (which langchain-openai uses) caches its parse(), so the parsed object is
    # what the framework reads later: changing it here changes the framework's answer.
    completion = result.parse() if is_legacy_response(result) else result
    if not is_chat_completion(completion):
        suite = STATE.guardrails
        if suite is not None and "output" in suite.stages and isinstance(result, (Stream, AsyncStream)):
            # A stream the framework reads chunk by chunk: checked at its end, recorded only.
            return "return", watch_framework_stream(outer, result)
        return "return", result
    call_guarded("policy.output", _judge_answer, endpoint, outer, completion, kwargs, default=None)
    if STATE.mirror_worker is not None:
        call_guarded("openai.mirror", maybe_mirror, endpoint, outer, instance, kwargs, default=None)
    return outcome_for_verdict(outer, result, kwargs)


def framework_sync(
    endpoint: Endpoint,
    outer: ModelCall,
    wrapped: Any,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Apply the policy to an SDK call a framework traces: guardrails, evaluators, fallback.

    The framework's span stays the one chat span for the call. A fallback attempt is a chat span
    under it, and the framework reads the approved route's response as its own.
    """
    early = _prepare(endpoint, outer, instance, kwargs)
    if early is not None:
        if early.action == "fallback" and early.plan is not None:
            return reissue_sync(
                endpoint, early.plan, outer, wrapped, instance, args, early.kwargs, None, None
            )
        if early.action is not None:
            return _early_answer(outer, early, instance, end=False)
        kwargs = early.kwargs
    token = inside_call.set(True)
    plan = None
    try:
        result = wrapped(*args, **kwargs)
    except Exception as exc:
        plan = call_guarded("policy.fallback", plan_for_error, outer, exc, default=None)
        if plan is None:
            raise
        error = exc
    finally:
        inside_call.reset(token)
    if plan is not None:
        return reissue_sync(endpoint, plan, outer, wrapped, instance, args, kwargs, error, None)
    if STATE.policy is not None and buffers(outer, kwargs, result):
        return buffered_sync(endpoint, outer, wrapped, instance, args, kwargs, result, framework=True)
    outcome, value = call_guarded(
        "policy.output", _after, endpoint, outer, instance, result, kwargs, default=("return", result)
    )
    if outcome == "raise":
        raise value
    if outcome == "fallback":
        return reissue_sync(endpoint, value, outer, wrapped, instance, args, kwargs, None, result)
    return value


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
            return await reissue_async(
                endpoint, early.plan, outer, wrapped, instance, args, early.kwargs, None, None
            )
        if early.action is not None:
            return _early_answer(outer, early, instance, end=False)
        kwargs = early.kwargs
    token = inside_call.set(True)
    plan = None
    try:
        result = await wrapped(*args, **kwargs)
    except Exception as exc:
        plan = call_guarded("policy.fallback", plan_for_error, outer, exc, default=None)
        if plan is None:
            raise
        error = exc
    finally:
        inside_call.reset(token)
    if plan is not None:
        return await reissue_async(endpoint, plan, outer, wrapped, instance, args, kwargs, error, None)
    if STATE.policy is not None and buffers(outer, kwargs, result):
        return await buffered_async(endpoint, outer, wrapped, instance, args, kwargs, result, framework=True)
    outcome, value = call_guarded(
        "policy.output", _after, endpoint, outer, instance, result, kwargs, default=("return", result)
    )
    if outcome == "raise":
        raise value
    if outcome == "fallback":
        return await reissue_async(endpoint, value, outer, wrapped, instance, args, kwargs, None, result)
    return value
